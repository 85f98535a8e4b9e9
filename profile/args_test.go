package profile

import (
	"reflect"
	"testing"
)

func TestCreateArgs(t *testing.T) {
	for _, c := range []struct{ in, want []string }{
		{[]string{"-d", "--rm", "img", "cmd", "-d"}, []string{"--rm", "img", "cmd", "-d"}},
		{[]string{"--", "--detach", "img"}, []string{"img"}},
		{[]string{"--cap-add", "chown", "-d", "img"}, []string{"--cap-add", "chown", "-d", "img"}},
	} {
		got, err := createArgs(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("createArgs(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	if _, err := createArgs([]string{"-d"}); err == nil {
		t.Error("no image: no error")
	}
}

func FuzzCreateArgs(f *testing.F) {
	f.Add("-d\x00img\x00-d")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		var args []string
		for _, a := range splitNUL(s) {
			args = append(args, a)
		}
		out, err := createArgs(args)
		if err == nil && len(out) == 0 {
			t.Fatal("no error and no arguments")
		}
		if len(out) > len(args) {
			t.Fatal("arguments added")
		}
	})
}

func splitNUL(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
