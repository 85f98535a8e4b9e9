package fix

import (
	"errors"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/merge"
	"github.com/capdrop/capdrop/source"
)

// TestOneModel holds fix to what capdrop audit reads: extends,
// ${VAR:-default}, custom resources and the formats only source knew.
// Every changed result is read back by source and merge and must give the
// target exactly the set.
func TestOneModel(t *testing.T) {
	env := source.Options{Env: map[string]string{}}
	for _, c := range []struct {
		name, file, src string
		opts            Options
		want            string // a piece of the output, or of the error with err
		err             error
	}{
		{name: "extends: the base's cap_add is held", file: "compose.yaml",
			src:  "services:\n  base: {image: nginx, cap_add: [NET_ADMIN]}\n  web:  {extends: base}\n",
			opts: Options{Service: "web", Add: capset.Of(capset.NET_ADMIN)}, want: "web:  {extends: base, cap_drop: [ALL], cap_add: [NET_ADMIN]}"},
		{name: "extends: an empty set cannot undo the base's cap_add", file: "compose.yaml",
			src:  "services:\n  base: {image: nginx, cap_add: [NET_ADMIN]}\n  web:  {extends: base}\n",
			opts: Options{Service: "web"}, err: ErrRefused, want: "from service base through extends"},
		{name: "interpolation with a default is read as audit reads it", file: "compose.yaml",
			src:  "services:\n  web:\n    image: nginx\n    cap_add: [\"${EXTRA:-NET_ADMIN}\", CHOWN]\n",
			opts: Options{Add: capset.Of(capset.NET_ADMIN)}, want: `cap_add: ["NET_ADMIN"]`},
		{name: "a custom resource's podSpec", file: "check.yaml",
			src:  "apiVersion: comcast.github.io/v1\nkind: KuberhealthyCheck\nmetadata: {name: kh}\nspec:\n  podSpec:\n    containers:\n    - name: main\n      image: kuberhealthy/check:v1\n",
			opts: Options{Container: "main"}, want: "      securityContext:\n        allowPrivilegeEscalation: false\n        capabilities:\n          drop:\n          - ALL\n"},
		{name: "a podSpec override is no container", file: "mcp.yaml",
			src:  "apiVersion: x.io/v1\nkind: MCPServer\nmetadata: {name: m}\nspec:\n  podSpec:\n    containers:\n    - name: s\n      resources: {}\n",
			opts: Options{}, err: ErrNoTarget},
		{name: "OCI config from runc spec", file: "config.json",
			src: "{\n\t\"ociVersion\": \"1.0.2-dev\",\n\t\"process\": {\n\t\t\"user\": {\"uid\": 0, \"gid\": 0},\n\t\t\"args\": [\"sh\"],\n\t\t\"capabilities\": {\n" +
				"\t\t\t\"bounding\": [\n\t\t\t\t\"CAP_AUDIT_WRITE\",\n\t\t\t\t\"CAP_KILL\",\n\t\t\t\t\"CAP_NET_BIND_SERVICE\"\n\t\t\t],\n" +
				"\t\t\t\"effective\": [\n\t\t\t\t\"CAP_AUDIT_WRITE\",\n\t\t\t\t\"CAP_KILL\",\n\t\t\t\t\"CAP_NET_BIND_SERVICE\"\n\t\t\t],\n" +
				"\t\t\t\"permitted\": [\n\t\t\t\t\"CAP_AUDIT_WRITE\",\n\t\t\t\t\"CAP_KILL\",\n\t\t\t\t\"CAP_NET_BIND_SERVICE\"\n\t\t\t]\n\t\t},\n\t\t\"noNewPrivileges\": true\n\t},\n\t\"hostname\": \"runc\"\n}\n",
			opts: Options{Add: capset.Of(capset.KILL)}, want: "\"bounding\": [\n\t\t\t\t\"CAP_KILL\"\n\t\t\t],"},
		{name: "OCI config without capabilities", file: "config.json",
			src:  `{"ociVersion": "1.0.2", "process": {"user": {"uid": 0, "gid": 0}, "args": ["sh"]}}`,
			opts: Options{AllowWiden: true, Add: capset.Of(capset.CHOWN)}, want: `"capabilities": {"bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"], "permitted": ["CAP_CHOWN"], "inheritable": [], "ambient": []}`},
		{name: "OCI lower-case names runc ignores", file: "config.json",
			src:  `{"ociVersion": "1.0.2", "process": {"user": {"uid": 0}, "capabilities": {"bounding": ["cap_kill", "CAP_CHOWN"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL", "CAP_CHOWN"], "ambient": ["CAP_KILL"], "inheritable": ["CAP_KILL"]}}}`,
			opts: Options{AllowWiden: true, Add: capset.Of(capset.KILL)}, want: `"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"], "ambient": ["CAP_KILL"], "inheritable": ["CAP_KILL"]`},
		{name: "Quadlet with resets and continuations", file: "web.container",
			src:  "[Unit]\nDescription=Web\n\n[Container]\nImage=nginx\nAddCapability=NET_ADMIN SYS_TIME\nAddCapability=\nAddCapability=CAP_NET_BIND_SERVICE \\\n  CHOWN\nDropCapability=all\nUser=1000\n\n[Install]\nWantedBy=default.target\n",
			opts: Options{Add: capset.Of(capset.CHOWN)}, want: "Image=nginx\nDropCapability=all\nAddCapability=CHOWN\nUser=1000\n"},
		{name: "Quadlet without capability lines", file: "web.container",
			src:  "[Container]\nImage=nginx\nUser=0",
			opts: Options{Add: capset.Of(capset.CHOWN)}, want: "[Container]\nImage=nginx\nUser=0\nDropCapability=ALL\nAddCapability=CHOWN"},
		{name: "Quadlet capabilities in PodmanArgs", file: "web.container",
			src:  "[Container]\nImage=nginx\nPodmanArgs=--cap-add=sys_nice\n",
			opts: Options{Add: capset.Of(capset.CHOWN)}, err: ErrRefused, want: "PodmanArgs="},
		{name: "docker inspect is read-only", file: "inspect.json",
			src:  `[{"Id": "abc", "Name": "/web", "Config": {"Image": "nginx"}, "HostConfig": {"CapAdd": ["NET_ADMIN"]}}]`,
			opts: Options{}, err: ErrReadOnly, want: "inspect output"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.opts.Source = env
			res, err := Apply(c.file, []byte(c.src), c.opts)
			if c.err != nil {
				if !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("got %v, want %v containing %q", err, c.err, c.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !res.Changed || !strings.Contains(string(res.Output), c.want) {
				t.Fatalf("output lacks %q:\n%s", c.want, Unified(c.file, c.file, []byte(c.src), res.Output))
			}
			ws, errs := source.Parse(c.file, res.Output, env)
			if len(errs) > 0 {
				t.Fatalf("the result does not read: %v", errs)
			}
			found := false
			for _, w := range ws {
				if w.Pos.Line != res.Pos.Line || w.Pos.Col != res.Pos.Col {
					continue
				}
				found = true
				r := merge.Compute(w, merge.Options{})
				if r.Sets.Bounding != c.opts.Add || r.Held() != c.opts.Add || len(r.Names) > 0 {
					t.Errorf("%s after the fix holds %s (bounding %s, names %v), want exactly %s", w.Name, r.Held(), r.Sets.Bounding, r.Names, c.opts.Add)
				}
			}
			if !found {
				t.Errorf("target %q (%s) not among the result's workloads", res.Target, res.Pos)
			}
			again, err := Apply(c.file, res.Output, c.opts)
			if err != nil || again.Changed {
				t.Errorf("second run: changed %v, %v", again != nil && again.Changed, err)
			}
		})
	}
}
