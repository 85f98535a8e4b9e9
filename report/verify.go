package report

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/fix"
	"github.com/capdrop/capdrop/internal/term"
	"github.com/capdrop/capdrop/verify"
)

// Verify writes a whole verification as text: the header, every run, the
// conclusion. The command prints the same parts live, as runs finish.
func (t Text) Verify(w io.Writer, res *verify.Result) error {
	t.VerifyHeader(w, res)
	for _, r := range res.Runs {
		t.VerifyRun(w, r)
	}
	return t.VerifySummary(w, res)
}

// VerifyHeader writes what is verified, how it is judged and where the
// starting set came from.
func (t Text) VerifyHeader(w io.Writer, res *verify.Result) {
	p := t.pal()
	start := namesSet(res.Start)
	verb := "verify"
	if res.Minimized {
		verb = "minimize"
	}
	fmt.Fprintf(w, "%s %s\n", p.Bold(verb), t.clip(res.Target.Source, len(verb)+1))
	tab := term.Table{}
	const col = 9 // where the values start
	tab.Row("  check", t.clip(res.Check, col))
	tab.Row("  start", t.clip(fmt.Sprintf("%s (%d) from %s", Summarize(start), start.Len(), res.StartFrom), col))
	for _, n := range res.Target.Notes {
		tab.Row("  note", t.clip(n, col))
	}
	_ = tab.Render(w)
	fmt.Fprintf(w, "\n  %3s  %-7s  %-4s  %6s  %s\n", "#", "phase", "", "time", "capabilities")
}

// VerifyRun writes one run: its number, phase, verdict, duration and set,
// and for a failure the reason on the next line.
func (t Text) VerifyRun(w io.Writer, r verify.Trial) {
	p := t.pal()
	verdict := p.Green("pass")
	if !r.Passed {
		verdict = p.Red("fail")
	}
	set := namesSet(r.Caps)
	const indent = "                             " // under the set column
	fmt.Fprintf(w, "  %3d  %-7s  %s  %6s  %s\n", r.N, r.Phase, verdict, seconds(r.DurationMS),
		t.clip(fmt.Sprintf("%s (%d)", Summarize(set), set.Len()), len(indent)))
	if !r.Passed {
		fmt.Fprintln(w, indent+p.Dim(t.clip(r.Reason, len(indent))))
	}
}

// VerifySummary writes the conclusion: the verdict and set, what was
// removed, the counts, flaky sets, the evidence of the deciding run and how
// to apply the set.
func (t Text) VerifySummary(w io.Writer, res *verify.Result) error {
	p := t.pal()
	set := namesSet(res.Set)
	fmt.Fprintln(w)
	switch {
	case res.Passed:
		fmt.Fprintf(w, "%s  %s\n", p.Green(p.Bold("PASS")), setLine(set))
	default:
		fmt.Fprintf(w, "%s  %s\n", p.Red(p.Bold("FAIL")), setLine(set))
	}
	fmt.Fprintf(w, "%s\n", t.wrapIndent(res.Message, "  "))
	tab := term.Table{}
	if res.Minimized {
		if len(res.Removed) > 0 {
			tab.Row("  removed", fmt.Sprintf("%d: %s", len(res.Removed), strings.Join(namesSet(res.Removed).ShortNames(), ", ")))
		}
		s := res.Stats
		tab.Row("  runs", fmt.Sprintf("%d (%d start, %d search, %d confirm); %d predicted, %d cached; every subset would be %.0f",
			s.Runs, s.Start, s.Search, s.Confirm, s.Predicted, s.Cached, s.AllSubsets))
	} else {
		tab.Row("  runs", fmt.Sprint(res.Stats.Runs))
	}
	for _, f := range res.Flaky {
		tab.Row("  "+p.Yellow("flaky"), fmt.Sprintf("%s passed %d, failed %d", Summarize(namesSet(f.Set)), f.Passes, f.Fails))
	}
	if err := tab.Render(w); err != nil {
		return err
	}
	if ev := evidence(res); ev != nil {
		fmt.Fprintf(w, "  evidence (run %d): %s\n", ev.N, ev.Reason)
		if ev.ExitCode != nil && !strings.Contains(ev.Reason, "code") {
			fmt.Fprintf(w, "    exit code %d\n", *ev.ExitCode)
		}
		if ev.Probe != "" {
			fmt.Fprintf(w, "%s\n", t.wrapIndent("probe: "+ev.Probe, "    "))
		}
		if logs := strings.TrimRight(ev.Logs, "\n"); logs != "" {
			fmt.Fprintln(w, "    logs:")
			for _, l := range strings.Split(logs, "\n") {
				fmt.Fprintln(w, "      "+t.clip(l, 6))
			}
		}
	}
	if res.Passed {
		fmt.Fprintf(w, "  apply: %s\n", t.clip(dockerFlags(set), 9))
	}
	return nil
}

// evidence is the run that decided the verdict: the last run of the final
// set.
func evidence(res *verify.Result) *verify.Trial {
	want := strings.Join(res.Set, ",")
	for i := len(res.Runs) - 1; i >= 0; i-- {
		if strings.Join(res.Runs[i].Caps, ",") == want {
			return &res.Runs[i]
		}
	}
	return nil
}

func setLine(s capset.Set) string {
	if s.IsEmpty() {
		return "no capabilities"
	}
	return fmt.Sprintf("%s (%d)", strings.Join(s.Names(), " "), s.Len())
}

// dockerFlags is the set as docker run flags.
func dockerFlags(s capset.Set) string { return fix.Snippet(fix.Script, s) }

// namesSet turns canonical names back into a set (they came from one).
func namesSet(names []string) capset.Set {
	var s capset.Set
	for _, n := range names {
		if c, err := capset.Parse(n); err == nil {
			s = s.With(c)
		}
	}
	return s
}

func seconds(ms int64) string {
	return fmt.Sprintf("%.1fs", (time.Duration(ms) * time.Millisecond).Seconds())
}

// clip truncates plain text that starts at column col to the terminal
// width (when on a terminal).
func (t Text) clip(s string, col int) string {
	if t.Width <= 0 {
		return s
	}
	return term.Truncate(s, max(t.Width-col, 10))
}

func (t Text) wrapIndent(s, indent string) string {
	return term.WrapHanging(s, t.wrapWidth(), indent, indent+"  ")
}
