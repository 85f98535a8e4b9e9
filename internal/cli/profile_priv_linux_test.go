//go:build linux

package cli

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/internal/dockertest"
)

// TestProfilePrivileges runs capdrop profile under reduced capability
// sets (through capdrop run, as root with only the capabilities named) and
// holds each mode to the privileges docs/profile.md states: with what a
// mode needs it profiles; with less it exits 3 at once, naming what is
// missing, before starting anything.
func TestProfilePrivileges(t *testing.T) {
	dockertest.Require(t)
	env := e2e(t)
	img := dockertest.Image(t, nil)
	under := func(caps string, args ...string) result {
		return run(t, exec.Command(env.capdrop, append([]string{"run", "--cap-drop", "all", "--cap-add", caps, "--", env.capdrop, "profile"}, args...)...))
	}
	id := dockertest.Start(t, img, "sleep", "300")
	for _, c := range []struct {
		caps    string
		args    []string
		code    int
		missing string
	}{
		// -- CMD: a private mount namespace, which needs CAP_SYS_ADMIN.
		{"bpf,perfmon", []string{"--", "/bin/true"}, ExitUnsupported, "missing CAP_SYS_ADMIN"},
		{"bpf,perfmon,sys_admin", []string{"--", "/bin/true"}, 0, ""},
		{"sys_admin", []string{"--", "/bin/true"}, 0, ""},
		// --docker: the tracer's two are enough.
		{"bpf,perfmon", []string{"--docker", "--", "--label", dockertest.Label + "=1", img, "true"}, 0, ""},
		{"perfmon", []string{"--docker", "--", "--label", dockertest.Label + "=1", img, "true"}, ExitUnsupported, "missing CAP_BPF"},
		// --container: the container's process holds capabilities capdrop
		// does not, so its mount namespace needs CAP_SYS_PTRACE.
		{"bpf,perfmon", []string{"--container", id, "--duration", "1s"}, ExitUnsupported, "missing CAP_SYS_PTRACE"},
		{"bpf,perfmon,sys_ptrace", []string{"--container", id, "--duration", "1s"}, 0, ""},
	} {
		r := under(c.caps, c.args...)
		if r.code != c.code || (c.missing != "" && !strings.Contains(r.stderr, c.missing)) || (c.code == 0 && !strings.Contains(r.stdout, "CapabilityBoundingSet=")) {
			t.Errorf("%s with %s: exit %d (want %d)\nstdout %.200s\nstderr %s", c.args, c.caps, r.code, c.code, r.stdout, r.stderr)
		}
		if c.code != 0 && strings.Contains(r.stderr, "operation not permitted") {
			t.Errorf("%s with %s: failed at the start instead of up front: %s", c.args, c.caps, r.stderr)
		}
	}
}
