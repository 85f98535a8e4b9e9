package dockerfile

import (
	"strings"

	"github.com/capdrop/capdrop/source/runargs"
	"github.com/capdrop/capdrop/source/textpos"
	"github.com/capdrop/capdrop/workload"
)

// LabelCommand is a run label of the final image (LABEL RUN, INSTALL,
// UNINSTALL) parsed as a command line, every position an offset into the
// Dockerfile.
type LabelCommand struct {
	Key string // the label as written
	// Unquoted is true for KEY=value written without quotes, where a
	// space would end the value.
	Unquoted bool
	Cmd      *runargs.Command
}

// RunCommands returns the final image's run labels that parse as
// docker/podman/nerdctl run commands: what package fix needs to rewrite
// their options in place. Labels that do not parse are reported as Parse
// reports them.
func RunCommands(file string, data []byte, opts Options) ([]LabelCommand, []*workload.Error) {
	p := &parser{file: file, data: data, idx: textpos.New(file, data), escape: '\\'}
	p.run()
	labels, order, _, _ := p.image()
	var out []LabelCommand
	for _, key := range order {
		l := labels[key]
		run := false
		for _, r := range RunLabels {
			run = run || strings.EqualFold(key, r)
		}
		if !run || len(l.value.off) == 0 {
			continue
		}
		if _, ok := p.runLabel(l, key, opts); !ok {
			continue
		}
		c := p.lastCmd
		first := l.value.off[0]
		out = append(out, LabelCommand{Key: key, Unquoted: first > 0 && data[first-1] == '=', Cmd: c})
	}
	return out, p.errs
}
