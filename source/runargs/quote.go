package runargs

import (
	"strconv"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// Quote returns word written so that a shell reads it back as exactly that
// one word: unchanged when it is made only of characters without meaning
// to a shell, else quoted by mvdan.cc/sh (single quotes, or a bash $'…'
// string for control characters — so a word can never hide part of a
// command behind terminal escape sequences or carriage returns). capdrop's
// one quoter: runlabel's commands, verify's and run's reports use it.
func Quote(word string) string {
	if word == "" {
		return "''"
	}
	if plain(word) {
		return word
	}
	if q, err := syntax.Quote(word, syntax.LangBash); err == nil {
		return q
	}
	return strconv.Quote(word) // a NUL byte: no shell can hold it
}

// Join quotes each word and joins them with spaces: a command line a
// shell splits back into exactly argv (Split does). The first word is also
// quoted when a shell would take it for a reserved word or an assignment.
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
