package source

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/source/internal/tree"
)

// TestLargeHonestCompose reads a compose file of 160,000 services (more
// than one document's old flat budget allowed, which called it an alias
// bomb): every service is read and nothing is reported.
func TestLargeHonestCompose(t *testing.T) {
	var b strings.Builder
	b.WriteString("x-defaults: &defaults\n  cap_drop: [ALL]\n  security_opt: [no-new-privileges:true]\nservices:\n")
	const n = 160000
	for i := range n {
		if i%1000 == 0 {
			// Some services merge shared defaults, as real files do.
			fmt.Fprintf(&b, "  s%d:\n    <<: *defaults\n    image: app:%d\n", i, i)
			continue
		}
		fmt.Fprintf(&b, "  s%d: {image: a}\n", i)
	}
	ws, errs := Parse("compose.yaml", []byte(b.String()), Options{Env: map[string]string{}})
	if len(ws) != n || len(errs) != 0 {
		t.Fatalf("%d workloads, errors %v", len(ws), errs)
	}
	if w := ws[1000]; len(w.CapDrop) != 1 || w.NoNewPrivs == nil {
		t.Errorf("merged defaults lost: %+v", w)
	}
}

// TestBombStream reads one file holding many small alias and merge bombs,
// each a document of its own, then an honest document: each bomb ends in
// an error naming the budgets it exceeded, and the honest document is
// read. The whole file costs no more than its size allows: the budgets
// are per document, per file and per run, not a fresh flat one for
// every document.
func TestBombStream(t *testing.T) {
	var bomb strings.Builder
	bomb.WriteString("apiVersion: v1\nkind: Pod\nmetadata: {name: bomb}\nx0: &a0 [l, l, l, l, l, l, l, l, l]\n")
	for i := 1; i < 12; i++ {
		fmt.Fprintf(&bomb, "x%d: &a%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 9), ", "))
	}
	bomb.WriteString("spec:\n  containers: *a11\n")
	var stream strings.Builder
	const n = 2000
	for range n {
		stream.WriteString("---\n" + bomb.String())
	}
	stream.WriteString("---\napiVersion: v1\nkind: Pod\nmetadata: {name: ok}\nspec: {containers: [{name: c, image: i}]}\n")
	var got []string
	var budget int
	err := Walk(t.Context(), []Input{{Reader: strings.NewReader(stream.String()), Name: "stream.yaml"}}, Options{}, func(r Result) error {
		for _, w := range r.Workloads {
			got = append(got, w.Name)
		}
		for _, e := range r.Errors {
			var be *tree.BudgetError
			if errors.As(e, &be) {
				budget++
				if be.Limit == 0 || be.File != tree.FilePool || be.Run != tree.DefaultAllowance ||
					!strings.Contains(e.Error(), "stream.yaml:") || !strings.Contains(e.Error(), "node visits") {
					t.Errorf("budget error %v names no budget or file", e)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if budget != n || strings.Join(got, " ") != "Pod/ok/c" {
		t.Errorf("%d budget errors (want %d), workloads %q", budget, n, got)
	}
}
