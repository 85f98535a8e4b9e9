package report

import (
	"bytes"
	"testing"

	"github.com/capdrop/capdrop/audit"
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
		"runlabel-forced": audited(build(map[string]string{"INSTALL": "/bin/sh /install.sh IMAGE"},
			runlabel.Options{Label: "install", Force: true}, "1000"), false, audit.SeverityUnset),
	}
}

func TestRunlabelGolden(t *testing.T) {
	for name, r := range runlabelCases(t) {
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
