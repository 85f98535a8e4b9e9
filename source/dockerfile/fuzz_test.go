package dockerfile

import (
	"os"
	"testing"
)

func FuzzDockerfile(f *testing.F) {
	if data, err := os.ReadFile("testdata/Dockerfile"); err == nil {
		f.Add(data)
	}
	f.Add([]byte("# escape=`\nFROM a AS b\nLABEL \"RUN\"='docker run `\n -u 0 IMAGE' x=\"y\\\"\"\nFROM b\nUSER 1\nRUN <<-EOT\n\tLABEL RUN=x\n\tEOT\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ws, _ := Parse("Dockerfile", data, Options{Vars: map[string]string{"IMAGE": "i"}})
		for _, w := range ws {
			if w.Pos.Line < 1 {
				t.Fatalf("bad workload %+v", w)
			}
		}
	})
}
