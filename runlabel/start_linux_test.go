package runlabel

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/procfs"
)

// TestStartDropsEverything: the command a label runs (the docker CLI)
// holds no capability, has no_new_privs, and talks to the engine the label
// came from — checked in the started process's own /proc/self/status and
// environment.
func TestStartDropsEverything(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: a root caller's command is the case with capabilities to drop")
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	c := &Command{Argv: []string{sh, "-c", `cat /proc/self/status; echo "host=$DOCKER_HOST context=${DOCKER_CONTEXT-unset} keep=$KEEP"`}}
	var out, errOut bytes.Buffer
	p, plan, err := c.Start(StartOptions{Stdout: &out, Stderr: &errOut, Host: "unix:///run/other.sock",
		Env: []string{"PATH=/usr/bin:/bin", "DOCKER_HOST=tcp://elsewhere:2375", "DOCKER_CONTEXT=remote", "KEEP=kept"}})
	if err != nil {
		t.Fatal(err)
	}
	exit, err := p.Wait()
	if err != nil || exit.Status() != 0 {
		t.Fatalf("%v %v: %s", exit, err, errOut.String())
	}
	st, err := procfs.ParseStatus(strings.NewReader(out.String()))
	if err != nil {
		t.Fatal(err)
	}
	if !st.Sets.Bounding.IsEmpty() || !st.Sets.Effective.IsEmpty() || !st.Sets.Permitted.IsEmpty() || !st.NoNewPrivs {
		t.Errorf("the command holds %v, no_new_privs %v; want nothing and no_new_privs", st.Sets, st.NoNewPrivs)
	}
	if plan.Sets != st.Sets {
		t.Errorf("plan said %v, kernel says %v", plan.Sets, st.Sets)
	}
	if !strings.Contains(out.String(), "host=unix:///run/other.sock context=unset keep=kept\n") {
		t.Errorf("environment: %s", out.String())
	}
}
