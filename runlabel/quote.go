package runlabel

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"mvdan.cc/sh/v3/syntax"
)

// Quote returns word written so that a POSIX shell reads it back as
// exactly that one word: unchanged when it needs no quoting, in single
// quotes when it is printable, and as a bash $'…' string when it holds
// control characters — so a label can never hide part of the command it
// runs behind terminal escape sequences or carriage returns.
func Quote(word string) string {
	if word == "" {
		return "''"
	}
	if plain(word) {
		return word
	}
	if printable(word) {
		return "'" + strings.ReplaceAll(word, "'", `'\''`) + "'"
	}
	if q, err := syntax.Quote(word, syntax.LangBash); err == nil {
		return q
	}
	return strconv.Quote(word) // a NUL byte; never in a command that runs
}

// Join quotes each word and joins them with spaces: a command line a
// shell would split back into exactly argv. The first word is also quoted
// when a shell would take it for a reserved word or an assignment.
func Join(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = Quote(a)
		if i == 0 && q[i] == a && (syntax.IsKeyword(a) || strings.Contains(a, "=")) {
			q[i] = "'" + a + "'"
		}
	}
	return strings.Join(q, " ")
}

// plain reports whether s needs no quoting in a shell: only letters,
// digits and characters without meaning to it.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("_-+=:,./@%^", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// printable reports whether s is valid UTF-8 without control or other
// non-printing characters (a space is printable).
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r != ' ' && !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
