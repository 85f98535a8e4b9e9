package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/internal/term"
)

// Tests for `capdrop run`. The in-process ones go through Main; the
// end-to-end ones (run_linux_test.go) run the real capdrop binary, because
// signals, exit statuses, network namespaces and set-user-ID bits are about
// processes.

func runMain(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	s, out, errOut := term.Test("")
	code = Main(context.Background(), args, s)
	return out.String(), errOut.String(), code
}

func TestRunUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"run"}, "give the command to run"},
		{[]string{"run", "--cap-drop", "net_rw", "--", "true"}, `unknown capability "net_rw" (did you mean CAP_NET_RAW?)`},
		{[]string{"run", "--cap-add", "chown,bogus", "--", "true"}, `--cap-add: unknown capability "bogus"`},
		{[]string{"run", "--bogus", "--", "true"}, "unknown flag: --bogus"},
		{[]string{"run", "-o", "yaml", "--", "true"}, "--output must be one of text, json"},
	} {
		_, stderr, code := runMain(t, c.args...)
		if code != ExitRunFailed || !strings.Contains(stderr, c.msg) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", c.args, code, stderr, ExitRunFailed, c.msg)
		}
	}
}
