package runlabel

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/syntax"
)

var testVars = Vars{
	Image: "reg.example:5000/team/app:1.2", Name: "app", NameFrom: "image name",
	Opt: [3]string{"-v /a:/b", "", ""}, OptSet: [3]bool{true, false, false},
	Dir: "/home/u/my dir",
	Env: []string{"HOME=/home/u", "OPT2=from-env", "DISPLAY=:0", "EMPTY=", "IFS=x", "IMAGE=env-image"},
}

func TestExpand(t *testing.T) {
	for _, c := range []struct {
		label string
		argv  []string
		vars  string // name=from, comma-separated
	}{
		// atomic's and podman's spellings of IMAGE and NAME.
		{"docker run --name NAME IMAGE", []string{"docker", "run", "--name", "app", "reg.example:5000/team/app:1.2"}, "NAME=image name,IMAGE=image"},
		{"docker run --name ${NAME} $IMAGE", []string{"docker", "run", "--name", "app", "reg.example:5000/team/app:1.2"}, "NAME=image name,IMAGE=image"},
		{"docker run --name=NAME -e IMAGE=IMAGE -e NAME=NAME -e X=IMAGE IMAGE", []string{"docker", "run", "--name=app",
			"-e", "IMAGE=reg.example:5000/team/app:1.2", "-e", "NAME=app", "-e", "X=reg.example:5000/team/app:1.2", "reg.example:5000/team/app:1.2"}, "NAME=image name,IMAGE=image"},
		// Quoted bare words are replaced too (podman removes quotes first);
		// a word that merely contains IMAGE is not.
		{`docker run "IMAGE" 'NAME' IMAGES xIMAGE`, []string{"docker", "run", "reg.example:5000/team/app:1.2", "app", "IMAGES", "xIMAGE"}, "IMAGE=image,NAME=image name"},
		// OPT1 from --opt1 splits like an unquoted shell expansion; quoted
		// it stays one word; OPT2 comes from the environment; OPT3 is unset
		// and vanishes unquoted, stays an empty word quoted.
		{"docker run $OPT1 \"$OPT1\" $OPT2 $OPT3 \"$OPT3\" IMAGE", []string{"docker", "run", "-v", "/a:/b", "-v /a:/b", "from-env", "", "reg.example:5000/team/app:1.2"},
			"OPT1=--opt1,OPT2=environment,OPT3=unset,IMAGE=image"},
		// PWD is the working directory, split when unquoted (so quote it).
		{`docker run -v "$PWD":/src -v ${PWD}/x:/y IMAGE`, []string{"docker", "run", "-v", "/home/u/my dir:/src", "-v", "/home/u/my", "dir/x:/y", "reg.example:5000/team/app:1.2"},
			"PWD=working directory,IMAGE=image"},
		// Any environment variable; undefined ones are empty; IMAGE is
		// the image even when the environment says otherwise; IFS from the
		// environment does not change splitting.
		{`docker run -e DISPLAY=$DISPLAY -e "U=$UNDEFINED" -e E=$EMPTY $UNDEFINED ${IMAGE}`, []string{"docker", "run", "-e", "DISPLAY=:0", "-e", "U=", "-e", "E=", "reg.example:5000/team/app:1.2"},
			"DISPLAY=environment,UNDEFINED=unset,EMPTY=environment,IMAGE=image"},
		{`docker run -e X=${UNDEFINED:-dflt} -e H=~ -v ~/.config:/c IMAGE`, []string{"docker", "run", "-e", "X=dflt", "-e", "H=~", "-v", "/home/u/.config:/c", "reg.example:5000/team/app:1.2"},
			"UNDEFINED=unset,HOME=environment,IMAGE=image"},
		// No pathname expansion; quotes inside values are not re-read.
		{`docker run IMAGE ls * /etc/*`, []string{"docker", "run", "reg.example:5000/team/app:1.2", "ls", "*", "/etc/*"}, "IMAGE=image"},
		// Line continuations, comments and a trailing semicolon are fine.
		{"docker run \\\n  --rm \\\n  IMAGE # start it\n", []string{"docker", "run", "--rm", "reg.example:5000/team/app:1.2"}, "IMAGE=image"},
		{"docker run IMAGE;", []string{"docker", "run", "reg.example:5000/team/app:1.2"}, "IMAGE=image"},
		{`docker run $'a\tb' IMAGE`, []string{"docker", "run", "a\tb", "reg.example:5000/team/app:1.2"}, "IMAGE=image"},
	} {
		t.Run(c.label, func(t *testing.T) {
			argv, vars, err := Expand(c.label, testVars)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(argv, c.argv) {
				t.Errorf("argv %q\nwant %q", argv, c.argv)
			}
			var got []string
			for _, v := range vars {
				got = append(got, v.Name+"="+v.From)
			}
			if strings.Join(got, ",") != c.vars {
				t.Errorf("vars %s, want %s", strings.Join(got, ","), c.vars)
			}
		})
	}
}

func TestExpandRefuses(t *testing.T) {
	for _, c := range []struct {
		label   string
		msg     string
		refused bool
	}{
		{"docker run IMAGE; rm -rf /", "column 19: the label holds more than one command", true},
		{"docker run IMAGE && rm -rf /", "column 1: the label is shell code (an && list)", true},
		{"docker run IMAGE | sh", "a pipeline", true},
		{"docker run IMAGE > /etc/passwd", "column 18: the label redirects input or output (>)", true},
		{"docker run IMAGE <<EOF\nx\nEOF", "redirects input or output (<<)", true},
		{"docker run IMAGE &", "in the background", true},
		{"docker run -e X=$(cat /etc/shadow) IMAGE", "column 17: the label runs a command substitution", true},
		{"docker run -e X=`id` IMAGE", "command substitution", true},
		{"docker run -e X=${Y:-$(id)} IMAGE", "command substitution", true},
		{"docker run -v <(id):/x IMAGE", "process substitution (<(…))", true},
		{"DOCKER_HOST=tcp://evil:2375 docker run IMAGE", "the label sets DOCKER_HOST in its command's environment", true},
		{"(docker run IMAGE)", "a subshell", true},
		{"if true; then docker run IMAGE; fi", "an if statement", true},
		{"export X=1", "a export declaration", true},
		{"! docker run IMAGE", "negates", true},
		{"f() { docker run IMAGE; }", "a function definition", true},
		{"", "the label is empty", false},
		{"# only a comment", "the label is empty", false},
		{`docker run "unterminated`, "shell syntax: reached EOF without closing quote", false},
		{"docker run ${X:?must be set} IMAGE", "word 3", false},
		{"docker run ${X:=assigned} IMAGE", "word 3", false},
		{"$UNDEFINED", "expands to no command", false},
		{"docker run \x00 IMAGE", "column 12: the label contains a NUL byte", false},
	} {
		_, _, err := Expand(c.label, testVars)
		var le *LabelError
		if !errors.As(err, &le) || !strings.Contains(err.Error(), c.msg) || errors.Is(err, ErrRefused) != c.refused {
			t.Errorf("%q: %v (refused %v), want %q (refused %v)", c.label, err, errors.Is(err, ErrRefused), c.msg, c.refused)
		}
	}
}

func TestQuote(t *testing.T) {
	for _, c := range []struct{ in, out string }{
		{"docker", "docker"},
		{"--cap-drop=ALL", "--cap-drop=ALL"},
		{"reg:5000/a/b:1.2@sha256:ab", "reg:5000/a/b:1.2@sha256:ab"},
		{"", "''"},
		{"a b", "'a b'"},
		{"it's", `"it's"`},
		{"$HOME", "'$HOME'"},
		{"~", "'~'"},
		{"#x", "'#x'"},
		{"héllo", "héllo"},
		{"a\x1b[2Kb", `$'a\x1b[2Kb'`},
		{"line\rover", `$'line\rover'`},
		{"rtl\u202eevil", `$'rtl\u202eevil'`},
		{"\xff", `$'\xff'`},
	} {
		got := Quote(c.in)
		if got != c.out {
			t.Errorf("Quote(%q) = %s, want %s", c.in, got, c.out)
		}
		// A shell reads it back as the same single word.
		if c.in == "\xff" {
			continue // invalid UTF-8 is rejected by the expander's reader
		}
		f, err := syntax.NewParser().Parse(strings.NewReader("x "+got), "")
		if err != nil {
			t.Fatalf("%s: %v", got, err)
		}
		fields, err := expand.Fields(nil, f.Stmts[0].Cmd.(*syntax.CallExpr).Args[1:]...)
		if err != nil || len(fields) != 1 || fields[0] != c.in {
			t.Errorf("%s reads back as %q, %v", got, fields, err)
		}
	}
}

// TestJoinRoundTrip: what Command.Text shows is exactly the argv that runs.
func TestJoinRoundTrip(t *testing.T) {
	argv := []string{"/usr/bin/docker", "run", "-e", "A=b c", "--label", "x='y'", "img", "sh", "-c", "echo $HOME; exit 3", "", "\t", "IMAGE", "NAME=x"}
	text := Join(argv)
	got, _, err := expandLabel(text, Vars{}, false)
	if err != nil || !reflect.DeepEqual(got, argv) {
		t.Errorf("%s → %q, %v", text, got, err)
	}
}
