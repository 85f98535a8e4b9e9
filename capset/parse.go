package capset

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrUnknown is wrapped by every error about a capability name that does not
// exist; test for it with errors.Is.
var ErrUnknown = errors.New("unknown capability")

// ErrBadMask is wrapped by every error about a malformed hex mask.
var ErrBadMask = errors.New("bad capability mask")

// UnknownError says which name was not a capability and, when one is close,
// which real one was probably meant.
type UnknownError struct {
	Name       string // as the user wrote it
	Suggestion string // canonical name of the nearest capability, or ""
}

func (e *UnknownError) Error() string {
	if e.Suggestion != "" {
		return fmt.Sprintf("unknown capability %q (did you mean %s?)", e.Name, e.Suggestion)
	}
	return fmt.Sprintf("unknown capability %q", e.Name)
}

// Unwrap makes errors.Is(err, ErrUnknown) true.
func (e *UnknownError) Unwrap() error { return ErrUnknown }

// Parse returns the capability a name stands for. It accepts any case, with or
// without the CAP_ prefix ("cap_sys_admin", "SYS_ADMIN", "Sys_Admin"), and the
// numeric form capdrop and libcap print for unnamed bits ("cap_41"). "ALL" is
// not a capability: use ParseSet for lists.
func Parse(name string) (Cap, error) {
	s := strings.ToUpper(strings.TrimSpace(name))
	s = strings.TrimPrefix(s, "CAP_")
	if c, ok := byName[s]; ok {
		return c, nil
	}
	if n, err := strconv.ParseUint(s, 10, 8); err == nil && n < MaxBits && strings.HasPrefix(strings.ToUpper(strings.TrimSpace(name)), "CAP_") {
		return Cap(n), nil
	}
	return 0, &UnknownError{Name: name, Suggestion: suggest(s)}
}

// IsAll reports whether word is the literal ALL (any case, with or without
// CAP_), which the container runtimes treat as "every capability".
func IsAll(word string) bool {
	s := strings.ToUpper(strings.TrimSpace(word))
	return s == "ALL" || s == "CAP_ALL"
}

// ParseMask parses a hex mask as /proc/<pid>/status or a user writes it:
// "00000000a80425fb", "0xa80425fb", "A80425FB". At most 16 hex digits.
func ParseMask(text string) (Set, error) {
	s := strings.TrimSpace(text)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if s == "" || len(s) > 16 {
		return 0, fmt.Errorf("%w %q: want 1 to 16 hex digits", ErrBadMask, text)
	}
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("%w %q: not hexadecimal", ErrBadMask, text)
	}
	return Set(v), nil
}

// looksLikeMask reports whether a word is meant as a hex mask: "0x…" or only
// hex digits. No capability name is made of hex digits alone, so this is
// never ambiguous.
func looksLikeMask(w string) bool {
	if strings.HasPrefix(w, "0x") || strings.HasPrefix(w, "0X") {
		return true
	}
	for _, r := range w {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return w != ""
}

// ParseSet parses what users write for a set (see ParseList), with ALL
// meaning every known capability. Parts are united.
func ParseSet(text string) (Set, error) {
	l, err := ParseList(text)
	return l.Full(Known), err
}

// Fields splits a list at commas and white space, dropping empty parts.
func Fields(text string) []string {
	return strings.FieldsFunc(text, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
	})
}

// suggest returns the canonical name nearest to an upper-case name without
// prefix, or "" when nothing is close enough to be a plausible typo.
func suggest(s string) string {
	if s == "" {
		return ""
	}
	best, bestD := -1, 1<<30
	for i, n := range names {
		d := distance(s, n)
		// A word that is a part of a name ("ADMIN", "PTRACE") is a good hint.
		if len(s) >= 4 && strings.Contains(n, s) {
			d = 1
		}
		if d < bestD {
			best, bestD = i, d
		}
	}
	limit := max(2, len(s)/3)
	if best < 0 || bestD > limit {
		return ""
	}
	return Cap(best).Name()
}

// distance is the Damerau (optimal string alignment) edit distance, so a
// swapped pair of letters counts as one typo.
func distance(a, b string) int {
	la, lb := len(a), len(b)
	d := make([][]int, la+1)
	for i := range d {
		d[i] = make([]int, lb+1)
		d[i][0] = i
	}
	for j := 0; j <= lb; j++ {
		d[0][j] = j
	}
	for i := 1; i <= la; i++ {
		for j := 1; j <= lb; j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[la][lb]
}
