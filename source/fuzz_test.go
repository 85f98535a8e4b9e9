package source

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzDetect feeds any content under any name through detection and every
// parser behind it.
func FuzzDetect(f *testing.F) {
	files, _ := filepath.Glob("../examples/configs/*")
	for _, n := range files {
		if data, err := os.ReadFile(n); err == nil {
			f.Add(filepath.Base(n), data)
		}
	}
	f.Add("x", []byte("#!/bin/sh\ndocker run -it x\n"))
	f.Add("y.json", []byte(`{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Pod","spec":{"containers":[{}]}}]}`))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		ws, errs := Parse(name, data, Options{Env: map[string]string{}})
		for _, w := range ws {
			if w.Kind == "" || w.Runtime == "" {
				t.Fatalf("bad workload %+v", w)
			}
		}
		for _, e := range errs {
			if e.Err == nil {
				t.Fatal("nil error")
			}
		}
	})
}
