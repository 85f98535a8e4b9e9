package compose

import (
	"os"
	"testing"
)

func FuzzCompose(f *testing.F) {
	for _, n := range []string{"testdata/docker-compose.yml", "testdata/bad.yml"} {
		if data, err := os.ReadFile(n); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("services:\n  a: &x {cap_add: [A], <<: *x}\n  b: {extends: a, privileged: ${P:-yes}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ws, errs := Parse("f.yml", data, Options{Env: map[string]string{"P": "true"}})
		for _, w := range ws {
			if w.Pos.Line < 1 || w.CapsPos == nil {
				t.Fatalf("bad workload %+v", w)
			}
		}
		for _, e := range errs {
			if e.Pos.File != "f.yml" {
				t.Fatalf("error without file %v", e)
			}
		}
	})
}
