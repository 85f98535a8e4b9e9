package auditcorpus

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestGenerateIsReproducibleYAML(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	pa, err := Generate(a, 300, 7)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := Generate(b, 300, 7)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for i := range pa {
		x, _ := os.ReadFile(pa[i])
		y, _ := os.ReadFile(pb[i])
		if !bytes.Equal(x, y) {
			t.Fatalf("%s differs between two runs with the same seed", filepath.Base(pa[i]))
		}
		dec := yaml.NewDecoder(bytes.NewReader(x))
		for {
			var doc struct{ Kind string }
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v\n%s", pa[i], err, x)
			}
			kinds[doc.Kind]++
		}
	}
	if len(kinds) != len(kindsList()) { // every workload kind appears
		t.Errorf("kinds generated: %v, want all of %v", kinds, kindsList())
	}
}

func kindsList() []string { return kinds }
