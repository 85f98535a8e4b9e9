package term

import (
	"bytes"
	"strings"
	"testing"
)

func TestWrap(t *testing.T) {
	got := Wrap("the quick brown fox jumps over the lazy dog", 16, "  ")
	want := "  the quick\n  brown fox\n  jumps over the\n  lazy dog"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := WrapHanging("a b c d", 5, "- ", "  "); got != "- a b\n  c d" {
		t.Errorf("hanging: %q", got)
	}
	if got := Wrap("supercalifragilistic x", 8, ""); got != "supercalifragilistic\nx" {
		t.Errorf("long word: %q", got)
	}
	if Wrap("", 10, "  ") != "" {
		t.Error("empty text must wrap to nothing")
	}
}

func TestTruncate(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{{"hello", 10, "hello"}, {"hello", 5, "hello"}, {"hello", 4, "hel…"}, {"héllo", 2, "h…"}, {"x", 1, "x"}, {"xy", 1, "…"}} {
		if got := Truncate(c.in, c.n); got != c.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}

func TestTable(t *testing.T) {
	p := NewPalette(true)
	tab := Table{}
	tab.Row("A", "LONGER", "C")
	tab.Row(p.Red("xx"), "y", "")
	var b bytes.Buffer
	if err := tab.Render(&b); err != nil {
		t.Fatal(err)
	}
	want := "A   LONGER  C\n\x1b[31mxx\x1b[0m  y\n"
	if b.String() != want {
		t.Errorf("got %q\nwant %q", b.String(), want)
	}
}

func TestTableWrapsLastColumnOnTerminals(t *testing.T) {
	tab := Table{MaxWidth: 30}
	tab.Row("KEY", "TEXT")
	tab.Row("k", "one two three four five six seven eight")
	var b bytes.Buffer
	tab.Render(&b)
	want := "KEY  TEXT\nk    one two three four five\n     six seven eight\n"
	if b.String() != want {
		t.Errorf("got %q\nwant %q", b.String(), want)
	}
	for _, l := range strings.Split(b.String(), "\n") {
		if VisibleLen(l) > 30 {
			t.Errorf("line %q is wider than 30", l)
		}
	}
	// Too narrow for the column: the text moves below the row.
	tab = Table{MaxWidth: 30}
	tab.Row("a-very-long-first-cell-here", "some text that wraps")
	b.Reset()
	tab.Render(&b)
	if want := "a-very-long-first-cell-here  \n    some text that wraps\n"; b.String() != strings.Replace(want, "  \n", "\n", 1) {
		t.Errorf("got %q", b.String())
	}
}

func TestColorAllowed(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if !ColorAllowed(env(map[string]string{"TERM": "xterm"})) {
		t.Error("colour refused on xterm")
	}
	if ColorAllowed(env(map[string]string{"TERM": "xterm", "NO_COLOR": "1"})) {
		t.Error("NO_COLOR ignored")
	}
	if ColorAllowed(env(map[string]string{"TERM": "dumb"})) {
		t.Error("TERM=dumb ignored")
	}
	if s := NewPalette(false).Red("x"); s != "x" {
		t.Errorf("disabled palette coloured: %q", s)
	}
}
