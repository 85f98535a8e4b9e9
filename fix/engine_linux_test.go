package fix

import (
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
	"github.com/capdrop/capdrop/knowledge"
	"github.com/capdrop/capdrop/source/shell"
)

// TestFixedRunLineOnEngine runs a script's docker run line before and after
// capdrop fix on the real engine and reads the kernel's view of the
// container: after the fix it holds exactly the set, before it held
// Docker's defaults with the line's changes.
func TestFixedRunLineOnEngine(t *testing.T) {
	dockertest.Require(t)
	img := dockertest.Image(t, nil)
	script := []byte(fmt.Sprintf("#!/bin/sh\ndocker run -d \\\n  --cap-add=NET_ADMIN \\\n  --cap-add SYS_TIME \\\n  --cap-drop NET_RAW \\\n  %s sleep 300\n", img))
	want := capset.Of(capset.NET_ADMIN, capset.CHOWN)
	res, err := Apply("start.sh", script, Options{Add: want})
	if err != nil {
		t.Fatal(err)
	}

	before := knowledge.MustDefault(knowledge.Docker).Without(capset.NET_RAW).With(capset.NET_ADMIN).With(capset.SYS_TIME)
	for _, c := range []struct {
		name string
		src  []byte
		want capset.Set
	}{
		{"original", script, before},
		{"fixed", res.Output, want},
	} {
		args := runArgs(t, c.src)
		id := dockertest.Start(t, args...)
		sets, _ := dockertest.KernelSets(t, id)
		if sets.Bounding != c.want || sets.Effective != c.want || sets.Permitted != c.want {
			t.Errorf("%s line: bounding %v, effective %v, permitted %v; want %v", c.name, sets.Bounding, sets.Effective, sets.Permitted, c.want)
		}
	}
}

// runArgs returns the words after "docker run" of the script's only run
// line, as the shell would pass them.
func runArgs(t *testing.T, src []byte) []string {
	t.Helper()
	cmds, errs := shell.Commands("start.sh", src, shell.Script)
	if len(errs) > 0 || len(cmds) != 1 {
		t.Fatalf("%d commands, errors %v", len(cmds), errs)
	}
	var args []string
	for _, a := range cmds[0].Args[cmds[0].SubArg+1:] {
		args = append(args, a.Value)
	}
	return args
}

// TestFixedComposeOnEngine brings a compose file up with docker-compose
// after capdrop fix changed one service: that service's container holds
// exactly the set, the other service's exactly what it held before.
func TestFixedComposeOnEngine(t *testing.T) {
	dockertest.Require(t)
	if _, err := exec.LookPath("docker-compose"); err != nil {
		t.Fatal("docker-compose is missing: run scripts/test-env as root")
	}
	img := dockertest.Image(t, nil)
	src := fmt.Sprintf(`# two services; only app is fixed
x-common: &common
  image: %s
  command: ["sleep", "300"]
  labels: {%s: "1"}

services:
  app:
    <<: *common
    cap_add:
      - NET_ADMIN   # for the routes
      - SYS_TIME
  other:
    <<: *common
    cap_add: [SYS_TIME]
    cap_drop: [MKNOD]
`, img, dockertest.Label)
	want := capset.Of(capset.NET_ADMIN, capset.SETUID, capset.SETGID)
	res, err := Apply("compose.yaml", []byte(src), Options{Add: want, Service: "app"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(file, res.Output, 0o644); err != nil {
		t.Fatal(err)
	}
	project := "capdroptest" + strconv.FormatInt(time.Now().UnixNano(), 36)
	compose := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("docker-compose", append([]string{"-p", project, "-f", file}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker-compose %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	t.Cleanup(func() {
		_ = exec.Command("docker-compose", "-p", project, "-f", file, "down", "-v", "--remove-orphans").Run()
	})
	compose("up", "-d")
	for _, c := range []struct {
		service string
		want    capset.Set
	}{
		{"app", want},
		{"other", knowledge.MustDefault(knowledge.Docker).With(capset.SYS_TIME).Without(capset.MKNOD)},
	} {
		id := lastLine(compose("ps", "-q", c.service))
		sets, _ := dockertest.KernelSets(t, id)
		if sets.Bounding != c.want || sets.Effective != c.want {
			t.Errorf("%s: bounding %v, effective %v; want %v", c.service, sets.Bounding, sets.Effective, c.want)
		}
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
