package runlabel

import (
	"reflect"
	"testing"
)

// FuzzExpand feeds any text through Expand as a label: it must never panic,
// and a command it accepts, quoted by Join, must read back as exactly the
// same words (what Command.Text shows is what runs).
func FuzzExpand(f *testing.F) {
	for _, s := range []string{
		"docker run --rm --cap-drop=all --name NAME IMAGE",
		"docker run -e X=$OPT1 \"$OPT2\" ${PWD}/x ${HOME:-/} ~/.c IMAGE=IMAGE --name=NAME IMAGE",
		"docker run $'\\x1b[2K' 'it'\\''s' \"a\\\"b\" {a,b} * $((1+2)) ${#HOME} ${!O*} IMAGE",
		"docker run IMAGE; rm -rf /",
		"docker run $(id) `id` <(id) >x IMAGE &",
		"X=1 docker run \\\n IMAGE # c",
		"${X:?}", "${X:=y}", "$@ $* $# $$ $? $0 $1",
	} {
		f.Add(s)
	}
	vars := Vars{Image: "reg/app:1", Name: "app", Opt: [3]string{"-v /a:/b", "x y", ""}, OptSet: [3]bool{true, true, false},
		Dir: "/d ir", Env: []string{"HOME=/root", "WEIRD=a\x1bb\tc", "EMPTY="}}
	f.Fuzz(func(t *testing.T, label string) {
		argv, _, err := Expand(label, vars)
		if err != nil {
			return
		}
		back, _, err := expandLabel(Join(argv), Vars{}, false)
		if err != nil || !reflect.DeepEqual(back, argv) {
			t.Fatalf("label %q\nexpands to %q\nJoin %s\nreads back as %q, %v", label, argv, Join(argv), back, err)
		}
	})
}

// FuzzBuild runs any label and arguments through Build: no panic, and the
// positions of an audited command point into the text it shows.
func FuzzBuild(f *testing.F) {
	f.Add("docker run --cap-drop=all -v /:/h --pid=host --name NAME IMAGE", "sh")
	f.Add("podman -H x container create -itv .:/x --env-file=/e IMAGE", "")
	f.Add("docker run --cap-add", "--privileged")
	f.Add("rm -rf /", "")
	f.Fuzz(func(t *testing.T, label, arg string) {
		img := Image{Ref: "reg/app:1", ID: "sha256:00", Labels: map[string]string{"RUN": label, CapsLabel: arg}}
		for _, force := range []bool{false, true} {
			c, err := Build(img, Options{Args: []string{arg}, Env: []string{"HOME=/"}, Dir: "/", Docker: "/usr/bin/docker", Force: force})
			if err != nil {
				continue
			}
			if c.Text != Join(c.Argv) {
				t.Fatalf("text %q for argv %q", c.Text, c.Argv)
			}
			if c.Workload != nil {
				for _, w := range append(c.Workload.CapAdd, c.Workload.CapDrop...) {
					if w.Pos.Line != 1 || w.Pos.Col < 1 || w.Pos.Col > len([]rune(c.Text))+1 {
						t.Fatalf("%q at %v outside %q", w.Text, w.Pos, c.Text)
					}
				}
			}
			for _, h := range c.Host {
				if h.Col < 1 || h.Col > len([]rune(c.Text)) {
					t.Fatalf("host option %q at column %d outside %q", h.Option, h.Col, c.Text)
				}
			}
		}
	})
}
