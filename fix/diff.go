package fix

import (
	"bytes"

	"github.com/rogpeppe/go-internal/diff"
)

// Unified returns a unified diff (the format of `diff -u`, which patch and
// git apply read) turning a into b, with three lines of context; "" when
// they are equal. Lines keep their own line breaks, so CRLF files diff as
// CRLF, and a last line without a break is marked the way diff marks it.
//
// The diff is the Go tools' own (go-internal/diff): an anchored diff that
// takes time in proportion to the texts, whatever they hold.
func Unified(aName, bName string, a, b []byte) string {
	d := diff.Diff(aName, a, bName, b)
	// It starts with a "diff a b" line that diff -u does not write.
	_, rest, _ := bytes.Cut(d, []byte("\n"))
	return string(rest)
}
