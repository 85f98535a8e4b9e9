// Package dockertest gives tests a real Docker engine: it skips a test when
// it does not run as root, fails it when root has no working engine (CI
// always provides one through scripts/test-env), builds small test images
// FROM scratch out of static binaries, and removes every container a test
// starts.
//
// It drives the engine through the docker CLI on purpose: the tests check
// capdrop's own engine client against an independent path.
package dockertest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/procfs"
)

// Label marks every container and image the tests create, so a crashed run
// can be cleaned with `docker rm -f $(docker ps -aq --filter label=capdrop-test)`.
const Label = "capdrop-test"

// Require skips t unless it runs as root, and fails it when root has no
// working Docker engine.
func Require(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root and a Docker engine (run as root: scripts/test)")
	}
	if _, err := exec.LookPath("docker"); err != nil {
		t.Fatal("no docker CLI; run scripts/test-env as root")
	}
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		t.Fatalf("no Docker engine answers (%v: %s); run scripts/test-env as root", err, bytes.TrimSpace(out))
	}
}

// Docker runs the docker CLI and returns its standard output, failing the
// test on error.
func Docker(t testing.TB, args ...string) string {
	t.Helper()
	out, err := DockerErr(args...)
	if err != nil {
		t.Fatalf("docker %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// DockerErr runs the docker CLI and returns its trimmed standard output; the
// error includes standard error.
func DockerErr(args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("docker", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return strings.TrimSpace(stdout.String()), fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

var buildMu sync.Mutex

// Image builds (once, cached by content) an image FROM scratch holding
// busybox-static as /bin/busybox with its applets linked in /bin, plus
// extra files (destination path in the image → host path of a file, usually
// a static test helper). It returns the image reference.
func Image(t testing.TB, extra map[string]string, dockerfileTail ...string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		busybox = "/bin/busybox"
	}
	dir := t.TempDir()
	h := sha256.New()
	copyIn := func(src, name string) {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatalf("test image: %v (install busybox-static: scripts/test-env)", err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o755); err != nil {
			t.Fatal(err)
		}
		h.Write([]byte(name))
		h.Write(b)
	}
	copyIn(busybox, "busybox")
	df := []string{
		"FROM scratch",
		"COPY busybox /bin/busybox",
		`RUN ["/bin/busybox", "--install", "-s", "/bin"]`,
		`RUN ["/bin/busybox", "sh", "-c", "mkdir -p /tmp /etc && echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd && echo 'nobody:x:65534:65534:nobody:/:/bin/sh' >> /etc/passwd && echo 'root:x:0:' > /etc/group && echo 'nogroup:x:65534:' >> /etc/group"]`,
	}
	names := make([]string, 0, len(extra))
	for dst := range extra {
		names = append(names, dst)
	}
	slices.Sort(names)
	for i, dst := range names {
		name := "extra" + strconv.Itoa(i)
		copyIn(extra[dst], name)
		df = append(df, fmt.Sprintf("COPY %s %s", name, dst))
	}
	df = append(df, dockerfileTail...)
	df = append(df, `CMD ["/bin/sh"]`)
	text := strings.Join(df, "\n") + "\n"
	h.Write([]byte(text))
	ref := "capdrop-test/busybox:" + hex.EncodeToString(h.Sum(nil))[:16]
	if _, err := DockerErr("image", "inspect", ref); err == nil {
		return ref
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("docker", "build", "-q", "--label", Label+"=1", "-t", ref, dir)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	return ref
}

// Start runs `docker run -d` with args (flags, image, command), labels the
// container, removes it when the test ends, and returns its ID.
func Start(t testing.TB, args ...string) string {
	t.Helper()
	id, err := StartErr(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// StartErr is Start returning the engine's refusal instead of failing.
func StartErr(t testing.TB, args ...string) (string, error) {
	t.Helper()
	full := append([]string{"run", "-d", "--label", Label + "=1"}, args...)
	id, err := DockerErr(full...)
	if id != "" {
		t.Cleanup(func() { Remove(id) })
	}
	if err != nil {
		return "", fmt.Errorf("docker %s: %w", strings.Join(full, " "), err)
	}
	return id, nil
}

// Remove force-removes a container, ignoring errors.
func Remove(id string) { _, _ = DockerErr("rm", "-f", "-v", id) }

// PID returns the host PID of a running container's main process.
func PID(t testing.TB, id string) int {
	t.Helper()
	s := Docker(t, "inspect", "--format", "{{.State.Pid}}", id)
	pid, err := strconv.Atoi(s)
	if err != nil || pid <= 0 {
		logs, _ := DockerErr("logs", id)
		t.Fatalf("container %s has no running process (pid %q); logs:\n%s", id, s, logs)
	}
	return pid
}

// KernelSets returns what the kernel reports in /proc/<pid>/status for the
// container's main process: the ground truth tests compare capdrop with.
func KernelSets(t testing.TB, id string) (capset.Sets, *procfs.Status) {
	t.Helper()
	st, err := procfs.ReadStatus("", PID(t, id))
	if err != nil {
		t.Fatal(err)
	}
	return st.Sets, st
}

// BuildStatic compiles a Go main package to a static binary (CGO_ENABLED=0)
// for putting in test images, and returns its path.
func BuildStatic(t testing.TB, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, stderr.String())
	}
	return out
}
