package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/capdrop/capdrop/internal/term"
	"github.com/capdrop/capdrop/shadow"
)

// ShadowHeader writes what k8s verify proves, on what, and how shadows
// differ from the workload's Pods.
func (t Text) ShadowHeader(w io.Writer, res *shadow.Result) {
	p := t.pal()
	verb := "verify"
	if res.Minimized {
		verb = "minimize"
	}
	fmt.Fprintf(w, "%s %s (image %s), shadow Pods labelled %s=%s\n", p.Bold(verb), res.Target, res.Target.Image, shadow.LabelSession, res.Session)
	start := namesSet(res.Start)
	tab := term.Table{}
	const col = 11
	tab.Row("  check", t.clip(res.Check, col))
	tab.Row("  start", t.clip(fmt.Sprintf("%s (%d) from %s", Summarize(start), start.Len(), res.StartFrom), col))
	for _, n := range res.Target.Notes {
		tab.Row("  note", t.clip(n, col))
	}
	for _, n := range res.Target.Warnings {
		tab.Row("  "+p.Yellow("warning"), t.clip(n, col))
	}
	_ = tab.Render(w)
	fmt.Fprintf(w, "\n  %3s  %-7s  %-4s  %6s  %s\n", "#", "phase", "", "time", "capabilities")
}

// ShadowRun writes one shadow's trial.
func (t Text) ShadowRun(w io.Writer, r shadow.Trial) {
	p := t.pal()
	verdict := p.Green("pass")
	if !r.Passed {
		verdict = p.Red("fail")
	}
	set := namesSet(r.Caps)
	const indent = "                             "
	fmt.Fprintf(w, "  %3d  %-7s  %s  %6s  %s\n", r.N, r.Phase, verdict, seconds(r.DurationMS),
		t.clip(fmt.Sprintf("%s (%d)", Summarize(set), set.Len()), len(indent)))
	if !r.Passed {
		fmt.Fprintln(w, indent+p.Dim(t.clip(r.Reason, len(indent))))
	}
}

// ShadowSummary writes the verdict, the set, what was removed, the runs,
// and how to apply the set.
func (t Text) ShadowSummary(w io.Writer, res *shadow.Result) error {
	p := t.pal()
	set := namesSet(res.Set)
	fmt.Fprintln(w)
	if res.Passed {
		fmt.Fprintf(w, "%s  %s\n", p.Green(p.Bold("PASS")), setLine(set))
	} else {
		fmt.Fprintf(w, "%s  %s\n", p.Red(p.Bold("FAIL")), setLine(set))
	}
	fmt.Fprintf(w, "%s\n", t.wrapIndent(res.Message, "  "))
	tab := term.Table{}
	if res.Minimized {
		if len(res.Removed) > 0 {
			tab.Row("  removed", fmt.Sprintf("%d: %s", len(res.Removed), strings.Join(namesSet(res.Removed).ShortNames(), ", ")))
		}
		s := res.Stats
		tab.Row("  shadows", fmt.Sprintf("%d (%d start, %d search, %d confirm); %d predicted, %d cached; every subset would be %.0f",
			s.Runs, s.Start, s.Search, s.Confirm, s.Predicted, s.Cached, s.AllSubsets))
	} else {
		tab.Row("  shadows", fmt.Sprint(len(res.Runs)))
	}
	for _, f := range res.Flaky {
		tab.Row("  "+p.Yellow("flaky"), fmt.Sprintf("%s passed %d, failed %d", Summarize(namesSet(f.Set)), f.Passes, f.Fails))
	}
	if len(res.Left) > 0 {
		tab.Row("  "+p.Red("left"), strings.Join(res.Left, ", "))
	}
	if err := tab.Render(w); err != nil {
		return err
	}
	if res.Passed {
		fmt.Fprintf(w, "  apply: capabilities: {drop: [ALL], add: [%s]} (capdrop fix FILE --from this result -o json)\n", strings.Join(set.ShortNames(), ", "))
	}
	return nil
}
