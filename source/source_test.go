package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
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

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
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
