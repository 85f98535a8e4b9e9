package report

import (
	"bytes"
	"context"
	"testing"

	"github.com/capdrop/capdrop/audit"
	"github.com/capdrop/capdrop/engine"
	"github.com/capdrop/capdrop/merge"
	"github.com/capdrop/capdrop/runlabel"
	"github.com/capdrop/capdrop/workload"
)

func runlabelCases(t *testing.T) map[string]Runlabel {
	t.Helper()
	build := func(labels map[string]string, o runlabel.Options, user string) *runlabel.Command {
		o.Env, o.Dir, o.Docker = []string{"HOME=/root", "TERMX=a\x1b[2Jb"}, "/srv/app", "/usr/bin/docker"
		c, err := runlabel.Build(runlabel.Image{Ref: "reg.example/team/app:1.2", ID: "sha256:0123456789abcdef0123456789abcdef",
			RepoTags: []string{"reg.example/team/app:1.2"}, Labels: labels, User: user}, o)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.JudgeImage(context.Background(), fakeEngine{}); err != nil {
			t.Fatal(err)
		}
		return c
	}
	audited := func(c *runlabel.Command, strict bool, failOn audit.Severity) Runlabel {
		rep, err := c.Audit(audit.Options{Merge: merge.Options{Versions: map[workload.Runtime]merge.Version{workload.Docker: {Major: 20, Minor: 10, Patch: 24}}}})
		if err != nil {
			t.Fatal(err)
		}
		return Runlabel{Command: c, Audit: rep, Refused: runlabel.Verdict(c, rep, strict, failOn)}
	}
	return map[string]Runlabel{
		"runlabel-label": audited(build(map[string]string{"RUN": "podman run --rm -v $PWD:/src -v /:/host -e T=\"$TERMX\" $OPT1 --name NAME IMAGE"},
			runlabel.Options{Opt: [3]string{"--pid=host"}, OptSet: [3]bool{true}}, "1000"), true, audit.SeverityUnset),
		"runlabel-default": audited(build(map[string]string{runlabel.CapsLabel: "NET_BIND_SERVICE,SYS_TIME"},
			runlabel.Options{Name: "web", Args: []string{"serve", "--port", "80"}}, ""), true, audit.Low),
		"runlabel-other-image": audited(build(map[string]string{"RUN": "docker run --rm --cap-drop=ALL --cap-add=SYS_ADMIN other:latest"},
			runlabel.Options{}, "1000"), true, audit.High),
		"runlabel-forced": audited(build(map[string]string{"INSTALL": "/bin/sh /install.sh IMAGE"},
			runlabel.Options{Label: "install", Force: true}, "1000"), false, audit.SeverityUnset),
	}
}

// fakeEngine has only the labelled image.
type fakeEngine struct{}

func (fakeEngine) ImageInspect(ctx context.Context, ref string) (*engine.Image, error) {
	return nil, engine.ErrNotFound
}

func (fakeEngine) ImageFiles(ctx context.Context, image string, paths []string, limit int64) (map[string][]byte, error) {
	return nil, engine.ErrNotFound
}

func TestRunlabelGolden(t *testing.T) {
	cases := runlabelCases(t)
	img := runlabel.Image{Ref: "reg.example/team/app:1.2", ID: "sha256:0123456789abcdef0123456789abcdef",
		Labels: map[string]string{"RUN": "docker run --rm IMAGE sh -c 'id; rm -rf /host' | tee /tmp/log"}}
	c, err := runlabel.Build(img, runlabel.Options{Env: []string{}, Dir: "/", Docker: "/usr/bin/docker"})
	if c == nil || err == nil {
		t.Fatalf("refused label: %v, %v", c, err)
	}
	cases["runlabel-refused"] = Runlabel{Command: c, Refused: []string{err.Error()}}
	for name, r := range cases {
		t.Run(name, func(t *testing.T) {
			var text, js bytes.Buffer
			if err := (Text{}).RunlabelText(&text, r); err != nil {
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
