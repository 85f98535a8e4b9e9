package report

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/capdrop/capdrop/clusterprofile"
	"github.com/capdrop/capdrop/internal/term"
	"github.com/capdrop/capdrop/profile"
)

// ClusterProfile writes a cluster profile for people: the window and the
// nodes, then per workload container whether the profile is complete (and
// why not), the needed set with each capability's Pods, nodes and
// evidence, what was used but not proven, denied or noise, the probes and
// hooks that count and the exec sessions that do not.
func (t Text) ClusterProfile(w io.Writer, d *clusterprofile.Document) error {
	pal := t.pal()
	var b strings.Builder
	wrap := func(s, first, rest string) {
		b.WriteString(term.WrapHanging(first+s, t.wrapWidth(), "", rest))
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "%s %s, %s to %s (%s)\n", pal.Bold("cluster profile"), d.Source,
		d.Window.Start.Format(time.DateTime), d.Window.End.Format("15:04:05 MST"),
		(time.Duration(d.Window.Seconds * float64(time.Second))).Round(time.Second))
	for _, n := range d.Nodes {
		if n.Error != "" {
			wrap(pal.Red("not read: ")+n.Error, "node "+n.Name+": ", "  ")
			continue
		}
		c := n.Counters
		loss := "no loss"
		if m := c.Missing(); m > 0 {
			loss = pal.Red(fmt.Sprintf("%d checks, tasks or sessions lost", m))
		}
		fmt.Fprintf(&b, "node %s: agent %s, %s on Linux %s, %d restarts, %s\n", n.Name, n.Agent, n.Mechanism, n.Kernel, n.Restarts, loss)
	}
	for _, warn := range d.Warnings {
		b.WriteString(pal.Yellow(term.WrapHanging("warning: "+warn, t.wrapWidth(), "", "  ")))
		b.WriteString("\n")
	}
	if len(d.Profiles) == 0 {
		b.WriteString("\nno workload container was profiled\n")
	}
	for i := range d.Profiles {
		p := &d.Profiles[i]
		state := pal.Green("complete")
		if !p.Complete {
			state = pal.Yellow("partial")
		}
		fmt.Fprintf(&b, "\n%s  %s\n", pal.Bold(p.Workload.String()), state)
		var imgs []string
		for _, im := range p.Images {
			imgs = append(imgs, im.Image)
		}
		fmt.Fprintf(&b, "  %d Pods (%d containers) on %s, observed %.0fs; image %s, fingerprint %s\n",
			p.Pods, p.Containers, strings.Join(p.Nodes, ", "), p.Observed, strings.Join(imgs, ", "), p.Fingerprint)
		for _, r := range p.Partial {
			detail := r.Detail
			if len(r.Pods) > 0 {
				detail += " (" + strings.Join(r.Pods, ", ") + ")"
			}
			b.WriteString(pal.Yellow(term.WrapHanging("partial: "+r.Reason+": "+detail, t.wrapWidth(), "  ", "    ")))
			b.WriteString("\n")
		}
		byClass := map[string][]clusterprofile.Capability{}
		for _, c := range p.Capabilities {
			byClass[c.Class] = append(byClass[c.Class], c)
		}
		needed := p.NeededSet()
		if needed.IsEmpty() {
			fmt.Fprintf(&b, "  %s none\n", pal.Bold("needed:"))
		} else {
			fmt.Fprintf(&b, "  %s %s\n", pal.Bold("needed:"), strings.Join(needed.Names(), " "))
		}
		for _, c := range byClass[clusterprofile.ClassNeeded] {
			b.WriteString(term.WrapHanging(capLine(c), t.wrapWidth(), "    ", "      "))
			b.WriteString("\n")
		}
		if used := p.UsedSet(); !used.IsEmpty() {
			fmt.Fprintf(&b, "  %s %s\n", pal.Bold("used, not yet proven needed:"), strings.Join(used.Names(), " "))
			for _, c := range byClass[clusterprofile.ClassUsed] {
				b.WriteString(term.WrapHanging(capLine(c)+"; "+strings.Join(c.Reasons, ", "), t.wrapWidth(), "    ", "      "))
				b.WriteString("\n")
			}
		}
		if len(p.Denied) > 0 {
			fmt.Fprintf(&b, "  %s %s\n", pal.Bold("denied only:"), strings.Join(p.Denied, " "))
		}
		seen := map[string]bool{}
		for _, n := range p.Noise {
			key := n.Capability + " " + n.Reason
			if !seen[key] {
				seen[key] = true
				b.WriteString(term.WrapHanging(fmt.Sprintf("noise: %s, %s: %s", n.Capability, n.Reason, profile.Reasons[n.Reason]), t.wrapWidth(), "  ", "    "))
				b.WriteString("\n")
			}
		}
		for _, s := range p.Sessions {
			what := s.Kind
			if s.Name != "" {
				what += " " + s.Name
			}
			caps := "none"
			if !s.Capabilities.IsEmpty() {
				caps = strings.Join(s.Capabilities.Names(), " ")
			}
			b.WriteString(term.WrapHanging(fmt.Sprintf("%s [%s]: %d runs in %d Pods; used %s", what, strings.Join(s.Command, " "), s.Runs, s.Pods, caps), t.wrapWidth(), "  ", "    "))
			b.WriteString("\n")
		}
		if x := p.Excluded; x.Sessions > 0 {
			var cmds []string
			for _, c := range x.Commands {
				cmds = append(cmds, strings.Join(c, " "))
			}
			caps := "none"
			if !x.Capabilities.IsEmpty() {
				caps = strings.Join(x.Capabilities.Names(), " ")
			}
			b.WriteString(term.WrapHanging(fmt.Sprintf("left out: %d exec sessions (%s), which used %s", x.Sessions, strings.Join(cmds, "; "), caps), t.wrapWidth(), "  ", "    "))
			b.WriteString("\n")
		}
		for _, warn := range p.Warnings {
			b.WriteString(pal.Yellow(term.WrapHanging("warning: "+warn, t.wrapWidth(), "  ", "    ")))
			b.WriteString("\n")
		}
	}
	for _, x := range d.Excluded {
		b.WriteString(term.WrapHanging(fmt.Sprintf("left out: ephemeral container %s in Pod %s, which used %s", x.Workload.Container, x.Pod, strings.Join(x.Capabilities.Names(), " ")), t.wrapWidth(), "", "  "))
		b.WriteString("\n")
	}
	if len(d.Profiles) > 0 {
		b.WriteString("\n")
		b.WriteString(term.Wrap("Next: save it with -o json and run `capdrop k8s recommend --from` on it (or `capdrop fix MANIFEST --from`).", t.wrapWidth(), ""))
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func capLine(c clusterprofile.Capability) string {
	s := fmt.Sprintf("%s: %d Pods on %s", c.Capability, c.Pods, strings.Join(c.Nodes, ", "))
	if e := c.Evidence; e != nil {
		s += fmt.Sprintf("; e.g. %s by %s (%d×, %s, Pod %s)", e.Syscall, e.Command, e.Count, e.Session, e.Pod)
	}
	return s
}
