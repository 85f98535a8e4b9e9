package fix

import (
	"strings"
	"testing"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/merge"
	"github.com/capdrop/capdrop/source"
)

// TestSnippetsPassTheAudit pastes every snippet where it belongs and reads
// the result with the audit's parsers and merge rules: the container must
// hold exactly the set, with no name the runtime ignores.
func TestSnippetsPassTheAudit(t *testing.T) {
	indent := func(s, by string) string {
		return by + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n"+by) + "\n"
	}
	for _, set := range []capset.Set{0, capset.Of(capset.CHOWN), capset.Of(capset.NET_BIND_SERVICE, capset.SETUID, capset.SETGID)} {
		s := SnippetsFor(set)
		files := []struct{ name, text string }{
			{"run.sh", "docker run -d " + s.DockerRun + " nginx\n"},
			{"compose.yaml", "services:\n  web:\n    image: nginx\n" + indent(s.Compose, "    ")},
			{"pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: nginx\n" + indent(s.Kubernetes, "    ")},
			{"Dockerfile", "FROM scratch\n" + strings.ReplaceAll(strings.ReplaceAll(s.DockerfileLabel, "${NAME}", "NAME"), "${IMAGE}", "IMAGE") + "\n"},
			{"web.container", "[Container]\nImage=nginx\n" + s.Quadlet},
			{"config.json", `{"ociVersion": "1.0.2", "process": {"user": {"uid": 0, "gid": 0}, "args": ["sh"], ` + s.OCI + `}}`},
		}
		for _, f := range files {
			ws, errs := source.Parse(f.name, []byte(f.text), source.Options{Env: map[string]string{}})
			for _, e := range errs {
				t.Errorf("%s: %v\n%s", f.name, e, f.text)
			}
			if len(ws) != 1 {
				t.Errorf("%s: %d workloads\n%s", f.name, len(ws), f.text)
				continue
			}
			r := merge.Compute(ws[0], merge.Options{})
			if r.Refusal != nil || len(r.Names) > 0 || r.Sets.Bounding != set || r.Held() != set {
				t.Errorf("%s with %s: holds %s (bounding %s), refusal %v, names %v\n%s", f.name, set, r.Held(), r.Sets.Bounding, r.Refusal, r.Names, f.text)
			}
		}
	}
}
