//go:build linux

package cli

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/internal/dockertest"
	"github.com/capdrop/capdrop/internal/term"
)

// walkthrough is the README's walkthrough, command by command: each must
// appear in README.md exactly as written here (with its redirection), so
// the README and this test cannot drift apart.
var walkthrough = []walkStep{
	{args: []string{"audit", "examples/service/compose.yaml"}},
	{args: []string{"profile", "--docker", "--duration", "5s", "-o", "json", "--", "capdrop-example"}, stdout: "profile.json"},
	{args: []string{"verify", "--minimize", "--from", "profile.json", "--compose", "examples/service/compose.yaml",
		"--service", "web", "--check-http", "8080/healthz", "-o", "json"}, stdout: "verify.json"},
	{args: []string{"fix", "examples/service/compose.yaml", "--service", "web", "--from", "verify.json"}},
	{args: []string{"fix", "examples/service/compose.yaml", "--service", "web", "--from", "verify.json", "--write"}},
	{args: []string{"audit", "examples/service/compose.yaml"}},
}

type walkStep struct {
	args   []string
	stdout string // the file the README redirects standard output to
}

func (w walkStep) String() string {
	s := "capdrop " + strings.Join(w.args, " ")
	if w.stdout != "" {
		s += " > " + w.stdout
	}
	return s
}

// TestReadmeWalkthrough runs the README's walkthrough on the bundled
// example service, whose true needs are known (CHOWN, SETGID, SETUID:
// examples/service/main.go), and checks every step's claim: the audit
// finds Docker's 14 defaults, the profile measures exactly the three, verify
// proves them 1-minimal, fix writes them, the audit then sees the three,
// and the container docker-compose starts from the fixed file holds exactly
// them in the kernel and serves.
func TestReadmeWalkthrough(t *testing.T) {
	dockertest.Require(t)
	if _, err := exec.LookPath("docker-compose"); err != nil {
		t.Fatal("docker-compose is missing: run scripts/test-env as root")
	}
	_, self, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(self), "..", "..")
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range walkthrough {
		if !strings.Contains(string(readme), "\n"+w.String()+"\n") {
			t.Errorf("README.md does not show the walkthrough step %q", w.String())
		}
	}
	if !strings.Contains(string(readme), "\nexamples/service/build.sh") {
		t.Error("README.md does not build the example image with examples/service/build.sh")
	}
	if out, err := exec.Command(filepath.Join(root, "examples", "service", "build.sh")).CombinedOutput(); err != nil {
		t.Fatalf("examples/service/build.sh: %v\n%s", err, out)
	}

	// The walkthrough edits the compose file: run it on a copy.
	dir := t.TempDir()
	compose := filepath.Join(dir, "examples", "service", "compose.yaml")
	orig, err := os.ReadFile(filepath.Join(root, "examples", "service", "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Dir(compose), 0o755)
	if err := os.WriteFile(compose, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)

	want := capset.Of(capset.CHOWN, capset.SETGID, capset.SETUID)
	outs := make([]string, len(walkthrough))
	for i, w := range walkthrough {
		s, out, errOut := term.Test("")
		code := Main(context.Background(), w.args, s)
		outs[i] = out.String()
		// The audits exit 1: the first for its findings, the last for
		// no_new_privs (CD011), which the walkthrough leaves to the reader.
		wantCode := ExitOK
		if w.args[0] == "audit" {
			wantCode = ExitFindings
		}
		if code != wantCode {
			t.Fatalf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", w, code, wantCode, out, errOut)
		}
		if w.stdout != "" {
			if err := os.WriteFile(w.stdout, out.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}

	if !strings.Contains(outs[0], "CD002") || !strings.Contains(outs[0], "14 default capabilities") {
		t.Errorf("the first audit does not report Docker's 14 defaults (CD002):\n%s", outs[0])
	}
	var prof struct {
		Needed []string `json:"needed"`
	}
	if err := json.Unmarshal([]byte(outs[1]), &prof); err != nil {
		t.Fatal(err)
	}
	if got, _ := capset.ParseSet(strings.Join(prof.Needed, ",")); got != want {
		t.Errorf("profile measured %v, want exactly %s", prof.Needed, want)
	}
	var ver struct {
		Set    []string `json:"set"`
		Passed bool     `json:"passed"`
	}
	if err := json.Unmarshal([]byte(outs[2]), &ver); err != nil {
		t.Fatal(err)
	}
	if got, _ := capset.ParseSet(strings.Join(ver.Set, ",")); got != want || !ver.Passed {
		t.Errorf("verify: passed %v, set %v; want %s", ver.Passed, ver.Set, want)
	}
	if !strings.Contains(outs[3], "+    cap_drop: [ALL]") || !strings.Contains(outs[3], "+    cap_add: [CHOWN, SETGID, SETUID]") {
		t.Errorf("fix's diff:\n%s", outs[3])
	}
	// After the fix the container no longer keeps the defaults; the three
	// it adds back are defaults too, so they score low.
	if strings.Contains(outs[5], "CD002") || strings.Contains(outs[5], "CD004") ||
		!strings.Contains(outs[5], "by rule: CD003 3 low") {
		t.Errorf("the audit after the fix:\n%s", outs[5])
	}

	// The real thing: docker-compose starts the fixed file.
	project := "capdroptest" + strconv.FormatInt(time.Now().UnixNano(), 36)
	t.Cleanup(func() {
		_ = exec.Command("docker-compose", "-p", project, "-f", compose, "down", "-v", "--remove-orphans").Run()
	})
	// Publish on a free host port: the test must not need 8080.
	fixed, err := os.ReadFile(compose)
	if err != nil {
		t.Fatal(err)
	}
	fixed = []byte(strings.Replace(string(fixed), `- "8080:8080"`, `- "8080"`, 1))
	if err := os.WriteFile(compose, fixed, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("docker-compose", "-p", project, "-f", compose, "up", "-d").CombinedOutput(); err != nil {
		t.Fatalf("docker-compose up: %v\n%s", err, out)
	}
	id := strings.TrimSpace(dockertest.Docker(t, "ps", "-q", "--filter", "label=com.docker.compose.project="+project))
	if id == "" {
		t.Fatal("no container for web")
	}
	ip := strings.TrimSpace(dockertest.Docker(t, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", id))
	var body string
	for i := 0; i < 50; i++ {
		if out, err := exec.Command("busybox", "wget", "-q", "-O", "-", "http://"+ip+":8080/healthz").Output(); err == nil {
			body = string(out)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.HasPrefix(body, "ok uid=1000") {
		t.Errorf("the fixed service does not serve: %q", body)
	}
	// The service switched to uid 1000: its effective set is empty now,
	// and its bounding set is what fix wrote.
	sets, st := dockertest.KernelSets(t, id)
	if sets.Bounding != want || sets.Effective != 0 {
		t.Errorf("kernel: bounding %s, effective %s (uid %v); want bounding %s, effective none", sets.Bounding, sets.Effective, st, want)
	}
}
