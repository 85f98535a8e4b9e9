package corpus

import (
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
