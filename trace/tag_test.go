package trace

import (
	"slices"
	"strings"
	"testing"
)

func TestSessionTagFNV(t *testing.T) {
	// FNV-1a of "a\x00": a reference value computed by hand from the
	// algorithm's constants.
	h := uint32(2166136261)
	for _, c := range []byte("a\x00") {
		h ^= uint32(c)
		h *= 16777619
	}
	if got := SessionTag([]string{"a"}); got != h {
		t.Errorf("SessionTag(a) = %#x, want %#x", got, h)
	}
	if SessionTag([]string{"ab"}) == SessionTag([]string{"a", "b"}) {
		t.Error("ab and a b share a tag")
	}
	long := strings.Repeat("x", ArgsMax)
	if SessionTag([]string{long, "1"}) != SessionTag([]string{long, "2"}) {
		t.Error("arguments past ArgsMax bytes changed the tag")
	}
	for _, args := range [][]string{nil, {""}, {"sh", "-c", "ping -c1 127.0.0.1"}} {
		if SessionTag(args) <= TagInit {
			t.Errorf("SessionTag(%q) = %d, at or below TagInit", args, SessionTag(args))
		}
	}
}

func TestSplitArgs(t *testing.T) {
	for _, c := range []struct {
		in    string
		total int
		want  []string
		trunc bool
	}{
		{"sh\x00-c\x00x\x00", 8, []string{"sh", "-c", "x"}, false},
		{"", 0, nil, false},
		{"a\x00\x00b\x00", 5, []string{"a", "", "b"}, false},
		{"abc\x00de", 300, []string{"abc", "de"}, true},
	} {
		got, trunc := splitArgs([]byte(c.in), c.total)
		if !slices.Equal(got, c.want) || trunc != c.trunc {
			t.Errorf("splitArgs(%q, %d) = %q, %v; want %q, %v", c.in, c.total, got, trunc, c.want, c.trunc)
		}
	}
}
