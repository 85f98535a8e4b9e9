package corpus

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/capdrop/capdrop/source"
)

// TestCorpusAudits checks that every generated file parses and that the
// sources find exactly the containers the generator wrote.
func TestCorpusAudits(t *testing.T) {
	dir := t.TempDir()
	st, err := Write(dir, 300, 7)
	if err != nil {
		t.Fatal(err)
	}
	res := source.Collect([]string{dir}, source.Options{Env: map[string]string{}})
	if len(res.Errors) != 0 {
		t.Fatalf("errors: %v", res.Errors[0])
	}
	if res.Files != st.Files || res.Skipped != 0 || len(res.Workloads) != st.Containers {
		t.Errorf("files %d skipped %d workloads %d; generator wrote %d files, %d containers",
			res.Files, res.Skipped, len(res.Workloads), st.Files, st.Containers)
	}
}

// TestCollectOrderIsStable checks that reading files in parallel still
// yields workloads in path order, the same on every run.
func TestCollectOrderIsStable(t *testing.T) {
	dir := t.TempDir()
	if _, err := Write(dir, 200, 3); err != nil {
		t.Fatal(err)
	}
	key := func(r source.Result) []string {
		var k []string
		for _, w := range r.Workloads {
			k = append(k, w.Pos.String()+" "+w.Name)
		}
		return k
	}
	first := source.Collect([]string{dir}, source.Options{Env: map[string]string{}})
	files := []string{}
	for _, w := range first.Workloads {
		if len(files) == 0 || files[len(files)-1] != w.Pos.File {
			files = append(files, w.Pos.File)
		}
	}
	if !slices.IsSortedFunc(files, func(a, b string) int { return compareWalk(a, b) }) {
		t.Error("workloads are not in path order")
	}
	for range 3 {
		if again := source.Collect([]string{dir}, source.Options{Env: map[string]string{}}); !slices.Equal(key(first), key(again)) {
			t.Fatal("two runs gave workloads in different orders")
		}
	}
}

// compareWalk orders paths as a sorted directory walk visits them.
func compareWalk(a, b string) int {
	return slices.Compare(splitPath(a), splitPath(b))
}

func splitPath(p string) []string {
	var parts []string
	for p != "." && p != "/" && p != "" {
		d, f := filepath.Split(filepath.Clean(p))
		parts = append([]string{f}, parts...)
		p = d
	}
	return parts
}

func BenchmarkCollect(b *testing.B) {
	dir := b.TempDir()
	st, err := Write(dir, 2000, 1)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res := source.Collect([]string{dir}, source.Options{Env: map[string]string{}})
		if len(res.Workloads) != st.Containers {
			b.Fatal("wrong count")
		}
	}
	b.ReportMetric(float64(st.Files*b.N)/b.Elapsed().Seconds(), "files/s")
}
