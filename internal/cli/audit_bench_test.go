package cli

import (
	"context"
	"io"
	"testing"

	"github.com/capdrop/capdrop/internal/corpus"
	"github.com/capdrop/capdrop/internal/term"
)

// BenchmarkAuditCorpus audits a generated corpus of Kubernetes manifests
// and compose files end to end (read, parse, compute, judge, render JSON).
// docs/benchmarks.md records the comparison with Trivy on 10,000 files.
func BenchmarkAuditCorpus(b *testing.B) {
	dir := b.TempDir()
	st, err := corpus.Write(dir, 1000, 1)
	if err != nil {
		b.Fatal(err)
	}
	s := &term.Streams{In: nil, Out: io.Discard, ErrOut: io.Discard}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if code := Main(context.Background(), []string{"audit", "-o", "json", "--fail-on", "never", dir}, s); code != 0 {
			b.Fatalf("exit %d", code)
		}
	}
	b.ReportMetric(float64(st.Files*b.N)/b.Elapsed().Seconds(), "files/s")
}
