package vmtest

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"unicode"
)

// Field is one key=value of a result line.
type Field struct {
	Key, Value string
}

// ParseReport reads the "key=value" lines tests appended with Report. A
// malformed line is skipped and named in the error; the rest is kept.
func ParseReport(r io.Reader) ([]Field, error) {
	var (
		fields []Field
		bad    []string
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || !reportKey.MatchString(k) || strings.IndexFunc(v, unicode.IsSpace) >= 0 {
			bad = append(bad, fmt.Sprintf("line %d: %q", n, line))
			continue
		}
		fields = append(fields, Field{k, v})
	}
	if err := sc.Err(); err != nil {
		return fields, fmt.Errorf("read report: %w", err)
	}
	if len(bad) > 0 {
		return fields, fmt.Errorf("report: malformed %s", strings.Join(bad, ", "))
	}
	return fields, nil
}

// ResultLine formats the init's one result line:
//
//	CAPDROP-VMTEST-RESULT <nonce> PASS|FAIL <kernel> <mechanism> [key=value...]
//
// The mechanism is the value of the field "mechanism", else of "hooks", else
// "-"; every other field follows in order.
func ResultLine(nonce string, pass bool, kernel string, fields []Field) string {
	verdict := "FAIL"
	if pass {
		verdict = "PASS"
	}
	mech := ""
	for _, k := range []string{"mechanism", "hooks"} {
		for _, f := range fields {
			if f.Key == k && mech == "" {
				mech = f.Value
			}
		}
	}
	if mech == "" {
		mech = "-"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s %s %s", ResultMarker, nonce, verdict, kernel, mech)
	for _, f := range fields {
		if f.Value == mech && (f.Key == "mechanism" || f.Key == "hooks") {
			continue
		}
		fmt.Fprintf(&b, " %s=%s", f.Key, f.Value)
	}
	return b.String()
}

// Outcome is what the verbose output (-test.v) of a test binary says.
type Outcome struct {
	Passed, Failed, Skipped []string
	// NoTests is set when the binary said its pattern matched no test.
	NoTests bool
	// TimedOut is set when the binary panicked at its -test.timeout.
	TimedOut bool
	// Panicked is set when the binary panicked for another reason.
	Panicked bool
}

// Scan reads one line of verbose test output.
func (o *Outcome) Scan(line string) {
	line = strings.TrimSpace(line)
	switch {
	case strings.HasPrefix(line, "testing: warning: no tests to run"):
		o.NoTests = true
		return
	case strings.HasPrefix(line, "panic: test timed out"):
		o.TimedOut = true
		return
	case strings.HasPrefix(line, "panic: "):
		o.Panicked = true
		return
	}
	rest, ok := strings.CutPrefix(line, "--- ")
	if !ok {
		return
	}
	verdict, rest, ok := strings.Cut(rest, ": ")
	if !ok {
		return
	}
	words := strings.Fields(rest)
	if len(words) == 0 {
		return
	}
	name := words[0]
	switch verdict {
	case "PASS":
		o.Passed = append(o.Passed, name)
	case "FAIL":
		o.Failed = append(o.Failed, name)
	case "SKIP":
		o.Skipped = append(o.Skipped, name)
	}
}

// Problem says why the outcome is not a pass ("" when it is one): a failed
// test, a timeout, a panic, or no test passed at all. Skips are not
// problems: a test that must run on a kernel fails there instead of
// skipping (vmtest.InGuest, kmatrix parameters), while one that does not
// apply to it may skip.
func (o *Outcome) Problem() string {
	switch {
	case o.TimedOut:
		return "timed-out"
	case o.Panicked && len(o.Failed) == 0:
		return "panic"
	case len(o.Failed) > 0:
		return "failed=" + strings.Join(o.Failed, ",")
	case o.NoTests || len(o.Passed) == 0:
		return "no-tests"
	}
	return ""
}
