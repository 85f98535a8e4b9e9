package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/capdrop/capdrop/workload"
)

func TestDetect(t *testing.T) {
	for name, want := range map[string]Format{
		"Dockerfile": Dockerfile, "x/Containerfile": Dockerfile, "Dockerfile.prod": Dockerfile, "api.Dockerfile": Dockerfile,
		"docker-compose.yml": Compose, "compose.yaml": Compose, "docker-compose.override.yml": Compose, "compose.prod.yaml": Compose,
		"Makefile": Makefile, "rules.mk": Makefile, "web.container": Quadlet, "app.service": Unit,
		"README.md": Markdown, "run.sh": Script, "k8s/deploy.yaml": YAML, "config.json": JSON, "notes.txt": Unknown,
	} {
		if got := DetectName(name); got != want {
			t.Errorf("DetectName(%q) = %q, want %q", name, got, want)
		}
	}
	for content, want := range map[string]Format{
		"#!/bin/bash\ndocker run x":     Script,
		"#!/usr/bin/env sh\n":           Script,
		"[Container]\nImage=x\n":        Quadlet,
		"[Unit]\n[Service]\nExecStart=": Unit,
		"  [{\"Id\": 1}]":               JSON,
		"# comment\nFROM alpine\n":      Dockerfile,
		"apiVersion: v1\nkind: Pod\n":   YAML,
		"services:\n  a: {}\n":          YAML,
		"Intro\n```sh\ndocker run x\n":  Markdown,
		"docker run x":                  Unknown,
	} {
		if got := Sniff([]byte(content)); got != want {
			t.Errorf("Sniff(%q) = %q, want %q", content, got, want)
		}
	}
}

// TestExamples reads the bundled examples: every format yields workloads,
// none reports an error, and the one placeholder in the README is a
// warning.
func TestExamples(t *testing.T) {
	res := Collect([]string{"../examples/configs"}, Options{Env: map[string]string{}})
	warnings := 0
	for _, e := range res.Errors {
		if !e.Warning {
			t.Errorf("error: %v", e)
			continue
		}
		warnings++
		if want := "../examples/configs/README.md:19:1: a run command with the placeholder <image>, not audited"; e.Error() != want {
			t.Errorf("warning: %v, want %s", e, want)
		}
	}
	if warnings != 1 {
		t.Errorf("%d warnings, want 1", warnings)
	}
	perFile := map[string]int{}
	for _, w := range res.Workloads {
		perFile[filepath.Base(w.Pos.File)]++
	}
	entries, _ := os.ReadDir("../examples/configs")
	for _, e := range entries {
		if perFile[e.Name()] == 0 {
			t.Errorf("%s: no workloads", e.Name())
		}
	}
	if res.Files != len(entries) || res.Skipped != 0 {
		t.Errorf("files %d skipped %d, want %d and 0", res.Files, res.Skipped, len(entries))
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func errorsOf(res Result) string {
	var out []string
	for _, e := range res.Errors {
		out = append(out, e.Error())
	}
	return strings.Join(out, "\n")
}

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
	} {
		if !strings.Contains(errs, w) {
			t.Errorf("missing error %q in:\n%s", w, errs)
		}
	}
	if n := len(res.Errors); n != 6 {
		t.Errorf("%d errors, want 6:\n%s", n, errs)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
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

// TestReader reads content from readers, as audit does with standard
// input: detected by content, and read as shell when it is nothing else.
func TestReader(t *testing.T) {
	for _, c := range []struct{ in, name string }{
		{"docker run --cap-add NET_RAW pinger\n", "pinger"},
		{"services:\n  s:\n    image: i\n", "s"},
		{"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: i}]}\n", "Pod/p/c"},
	} {
		var res Result
		err := Walk(context.Background(), []Input{{Reader: strings.NewReader(c.in)}}, Options{}, func(r Result) error {
			res.add(r)
			return nil
		})
		if err != nil || len(res.Workloads) != 1 || res.Workloads[0].Name != c.name || res.Workloads[0].Pos.File != StdinName || len(res.Errors) != 0 || res.Files != 1 {
			t.Errorf("%q: %v %+v %v", c.in, err, res.Workloads, res.Errors)
		}
	}
}

// TestWalkStops: a cancelled walk returns the context's error and emits
// nothing more, also while a reader never ends; emit's error stops it too.
func TestWalkStops(t *testing.T) {
	dir := t.TempDir()
	for i := range 50 {
		write(t, fmt.Sprintf("%s/%02d/compose.yaml", dir, i), "services:\n  web:\n    image: x\n")
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	stop := errors.New("stop")
	emitted := 0
	err := Walk(ctx, Paths(dir), Options{}, func(r Result) error {
		emitted++
		if emitted == 3 {
			cancel(stop)
		}
		return nil
	})
	if !errors.Is(err, stop) || emitted >= 50 {
		t.Errorf("cancelled walk: err %v after %d files", err, emitted)
	}

	pr, pw := io.Pipe() // a reader that never ends
	defer pw.Close()
	ctx, cancel2 := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Walk(ctx, []Input{{Reader: pr}}, Options{}, func(Result) error { return nil }) }()
	cancel2()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("blocked reader: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("a cancelled walk waited for its reader")
	}

	emitted = 0
	err = Walk(context.Background(), Paths(dir), Options{}, func(Result) error {
		emitted++
		return stop
	})
	if !errors.Is(err, stop) || emitted != 1 {
		t.Errorf("emit error: %v after %d", err, emitted)
	}
}

// TestHostileYAML: an alias bomb and deeply nested documents finish with
// an error, in bounded time and memory, and the next document is still
// read.
func TestHostileYAML(t *testing.T) {
	var bomb strings.Builder
	bomb.WriteString("apiVersion: v1\nkind: Pod\nmetadata: {name: bomb}\nx0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i < 30; i++ {
		fmt.Fprintf(&bomb, "x%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	bomb.WriteString("spec:\n  containers: *a29\n")
	// Merge keys that fan out the same way.
	var merges strings.Builder
	merges.WriteString("m0: &m0 {k: v}\n")
	for i := 1; i < 40; i++ {
		fmt.Fprintf(&merges, "m%d: &m%d {<<: [*m%d, *m%d, *m%d, *m%d], k%d: v}\n", i, i, i-1, i-1, i-1, i-1, i)
	}
	merges.WriteString("services:\n  web:\n    <<: *m39\n    image: x\n")
	deep := "apiVersion: v1\nkind: Pod\nspec: " + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + "\n"
	deepJSON := `{"apiVersion": "v1", "kind": "Pod", "spec": ` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + "}"
	good := "---\napiVersion: v1\nkind: Pod\nmetadata: {name: ok}\nspec: {containers: [{name: c, image: i}]}\n"
	for name, doc := range map[string]string{"bomb.yaml": bomb.String() + good, "compose.yaml": merges.String(), "deep.yaml": deep + good, "deep.json": deepJSON} {
		t.Run(name, func(t *testing.T) {
			done := make(chan struct{})
			var ws []workload.Workload
			var errs []*workload.Error
			go func() { ws, errs = Parse(name, []byte(doc), Options{}); close(done) }()
			select {
			case <-done:
			case <-time.After(2 * time.Minute):
				t.Fatal("did not finish")
			}
			if len(errs) == 0 && name != "compose.yaml" {
				t.Errorf("no error")
			}
			for _, e := range errs {
				t.Log(e)
			}
			if strings.HasSuffix(name, ".yaml") && name != "compose.yaml" && (len(ws) != 1 || ws[0].Name != "Pod/ok/c") {
				t.Errorf("the good document after it: %+v", ws)
			}
			if name == "compose.yaml" && (len(errs) != 1 || !strings.Contains(errs[0].Error(), "budget")) {
				t.Errorf("merge bomb: %v", errs)
			}
		})
	}
}
