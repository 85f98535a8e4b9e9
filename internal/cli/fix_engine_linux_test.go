package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/internal/dockertest"
	"github.com/capdrop/capdrop/internal/term"
)

// TestVerifyThenFixOnEngine closes the loop on the real engine: capdrop
// verify proves a set for a compose service and writes its result, capdrop
// fix --from writes that set into the compose file, and the container
// docker-compose then starts holds exactly that set in the kernel. A verify
// result that failed is refused by fix, and the file stays as it was.
func TestVerifyThenFixOnEngine(t *testing.T) {
	dockertest.Require(t)
	if _, err := exec.LookPath("docker-compose"); err != nil {
		t.Fatal("docker-compose is missing: run scripts/test-env as root")
	}
	img := dockertest.Image(t, nil)
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yaml")
	orig := fmt.Sprintf(`services:
  app:
    image: %s
    # needs CHOWN, nothing else
    command: ["sh", "-c", "chown 1000 /tmp && sleep 300"]
    labels: {%s: "1"}
    cap_add: [NET_ADMIN]
`, img, dockertest.Label)
	if err := os.WriteFile(file, []byte(orig), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string, string) {
		s, out, errOut := term.Test("")
		code := Main(context.Background(), args, s)
		return code, out.String(), errOut.String()
	}

	// A set without CHOWN fails verification; fix refuses its result.
	code, out, errOut := run("verify", "--cap-add", "SETUID", "--compose", file, "--service", "app", "--check-running", "2s", "-o", "json")
	if code != ExitFindings {
		t.Fatalf("verify without CHOWN: exit %d, want %d\n%s\n%s", code, ExitFindings, out, errOut)
	}
	failed := filepath.Join(dir, "failed.json")
	os.WriteFile(failed, []byte(out), 0o644)
	if code, _, errOut := run("fix", file, "--service", "app", "--from", failed, "--write"); code != ExitUsage || !strings.Contains(errOut, "did not pass") {
		t.Errorf("fix --from a failed verify: exit %d, %s", code, errOut)
	}
	if b, _ := os.ReadFile(file); string(b) != orig {
		t.Errorf("the file changed after a refusal")
	}

	// CHOWN passes; fix writes it.
	code, out, errOut = run("verify", "--cap-add", "CHOWN", "--compose", file, "--service", "app", "--check-running", "2s", "-o", "json")
	if code != ExitOK {
		t.Fatalf("verify with CHOWN: exit %d\n%s\n%s", code, out, errOut)
	}
	passed := filepath.Join(dir, "verify.json")
	os.WriteFile(passed, []byte(out), 0o644)
	if code, out, errOut := run("fix", file, "--service", "app", "--from", passed, "--write"); code != ExitOK {
		t.Fatalf("fix: exit %d\n%s%s", code, out, errOut)
	}

	project := "capdroptest" + strconv.FormatInt(time.Now().UnixNano(), 36)
	t.Cleanup(func() {
		_ = exec.Command("docker-compose", "-p", project, "-f", file, "down", "-v", "--remove-orphans").Run()
	})
	if out, err := exec.Command("docker-compose", "-p", project, "-f", file, "up", "-d").CombinedOutput(); err != nil {
		t.Fatalf("docker-compose up: %v\n%s", err, out)
	}
	idOut, err := exec.Command("docker-compose", "-p", project, "-f", file, "ps", "-q", "app").Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(idOut))
	if len(lines) == 0 {
		t.Fatal("no container for app")
	}
	sets, _ := dockertest.KernelSets(t, lines[len(lines)-1])
	if want := capset.Of(capset.CHOWN); sets.Bounding != want || sets.Effective != want {
		t.Errorf("after verify and fix: bounding %v, effective %v; want %v", sets.Bounding, sets.Effective, want)
	}
}
