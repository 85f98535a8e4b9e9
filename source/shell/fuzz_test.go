package shell

import (
	"os"
	"path/filepath"
	"testing"
)

func FuzzShell(f *testing.F) {
	formats := map[string]Format{".sh": Script, ".service": Unit, "": Makefile, ".md": Markdown}
	files, _ := filepath.Glob("testdata/*")
	for _, n := range files {
		if data, err := os.ReadFile(n); err == nil {
			f.Add(data, uint8(formats[filepath.Ext(n)]))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, format uint8) {
		ws, _ := Parse("f", data, Format(format%4))
		for _, w := range ws {
			if w.Pos.Line < 1 || w.Image == "" && w.Name == "" {
				t.Fatalf("bad workload %+v", w)
			}
		}
	})
}
