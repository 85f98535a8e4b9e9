package kube

import (
	"os"
	"path/filepath"
	"testing"
)

func FuzzKube(f *testing.F) {
	files, _ := filepath.Glob("testdata/*")
	for _, n := range files {
		if data, err := os.ReadFile(n); err == nil {
			f.Add(data, filepath.Ext(n) == ".json")
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, isJSON bool) {
		ws, errs := Parse("f", data, isJSON, "")
		for _, w := range ws {
			if w.Pos.Line < 1 || w.CapsPos == nil || w.Runtime == "" {
				t.Fatalf("bad workload %+v", w)
			}
		}
		for _, e := range errs {
			if e.Pos.File != "f" || e.Err == nil {
				t.Fatalf("bad error %v", e)
			}
		}
	})
}
