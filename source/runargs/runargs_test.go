package runargs

import (
	"slices"
	"strings"
	"testing"
)

func TestImageAndFlags(t *testing.T) {
	tests := []struct {
		line  string
		tool  string
		image string
		cmd   string   // words after the image
		flags []string // name=value (or name) in order
	}{
		{"docker run -e X -v a:b -p 80:80 --network x --entrypoint /bin/sh img -c true", "docker", "img", "-c true",
			[]string{"env=X", "volume=a:b", "publish=80:80", "network=x", "entrypoint=/bin/sh"}},
		{"docker container run -it --rm alpine", "docker", "alpine", "", []string{"interactive", "tty", "rm"}},
		{"docker create --name=db -u 999 postgres", "docker", "postgres", "", []string{"name=db", "user=999"}},
		{"sudo -u root -E docker run -itu1000 x", "docker", "x", "", []string{"interactive", "tty", "user=1000"}},
		{"env A=1 B=2 docker run --privileged=false -- -weird-image", "docker", "-weird-image", "", []string{"privileged=false"}},
		{"docker -H tcp://h:2375 --context c run --cap-add=ALL img", "docker", "img", "", []string{"cap-add=ALL"}},
		{"podman --root /r run --cap-add net_admin,sys_time --pod p --http-proxy img sh", "podman", "img", "sh",
			[]string{"cap-add=net_admin,sys_time", "pod=p", "http-proxy"}},
		{"nerdctl -n k8s.io run --gpus all -d nginx", "nerdctl", "nginx", "", []string{"gpus=all", "detach"}},
		{"/usr/local/bin/docker run --security-opt=no-new-privileges:true 'my image'", "docker", "my image", "", []string{"security-opt=no-new-privileges:true"}},
		{`docker run --label "a=b c" --env=X="y z" img`, "docker", "img", "", []string{"label=a=b c", "env=X=y z"}},
		{"docker run --unknown-flag img", "docker", "img", "", []string{"unknown-flag"}},
		{"docker run -p8080:80 -eX=1 -m 1g img", "docker", "img", "", []string{"publish=8080:80", "env=X=1", "memory=1g"}},
		{"timeout 10s docker run img", "docker", "img", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			cmds, err := ParseLine(tt.line, Vars{})
			if err != nil || len(cmds) != 1 {
				t.Fatalf("ParseLine = %v, %v", cmds, err)
			}
			c := cmds[0]
			img, _ := c.Image()
			var rest []string
			for _, a := range c.CmdArgs() {
				rest = append(rest, a.Value)
			}
			var flags []string
			for _, f := range c.Flags {
				s := f.Name
				if f.HasValue {
					s += "=" + f.Value
				}
				flags = append(flags, s)
			}
			if c.Tool != tt.tool || img.Value != tt.image || strings.Join(rest, " ") != tt.cmd || strings.Join(flags, "|") != strings.Join(tt.flags, "|") {
				t.Errorf("tool %q image %q cmd %q flags %q\nwant %q %q %q %q", c.Tool, img.Value, rest, flags, tt.tool, tt.image, tt.cmd, tt.flags)
			}
		})
	}
}

func TestNotRunCommands(t *testing.T) {
	for _, line := range []string{
		"docker ps -a", "echo docker run x", "docker build -t x .", "podman pod create", "dockerd run",
		"$DOCKER run img", "docker compose run web",
	} {
		cmds, err := ParseLine(line, Vars{})
		if err != nil || len(cmds) != 0 {
			t.Errorf("%q: got %d commands, %v", line, len(cmds), err)
		}
	}
}

// TestPositions checks the offsets fix relies on: the span of each option
// and of its value, on one line and across line continuations.
func TestPositions(t *testing.T) {
	src := "docker run --cap-add=NET_ADMIN \\\n  -u 1000 --privileged -it img"
	cmds, err := ParseLine(src, Vars{})
	if err != nil {
		t.Fatal(err)
	}
	c := cmds[0]
	check := func(name string, l Loc, text string) {
		t.Helper()
		if !strings.HasPrefix(src[l.Offset:], text) {
			t.Errorf("%s: offset %d points at %q, want %q", name, l.Offset, src[l.Offset:min(len(src), l.Offset+10)], text)
		}
		line := strings.Count(src[:l.Offset], "\n") + 1
		col := l.Offset - strings.LastIndex(src[:l.Offset], "\n")
		if l.Line != line || l.Col != col {
			t.Errorf("%s: %d:%d, want %d:%d", name, l.Line, l.Col, line, col)
		}
	}
	capAdd := c.Lookup("cap-add")[0]
	check("cap-add start", capAdd.Start, "--cap-add=")
	check("cap-add value", capAdd.ValueStart, "NET_ADMIN")
	if src[capAdd.Start.Offset:capAdd.End.Offset] != "--cap-add=NET_ADMIN" {
		t.Errorf("cap-add span %q", src[capAdd.Start.Offset:capAdd.End.Offset])
	}
	u := c.Lookup("user")[0]
	check("user", u.Start, "-u 1000")
	check("user value", u.ValueStart, "1000")
	if src[u.Start.Offset:u.End.Offset] != "-u 1000" {
		t.Errorf("user span %q", src[u.Start.Offset:u.End.Offset])
	}
	check("privileged", c.Lookup("privileged")[0].Start, "--privileged")
	img, _ := c.Image()
	check("image", img.Start, "img")
	if c.Text != src {
		t.Errorf("Text = %q", c.Text)
	}
}

func TestLabelSubstitution(t *testing.T) {
	vars := Vars{Values: map[string]string{"IMAGE": "reg/app:1", "NAME": "app"}, Bare: true}
	cmds, err := ParseLine(`docker run --name NAME -e IMAGE=IMAGE -e N=${NAME} --cap-add $OTHER IMAGE`, vars)
	if err != nil || len(cmds) != 1 {
		t.Fatal(cmds, err)
	}
	c := cmds[0]
	var got []string
	for _, a := range c.Args {
		got = append(got, a.Value)
	}
	want := "docker run --name app -e IMAGE=reg/app:1 -e N=app --cap-add $OTHER reg/app:1"
	if strings.Join(got, " ") != want {
		t.Errorf("got  %s\nwant %s", strings.Join(got, " "), want)
	}
	if img, _ := c.Image(); img.Value != "reg/app:1" {
		t.Errorf("image %q", img.Value)
	}
}

func TestNoNewPrivileges(t *testing.T) {
	for opt, want := range map[string][2]bool{
		"no-new-privileges": {true, true}, "no-new-privileges:true": {true, true}, "no-new-privileges=true": {true, true},
		"no-new-privileges:false": {false, true}, "no-new-privileges=0": {false, true},
		"no-new-privileges:maybe": {false, false}, "seccomp=unconfined": {false, false}, "label=disable": {false, false},
	} {
		on, ok := NoNewPrivileges(opt)
		if on != want[0] || ok != want[1] {
			t.Errorf("%s: %v %v, want %v", opt, on, ok, want)
		}
	}
}

// TestWorkloadLastWins: the CLIs keep the last --user and --privileged.
func TestWorkloadLastWins(t *testing.T) {
	cmds, _ := ParseLine("docker run -u 1 --privileged --user 2 --privileged=false --cap-add=A,B img", Vars{})
	w, _ := cmds[0].Workload("f", "run-line")
	if w.User != "2" || w.Privileged || w.PrivilegedPos == nil || len(w.CapAdd) != 1 || w.CapAdd[0].Text != "A,B" {
		t.Errorf("got user %q privileged %v caps %v", w.User, w.Privileged, w.CapAdd)
	}
	cmds, _ = ParseLine("podman run --cap-add=A,,B img", Vars{})
	w, _ = cmds[0].Workload("f", "run-line")
	if len(w.CapAdd) != 2 || w.CapAdd[1].Text != "B" || w.CapAdd[1].Pos.Col != 25 {
		t.Errorf("podman caps %+v", w.CapAdd)
	}
}

func FuzzRunArgs(f *testing.F) {
	for _, s := range []string{
		"docker run -it --rm --cap-add=NET_ADMIN img sh", "sudo -E podman run -itu0 --privileged=false x",
		"docker run -- -x", "nerdctl -n ns create --gpus all i", "docker run \\\n --cap-drop ALL i",
		`docker run "$(echo a)" ${X:-y} 'q' $'t\x' i`, "docker run -e", "docker -H", "env -u X docker run -d=false i",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cmds, err := ParseLine(s, Vars{Values: map[string]string{"IMAGE": "i"}, Bare: true})
		if err != nil {
			return
		}
		for _, c := range cmds {
			w, _ := c.Workload("f", "run-line")
			for _, fl := range c.Flags {
				if fl.Start.Offset < 0 || fl.End.Offset > len(s) || fl.Start.Offset > fl.End.Offset {
					t.Fatalf("flag %+v out of %q", fl, s)
				}
			}
			if c.ImageArg >= len(c.Args) || w.Kind != "run-line" {
				t.Fatalf("bad command %+v", c)
			}
		}
	})
}

func TestSplit(t *testing.T) {
	for in, want := range map[string][]string{
		`nginx -g 'daemon off;'`:    {"nginx", "-g", "daemon off;"},
		`sh -c "echo \"hi\" $HOME"`: {"sh", "-c", `echo "hi" $HOME`},
		"a\\ b c\\\nd":              {"a b", "cd"},
		`echo $(id -u) ${X:-y}`:     {"echo", "$(id -u)", "${X:-y}"},
		``:                          {},
		`--flag=x   'it'"'"'s'`:     {"--flag=x", "it's"},
	} {
		got, err := Split(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("Split(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := Split(`echo 'unterminated`); err == nil {
		t.Error("an unterminated quote is an error")
	}
}

// TestQuote: every word Join writes, Split reads back unchanged.
func TestQuote(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want string
	}{
		{[]string{"ls", "-l", "/tmp", "--cap-drop=ALL"}, "ls -l /tmp --cap-drop=ALL"},
		{[]string{"sh", "-c", "echo $HOME"}, "sh -c 'echo $HOME'"},
		{[]string{"echo", "it's", ""}, `echo "it's" ''`},
		{[]string{"if", "a\x1b[31mb"}, `'if' $'a\x1b[31mb'`},
	} {
		got := Join(c.in)
		if got != c.want {
			t.Errorf("Join(%q) = %s, want %s", c.in, got, c.want)
		}
		if back, err := Split(got); err != nil || !slices.Equal(back, c.in) {
			t.Errorf("Split(%s) = %q, %v", got, back, err)
		}
	}
}
