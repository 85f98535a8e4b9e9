package vmtest

import (
	"reflect"
	"strings"
	"testing"
	"unicode"
)

func TestParseReport(t *testing.T) {
	fields, err := ParseReport(strings.NewReader("hooks=kprobe+fentry\n\nargs=cred,ns,cap,opts\nbad line\nx=has space\nmechanism=fexit\n"))
	want := []Field{{"hooks", "kprobe+fentry"}, {"args", "cred,ns,cap,opts"}, {"mechanism", "fexit"}}
	if !reflect.DeepEqual(fields, want) {
		t.Errorf("fields = %v, want %v", fields, want)
	}
	if err == nil || !strings.Contains(err.Error(), `line 4: "bad line"`) || !strings.Contains(err.Error(), "line 5") {
		t.Errorf("error = %v, want one naming lines 4 and 5", err)
	}
}

func TestResultLine(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pass   bool
		fields []Field
		want   string
	}{
		{"mechanism first", true, []Field{{"args", "a,b"}, {"mechanism", "fexit"}, {"hooks", "kprobe"}},
			"CAPDROP-VMTEST-RESULT n1 PASS 6.1.0-1-amd64 fexit args=a,b hooks=kprobe"},
		{"hooks when no mechanism", true, []Field{{"hooks", "kprobe+fentry"}, {"tests", "3"}},
			"CAPDROP-VMTEST-RESULT n1 PASS 6.1.0-1-amd64 kprobe+fentry tests=3"},
		{"nothing reported", false, []Field{{"fail", "vmtest:no-tests"}},
			"CAPDROP-VMTEST-RESULT n1 FAIL 6.1.0-1-amd64 - fail=vmtest:no-tests"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ResultLine("n1", tc.pass, "6.1.0-1-amd64", tc.fields); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestOutcome(t *testing.T) {
	for _, tc := range []struct {
		name, output, problem string
	}{
		{"pass", "=== RUN   TestA\n--- PASS: TestA (0.01s)\n    --- PASS: TestA/sub (0.00s)\nPASS\n", ""},
		{"fail", "--- FAIL: TestA (0.01s)\n    --- PASS: TestA/x (0.00s)\n    --- FAIL: TestA/y (0.00s)\nFAIL\n",
			"failed=TestA,TestA/y"},
		{"skip", "--- PASS: TestA (0.01s)\n    --- SKIP: TestA/kprobe (0.00s)\n", ""},
		{"only skips", "--- SKIP: TestA (0.01s)\n", "no-tests"},
		{"no tests", "testing: warning: no tests to run\nPASS\n", "no-tests"},
		{"empty", "", "no-tests"},
		{"timeout", "=== RUN   TestA\npanic: test timed out after 1m0s\n\trunning tests:\n\t\tTestA (1m0s)\n", "timed-out"},
		{"panic", "=== RUN   TestA\npanic: runtime error: index out of range [recovered]\n", "panic"},
		{"panic in a failed test", "--- FAIL: TestA (0.00s)\npanic: boom [recovered]\n", "failed=TestA"},
		{"test output that looks like a verdict", "    x.go:1: --- FAIL: is just text\n--- PASS: TestA (0s)\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o Outcome
			for _, line := range strings.Split(tc.output, "\n") {
				o.Scan(line)
			}
			if got := o.Problem(); got != tc.problem {
				t.Errorf("Problem() = %q, want %q", got, tc.problem)
			}
		})
	}
}

func FuzzParseReport(f *testing.F) {
	f.Add("hooks=kprobe\nargs=a,b\n")
	f.Add("=\nk=\n\n x=y\n")
	f.Fuzz(func(t *testing.T, s string) {
		fields, _ := ParseReport(strings.NewReader(s))
		line := ResultLine("n", true, "k", fields)
		if strings.Contains(line, "\n") {
			t.Fatalf("result line has a newline: %q", line)
		}
		for _, fl := range fields {
			if !reportKey.MatchString(fl.Key) || strings.IndexFunc(fl.Value, unicode.IsSpace) >= 0 {
				t.Fatalf("bad field %q=%q from %q", fl.Key, fl.Value, s)
			}
		}
	})
}

func FuzzOutcomeScan(f *testing.F) {
	f.Add("--- PASS: TestA (0.00s)")
	f.Add("    --- SKIP: TestA/b (0.00s)")
	f.Add("--- FAIL: ")
	f.Fuzz(func(t *testing.T, line string) {
		var o Outcome
		o.Scan(line)
		if n := len(o.Passed) + len(o.Failed) + len(o.Skipped); n > 1 {
			t.Fatalf("one line gave %d verdicts", n)
		}
		for _, names := range [][]string{o.Passed, o.Failed, o.Skipped} {
			for _, name := range names {
				if name == "" || strings.ContainsAny(name, " \t") {
					t.Fatalf("bad test name %q from %q", name, line)
				}
			}
		}
	})
}
