package runlabel

import (
	"fmt"
	"strings"

	"github.com/capdrop/capdrop/audit"
	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/merge"
	"github.com/capdrop/capdrop/workload"
)

// Audit judges the container the command starts with capdrop audit's
// engine: the sets it really gets under Docker's rules (the release in
// opts.Merge), and the rule catalogue's findings. The report is nil when
// the command starts no container (a forced label that is not a docker
// run), which there is nothing to audit in.
func (c *Command) Audit(opts audit.Options) (*audit.Report, error) {
	if c.Workload == nil {
		return nil, nil
	}
	return audit.Evaluate([]workload.Workload{*c.Workload}, opts)
}

// Verdict says why a command must not run, given its audit: --strict wants
// every capability the container holds named in --cap-add (so the command
// drops ALL, is not privileged and adds no ALL) and no access to the host
// (no host path, engine socket, host namespace, device, confinement turned
// off, or host file the docker CLI reads or writes); failOn refuses
// findings at or above that severity (SeverityUnset: never), host-access
// findings included. An empty verdict lets it run.
func Verdict(c *Command, rep *audit.Report, strict bool, failOn audit.Severity) []string {
	var out []string
	if rep == nil || len(rep.Workloads) == 0 {
		if strict || failOn != audit.SeverityUnset {
			out = append(out, "capdrop cannot audit a command that does not start a container, so --strict and --fail-on refuse it")
		}
		return out
	}
	if strict {
		if why := notDropped(rep.Workloads[0].Result); why != "" {
			out = append(out, "--strict: "+why)
		}
		if why := hostReach(c, rep); why != "" {
			out = append(out, "--strict: "+why)
		}
	}
	if failOn != audit.SeverityUnset {
		n := 0
		for _, f := range rep.Findings {
			if f.Severity >= failOn {
				n++
			}
		}
		if n > 0 {
			out = append(out, fmt.Sprintf("--fail-on %s: %d %s at or above %s", failOn, n, plural(n, "finding", "findings"), failOn))
		}
	}
	return out
}

// hostReach says which options reach into the host, or "" when none do.
func hostReach(c *Command, rep *audit.Report) string {
	var opts []string
	for _, h := range c.Host {
		opts = append(opts, h.Option)
	}
	n := 0
	for _, f := range rep.Findings {
		if audit.HostAccess(f.Rule) {
			n++
		}
	}
	if len(opts) == 0 && n == 0 {
		return ""
	}
	why := "the command reaches into the host"
	if len(opts) > 0 {
		why += " (" + strings.Join(opts, ", ") + ")"
	}
	if n > 0 {
		why += fmt.Sprintf(", %d host-access %s", n, plural(n, "finding", "findings"))
	}
	return why + "; a label run under --strict may only use what the container is given by name"
}

// notDropped says which capabilities the container holds without the
// command naming them in --cap-add, or "" when there are none.
func notDropped(r merge.Result) string {
	bySource := map[merge.Source]capset.Set{}
	var order []merge.Source
	for _, cw := range r.Why {
		for _, rs := range cw.Reasons {
			if rs.Source == merge.FromAdd {
				continue
			}
			if _, ok := bySource[rs.Source]; !ok {
				order = append(order, rs.Source)
			}
			bySource[rs.Source] = bySource[rs.Source].With(cw.Cap)
		}
	}
	if len(order) == 0 {
		return ""
	}
	var parts []string
	for _, s := range order {
		set := bySource[s]
		what := string(s)
		switch s {
		case merge.FromDefault:
			what = fmt.Sprintf("%s's default set", r.Runtime)
		case merge.FromAll:
			what = "--cap-add=ALL"
		case merge.FromPrivileged:
			what = "--privileged"
		case merge.FromImageLabel:
			what = "the image's " + CapsLabel + " label"
		}
		parts = append(parts, fmt.Sprintf("%s from %s", names(set), what))
	}
	return "the container keeps capabilities the command does not name (" + strings.Join(parts, "; ") +
		"); a label must --cap-drop=ALL and --cap-add only what it needs"
}

// names lists a set briefly: up to five names, then a count.
func names(s capset.Set) string {
	n := s.ShortNames()
	if len(n) > 5 {
		return fmt.Sprintf("%s and %d more", strings.Join(n[:5], ", "), len(n)-5)
	}
	return strings.Join(n, ", ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
