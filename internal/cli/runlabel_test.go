package cli

import (
	"strings"
	"testing"
)

func TestRunlabelUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"runlabel"}, "requires at least 1 arg(s)"},
		{[]string{"runlabel", "-o", "yaml", "img"}, "--output must be one of text, json"},
		{[]string{"runlabel", "--bogus", "img"}, "unknown flag: --bogus"},
	} {
		_, stderr, code := runMain(t, c.args...)
		if code != ExitUsage || !strings.Contains(stderr, c.msg) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", c.args, code, stderr, ExitUsage, c.msg)
		}
	}
}
