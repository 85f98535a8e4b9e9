package shell

import (
	"github.com/capdrop/capdrop/source/runargs"
	"github.com/capdrop/capdrop/workload"
)

// Commands returns the run/create commands Parse turns into workloads, as
// parsed, every position an offset into data: what package fix needs to
// rewrite their options in place.
func Commands(file string, data []byte, format Format) ([]*runargs.Command, []*workload.Error) {
	p := parse(file, data, format)
	return p.cmds, p.errs
}
