package merge_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/internal/dockertest"
	"github.com/capdrop/capdrop/merge"
	"github.com/capdrop/capdrop/source"
	"github.com/capdrop/capdrop/workload"
)

// composeServices are compose service bodies (IMAGE is replaced by the test
// image). docker-compose v1 passes cap_add, cap_drop, privileged, user and
// security_opt to the engine as written, so Docker's rules apply.
var composeServices = map[string]string{
	"plain":         ``,
	"dropall":       "cap_drop: [ALL]\ncap_add: [NET_BIND_SERVICE]",
	"addwins":       "cap_add: [net_admin, chown]\ncap_drop: [CHOWN, NET_RAW]",
	"prefix":        "cap_add: [CAP_SYS_PTRACE]\ncap_drop: [cap_mknod]",
	"allall":        "cap_add: [ALL]\ncap_drop: [ALL]\nuser: \"1000\"",
	"allbutres":     "cap_add: [all]\ncap_drop: [SYS_RESOURCE, sys_admin]",
	"privuser":      "privileged: true\nuser: \"1000:1000\"",
	"nonroot":       "user: nobody\ncap_add: [SYS_ADMIN]",
	"nnp":           "security_opt: [\"no-new-privileges:true\"]\ncap_drop: [all]\ncap_add: [kill, setuid]",
	"rootnamed":     "user: root\ncap_drop: [setuid, setgid, net_raw]",
	"sysresourceno": "cap_add: [sys_resource]\nuser: \"1000\"",
}

func indent(s, pre string) string {
	if s == "" {
		return ""
	}
	return pre + strings.ReplaceAll(s, "\n", "\n"+pre) + "\n"
}

// TestComposeAgainstEngine brings up a compose project with docker-compose
// (v1) and checks every service's main process against capdrop.
func TestComposeAgainstEngine(t *testing.T) {
	dockertest.Require(t)
	compose, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Fatal("docker-compose is missing; run scripts/test-env as root")
	}
	opts := engineOptions(t)
	image := dockertest.Image(t, nil)
	var file bytes.Buffer
	file.WriteString("version: \"2.4\"\nservices:\n")
	names := make([]string, 0, len(composeServices))
	for name := range composeServices {
		names = append(names, name)
	}
	for _, name := range names {
		fmt.Fprintf(&file, "  %s:\n    image: %s\n    command: [sleep, \"3600\"]\n    network_mode: none\n    labels: [%s=1]\n%s",
			name, image, dockertest.Label, indent(composeServices[name], "    "))
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(path, file.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	project := fmt.Sprintf("capdropmerge%d", os.Getpid())
	run := func(args ...string) (string, error) {
		cmd := exec.Command(compose, append([]string{"-p", project, "-f", path}, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		if err != nil {
			return out.String(), fmt.Errorf("docker-compose %s: %v\n%s", strings.Join(args, " "), err, errb.String())
		}
		return strings.TrimSpace(out.String()), nil
	}
	t.Cleanup(func() { _, _ = run("down", "--volumes", "--timeout", "1") })
	if _, err := run("up", "-d"); err != nil {
		t.Fatalf("%v\ncompose file:\n%s", err, file.String())
	}
	// capdrop's own compose source reads the file the engine ran.
	ws, errs := source.Parse(path, file.Bytes(), source.Options{})
	if len(errs) > 0 || len(ws) != len(names) {
		t.Fatalf("source read %d workloads (errors %v) from:\n%s", len(ws), errs, file.String())
	}
	byName := map[string]workload.Workload{}
	for _, w := range ws {
		byName[w.Name] = w
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			w, ok := byName[name]
			if !ok {
				t.Fatalf("source found no service %q", name)
			}
			got := merge.Compute(w, opts)
			if got.Refusal != nil {
				t.Fatalf("capdrop predicts %v but docker-compose started it", got.Refusal)
			}
			id, err := run("ps", "-q", name)
			if err != nil || id == "" {
				t.Fatalf("no container for %s: %v", name, err)
			}
			kernel, st := dockertest.KernelSets(t, id)
			if kernel != got.Sets {
				t.Errorf("kernel sets differ from capdrop's\nkernel:  %+v\ncapdrop: %+v", kernel.Hex(), got.Sets.Hex())
			}
			if st.NoNewPrivs != got.NoNewPrivs {
				t.Errorf("NoNewPrivs: kernel %v, capdrop %v", st.NoNewPrivs, got.NoNewPrivs)
			}
		})
	}
}
