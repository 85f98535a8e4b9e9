package picture

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/capdrop/capdrop/audit"
	"github.com/capdrop/capdrop/fleet"
	"github.com/capdrop/capdrop/internal/corpus"
	"github.com/capdrop/capdrop/report"
	"github.com/capdrop/capdrop/source"
)

// bigFleet is a fleet of exactly n containers: the audit of capdrop's
// generated corpus of Kubernetes manifests and compose files (the one the
// audit benchmark reads), cut to the first n workloads.
func bigFleet(b *testing.B, n int) *fleet.Fleet {
	b.Helper()
	dir := b.TempDir()
	st, err := corpus.Write(dir, n, 1)
	if err != nil {
		b.Fatal(err)
	}
	if st.Containers < n {
		b.Fatalf("the corpus has %d containers, want at least %d", st.Containers, n)
	}
	res, err := audit.Run(context.Background(), []source.Input{{Path: dir}}, audit.Options{})
	if err != nil {
		b.Fatal(err)
	}
	doc := report.NewAuditDoc(report.Audit{Report: &res.Report, Errors: res.Errors, Files: res.Files})
	doc.Workloads = doc.Workloads[:n]
	var kept []report.AuditFinding
	for _, f := range doc.Findings {
		if f.WorkloadIdx < n {
			kept = append(kept, f)
		}
	}
	doc.Findings = kept
	var bld fleet.Builder
	bld.AddAuditDoc(doc)
	return bld.Build(fmt.Sprintf("%d containers", n), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
}

// BenchmarkBrowser loads a page of 5,000 containers in chromium and
// measures, in the page's own clock, how long it takes to be ready and how
// long a search, a capability filter and "unused only" take to redraw.
// The times include two animation frames (the redraw on screen). Not a timed
// test: the figures are recorded in docs/benchmarks.md, with the machine's
// load average, which decides them on a shared machine.
//
// It runs for 50 containers too, in the same run: the ratio of the two says
// what the fleet's size costs (virtualised rows keep a redraw the same).
func BenchmarkBrowser(b *testing.B) {
	for _, n := range []int{50, 5000} {
		b.Run(fmt.Sprintf("containers=%d", n), func(b *testing.B) { benchBrowser(b, n) })
	}
}

func benchBrowser(b *testing.B, n int) {
	f := bigFleet(b, n)
	if len(f.Containers) != n {
		b.Fatalf("%d containers, want %d", len(f.Containers), n)
	}
	var page bytes.Buffer
	start := time.Now()
	if err := HTML(&page, f, HTMLOptions{Version: "bench"}); err != nil {
		b.Fatal(err)
	}
	renderGo := time.Since(start)
	path := filepath.Join(b.TempDir(), "report.html")
	if err := os.WriteFile(path, page.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	type timing struct {
		Ready   float64 `json:"ready"`
		Search  float64 `json:"search"`
		Cap     float64 `json:"cap"`
		Unused  float64 `json:"unused"`
		Scroll  float64 `json:"scroll"`
		Rows    int     `json:"rows"`
		Matches int     `json:"matches"`
	}
	var sum timing
	for i := 0; i < b.N; i++ {
		s := newSession(b, true)
		if err := chromedp.Do(s.ctx, chromedp.Navigate("file://"+path),
			chromedp.WaitVisible(chromedp.CSS(`html[data-ready="true"]`))); err != nil {
			b.Fatal(err)
		}
		raw, err := chromedp.Run(s.ctx, chromedp.Evaluate[[]byte](`(async () => {
			const frame = () => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
			const time = async (f) => { const t0 = performance.now(); f(); await frame(); return performance.now() - t0; };
			const set = (id, v) => { const el = document.getElementById(id); if (el.type === 'checkbox') el.checked = v; else el.value = v; el.dispatchEvent(new Event('change')); };
			const out = {ready: performance.getEntriesByName('capdrop-ready')[0].startTime};
			out.search = await time(() => set('q', 'team0'));
			out.matches = +document.getElementById('count').textContent.split(' ')[1];
			set('q', '');
			out.cap = await time(() => set('cap', '0'));
			set('cap', '');
			out.unused = await time(() => set('unused', true));
			set('unused', false);
			const sc = document.getElementById('scroller');
			out.scroll = await time(() => { sc.scrollTop = sc.scrollHeight / 2; });
			out.rows = document.querySelectorAll('#vrows tr[role=row]').length;
			return JSON.stringify(out);
		})()`, chromedp.EvalAwaitPromise))
		if err != nil {
			b.Fatal(err)
		}
		var str string
		if err := json.Unmarshal(raw, &str); err != nil {
			b.Fatal(err)
		}
		var t timing
		if err := json.Unmarshal([]byte(str), &t); err != nil {
			b.Fatal(err)
		}
		load, _ := os.ReadFile("/proc/loadavg")
		b.Logf("%s; load average %s", str, bytes.TrimSpace(load))
		if t.Matches == 0 || t.Matches == n || t.Rows == 0 || t.Rows > 200 || (n > 200 && t.Rows > 100) {
			b.Fatalf("the page did not filter or virtualise: %+v", t)
		}
		sum.Ready += t.Ready
		sum.Search += t.Search
		sum.Cap += t.Cap
		sum.Unused += t.Unused
		sum.Scroll += t.Scroll
		sum.Rows = t.Rows
	}
	k := float64(b.N)
	b.ReportMetric(sum.Ready/k, "load-ms")
	b.ReportMetric(sum.Search/k, "search-ms")
	b.ReportMetric(sum.Cap/k, "capfilter-ms")
	b.ReportMetric(sum.Unused/k, "unused-ms")
	b.ReportMetric(sum.Scroll/k, "scroll-ms")
	b.ReportMetric(float64(sum.Rows), "rows-drawn")
	b.ReportMetric(float64(page.Len())/float64(n), "bytes/container")
	b.ReportMetric(float64(renderGo.Milliseconds()), "go-render-ms")
}
