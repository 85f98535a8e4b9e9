package report

import (
	"bytes"
	"testing"

	"github.com/capdrop/capdrop/internal/term"
	"github.com/capdrop/capdrop/runlabel"
)

func runlabelCases(t *testing.T) map[string]Runlabel {
	t.Helper()
	build := func(labels map[string]string, o runlabel.Options) *runlabel.Command {
		o.Env, o.Dir, o.Docker = []string{"HOME=/root", "TERMX=a\x1b[2Jb"}, "/srv/app", "/usr/bin/docker"
		c, err := runlabel.Build(runlabel.Image{Ref: "reg.example/team/app:1.2", ID: "sha256:0123456789abcdef0123456789abcdef",
			RepoTags: []string{"reg.example/team/app:1.2"}, Labels: labels, User: "1000"}, o)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	return map[string]Runlabel{
		"runlabel-label": {Command: build(map[string]string{"RUN": "podman run --rm -v $PWD:/src -v /:/host -e T=\"$TERMX\" $OPT1 --name NAME IMAGE"},
			runlabel.Options{Opt: [3]string{"--pid=host"}, OptSet: [3]bool{true}}),
			Refused: []string{"--strict: LABEL RUN keeps capabilities it does not drop"}},
		"runlabel-default": {Command: build(map[string]string{runlabel.CapsLabel: "NET_BIND_SERVICE,SYS_TIME"},
			runlabel.Options{Name: "web", Args: []string{"serve", "--port", "80"}})},
	}
}

func TestRunlabelGolden(t *testing.T) {
	for name, r := range runlabelCases(t) {
		t.Run(name, func(t *testing.T) {
			var text, js bytes.Buffer
			if err := (Text{Palette: term.NewPalette(false)}).RunlabelText(&text, r); err != nil {
				t.Fatal(err)
			}
			golden(t, name+".golden", text.Bytes())
			if err := RunlabelJSON(&js, r); err != nil {
				t.Fatal(err)
			}
			golden(t, name+".json.golden", js.Bytes())
		})
	}
}
