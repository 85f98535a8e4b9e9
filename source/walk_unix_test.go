//go:build unix

package source

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The walking tests make FIFOs and run a child as another user: Unix only.

// TestWalk covers directory walking: formats by name and #! line, skipped
// directories, --exclude, binary files, FIFOs, symbolic links and loops,
// huge files; every good file is still read.
func TestWalk(t *testing.T) {
	dir := t.TempDir()
	write(t, dir+"/app/compose.yaml", "services:\n  web:\n    image: x\n    cap_add: [NET_ADMIN]\n")
	write(t, dir+"/app/run", "#!/bin/sh\ndocker run --privileged y\n")
	write(t, dir+"/app/notes.txt", "docker run --privileged ignored\n")
	write(t, dir+"/app/logo.png", "\x89PNG\x00\x00binary")
	write(t, dir+"/app/ci.yml", "on: push\njobs: {}\n")
	write(t, dir+"/app/chart/templates/dep.yaml", "apiVersion: v1\nkind: Pod\n{{- if .Values.x }}\n")
	write(t, dir+"/app/broken.yaml", "apiVersion: v1\nkind: Pod\nspec: [\n")
	write(t, dir+"/app/bin.yaml", "apiVersion: v1\x00\n")
	write(t, dir+"/.git/hooks/pre-commit.sh", "docker run --privileged git\n")
	write(t, dir+"/vendor/x/Dockerfile", "FROM x\nLABEL RUN='docker run --privileged v'\n")
	write(t, dir+"/skipme/Makefile", "a:\n\tdocker run --privileged e\n")
	write(t, dir+"/big/huge.sh", strings.Repeat("# padding\n", 200))
	if err := syscall.Mkfifo(dir+"/app/pipe.sh", 0o644); err != nil {
		t.Fatal(err)
	}
	must(t, os.Symlink("..", dir+"/app/up"))                  // a loop back to the root
	must(t, os.Symlink("self.yaml", dir+"/app/self.yaml"))    // a link to itself
	must(t, os.Symlink("missing", dir+"/app/dangling.sh"))    // dangling, chosen name
	must(t, os.Symlink("missing", dir+"/app/dangling.other")) // dangling, ignored name
	must(t, os.Symlink("compose.yaml", dir+"/app/docker-compose.yml"))

	done := make(chan Result)
	go func() { done <- Collect([]string{dir}, Options{Exclude: []string{"skipme"}, MaxFileSize: 1000}) }()
	var res Result
	select {
	case res = <-done:
	case <-time.After(time.Minute):
		t.Fatal("walk did not finish: symbolic link loop?")
	}
	var names []string
	for _, w := range res.Workloads {
		rel, _ := filepath.Rel(dir, w.Pos.File)
		names = append(names, rel+":"+w.Name)
	}
	got := strings.Join(names, " ")
	want := "app/compose.yaml:web app/docker-compose.yml:web app/run:y"
	if got != want {
		t.Errorf("workloads %s\nwant      %s", got, want)
	}
	errs := strings.ReplaceAll(errorsOf(res), dir+"/", "")
	for _, w := range []string{
		"app/broken.yaml:3: invalid YAML",
		"app/bin.yaml: binary file",
		"app/dangling.sh: no such file or directory",
		"app/self.yaml: symbolic link loop",
		"app/up: symbolic link loop: this directory contains itself",
		"big/huge.sh: file too large: 2000 bytes (limit 1000)",
		"app/chart/templates/dep.yaml: a Go template (Helm {{ … }}) outside any chart: not rendered, not audited",
	} {
		if !strings.Contains(errs, w) {
			t.Errorf("missing error %q in:\n%s", w, errs)
		}
	}
	warnings := 0
	for _, e := range res.Errors {
		if e.Warning {
			warnings++
		}
	}
	if n := len(res.Errors); n != 7 || warnings != 1 {
		t.Errorf("%d errors and %d warnings, want 6 and 1:\n%s", n-warnings, warnings, errs)
	}
	if res.SkippedBy[SkipTemplate] != 1 {
		t.Errorf("skipped: %v, want one template", res.SkippedBy)
	}
}

// TestExplicitPaths: a path named on the command line is always read, and
// anything wrong with it is an error.
func TestExplicitPaths(t *testing.T) {
	dir := t.TempDir()
	write(t, dir+"/notes.txt", "hello\n")
	write(t, dir+"/image.bin", "\x00\x01")
	write(t, dir+"/ok.sh", "docker run --cap-add SYS_ADMIN z\n")
	must(t, syscall.Mkfifo(dir+"/fifo", 0o644))
	res := Collect([]string{dir + "/notes.txt", dir + "/image.bin", dir + "/fifo", dir + "/nope.yaml", dir + "/ok.sh"}, Options{})
	errs := strings.ReplaceAll(errorsOf(res), dir+"/", "")
	want := "notes.txt: not a recognised configuration format\nimage.bin: binary file\nfifo: not a regular file (named pipe)\nnope.yaml: no such file or directory"
	if errs != want {
		t.Errorf("errors:\n%s\nwant:\n%s", errs, want)
	}
	if len(res.Workloads) != 1 || res.Workloads[0].Name != "z" {
		t.Errorf("workloads %+v", res.Workloads)
	}
}

// TestUnreadable runs Collect as an unprivileged user (root reads
// everything) in a child process: the mode-000 file is reported as
// unreadable, the readable one is still audited.
func TestUnreadable(t *testing.T) {
	if os.Getenv("CAPDROP_UNREADABLE_CHILD") != "" {
		res := Collect([]string{os.Getenv("CAPDROP_UNREADABLE_CHILD")}, Options{})
		fmt.Printf("workloads=%d\n%s\n", len(res.Workloads), errorsOf(res))
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to start a child as another user")
	}
	dir, err := os.MkdirTemp("", "capdrop-unreadable")
	must(t, err)
	defer os.RemoveAll(dir)
	must(t, os.Chmod(dir, 0o755))
	write(t, dir+"/secret.sh", "docker run --privileged s\n")
	must(t, os.Chmod(dir+"/secret.sh", 0o000))
	write(t, dir+"/open.sh", "docker run --privileged o\n")
	// The test binary may sit in a directory only root can enter: copy it.
	self, err := os.ReadFile(os.Args[0])
	must(t, err)
	bin := dir + "/source.test"
	must(t, os.WriteFile(bin, self, 0o755))
	cmd := exec.Command(bin, "-test.run=^TestUnreadable$")
	cmd.Env = append(os.Environ(), "CAPDROP_UNREADABLE_CHILD="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "workloads=1\n"+dir+"/secret.sh: cannot read: permission denied") {
		t.Errorf("child output:\n%s", out)
	}
}
