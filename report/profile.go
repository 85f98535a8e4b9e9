package report

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/internal/term"
	"github.com/capdrop/capdrop/knowledge"
	"github.com/capdrop/capdrop/profile"
)

// Profile writes a profile for people: what was traced, the needed set with
// each capability's checks, what was denied, the noise and why, losses,
// and the snippets that apply the set.
func (t Text) Profile(w io.Writer, p *profile.Profile) error {
	pal := t.pal()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", pal.Bold("profile of"), describeTarget(p.Target))
	fmt.Fprintf(&b, "traced with %s on Linux %s for %.1fs; advisory probes told from %s\n",
		p.Mechanism, p.Kernel, p.Duration, p.NoauditFrom)
	if p.Target.ExitCode != nil {
		fmt.Fprintf(&b, "the workload exited with code %d\n", *p.Target.ExitCode)
	}
	b.WriteString("\n")
	needed := p.NeededSet()
	if needed.IsEmpty() {
		fmt.Fprintf(&b, "%s none: the workload used no capability\n", pal.Bold("needed"))
	} else {
		fmt.Fprintf(&b, "%s %d: %s\n", pal.Bold("needed"), needed.Len(), strings.Join(needed.Names(), " "))
	}
	for _, k := range p.Kept {
		what := "asked for by capset(2)"
		if k.Source == "exec" {
			what = "gained at exec by a process that is not root (file or ambient capabilities)"
		}
		times := "once"
		if k.Count > 1 {
			times = fmt.Sprintf("%d times", k.Count)
		}
		b.WriteString(term.WrapHanging(fmt.Sprintf("kept without a check: %s, %s (%s, %s)", strings.Join(k.Capabilities, " "), what, strings.Join(k.Commands, ","), times), t.wrapWidth(), "  ", "    "))
		b.WriteString("\n")
	}
	if used := p.UsedSet(); !used.IsEmpty() {
		fmt.Fprintf(&b, "%s %d: %s\n", pal.Bold("used, not yet proven needed"), used.Len(), strings.Join(used.Names(), " "))
		seen := map[string]bool{}
		for _, u := range p.UsedNotProven {
			if !seen[u.Reason] {
				seen[u.Reason] = true
				b.WriteString(term.WrapHanging(u.Reason+": "+profile.Tolerated[u.Reason], t.wrapWidth(), "  ", "    "))
				b.WriteString("\n")
			}
		}
		b.WriteString(term.Wrap("Run `capdrop verify --minimize --from` on this profile: it keeps those the workload needs and removes the rest.", t.wrapWidth(), "  "))
		b.WriteString("\n")
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}

	tab := term.Table{MaxWidth: t.Width}
	tab.Row(pal.Dim("  CAPABILITY"), pal.Dim("RISK"), pal.Dim("GRANTED"), pal.Dim("DENIED"), pal.Dim("NOISE"), pal.Dim("SYSCALLS"), pal.Dim("COMMANDS"))
	for _, name := range sortedCaps(p.Checks) {
		cc := p.Checks[name]
		label := "  " + name
		if cc.Needed {
			label = pal.Bold(label)
		}
		tab.Row(label, riskOf(t, name), fmt.Sprint(cc.Granted), fmt.Sprint(cc.Denied), fmt.Sprint(cc.Noise),
			syscallList(cc.Syscalls, 4), strings.Join(cc.Commands, ","))
	}
	if len(p.Checks) > 0 {
		fmt.Fprintln(w)
		if err := tab.Render(w); err != nil {
			return err
		}
	}

	b.Reset()
	if len(p.Denied) > 0 {
		fmt.Fprintf(&b, "\n%s %s\n", pal.Bold("denied only:"), strings.Join(p.Denied, " "))
		b.WriteString(term.Wrap("Checked and refused, never granted: not needs. If the workload failed, one of these may be why.", t.wrapWidth(), "  "))
		b.WriteString("\n")
	}
	if len(p.Noise) > 0 {
		fmt.Fprintf(&b, "\n%s\n", pal.Bold("noise (not needs):"))
		nt := term.Table{MaxWidth: t.Width}
		for _, n := range p.Noise {
			nt.Row("  "+n.Capability, n.Reason, "("+n.From+")", verdicts(n.Granted, n.Denied), strings.Join(n.Syscalls, ","), strings.Join(n.Commands, ","))
		}
		io.WriteString(w, b.String())
		b.Reset()
		if err := nt.Render(w); err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, n := range p.Noise {
			if !seen[n.Reason] {
				seen[n.Reason] = true
				b.WriteString(term.WrapHanging(n.Reason+": "+profile.Reasons[n.Reason], t.wrapWidth(), "  ", "    "))
				b.WriteString("\n")
			}
		}
	}
	c := p.Counters
	if c.Overflow+c.Lost+c.TasksOverflow+c.PendingOverflow+c.RootsOverflow+c.GainsOverflow+c.Missed == 0 {
		fmt.Fprintf(&b, "\n%s none (no map overflow, no lost events, no program run skipped)\n", pal.Bold("losses:"))
	} else {
		fmt.Fprintf(&b, "\n%s overflow %d, lost events %d, tasks not followed %d, kprobe pairs lost %d, roots not recorded %d, capsets and execs not recorded %d, program runs skipped %d\n",
			pal.Red("losses:"), c.Overflow, c.Lost, c.TasksOverflow, c.PendingOverflow, c.RootsOverflow, c.GainsOverflow, c.Missed)
	}
	for _, warn := range p.Warnings {
		b.WriteString(pal.Yellow(term.WrapHanging("warning: "+warn, t.wrapWidth(), "", "  ")))
		b.WriteString("\n")
	}

	s := p.Snippets
	fmt.Fprintf(&b, "\n%s\n", pal.Bold("apply it:"))
	fmt.Fprintf(&b, "  docker run %s IMAGE\n", s.DockerRun)
	fmt.Fprintf(&b, "\n  # compose service\n%s", indent(s.Compose, "  "))
	fmt.Fprintf(&b, "\n  # Kubernetes container\n%s", indent(s.Kubernetes, "  "))
	fmt.Fprintf(&b, "\n  # Dockerfile\n  %s\n", s.DockerfileLabel)
	fmt.Fprintf(&b, "\n  # systemd [Service]\n%s", indent(s.Systemd, "  "))
	_, err := io.WriteString(w, b.String())
	return err
}

// ProfileLive writes one line of the live view: the capabilities seen so
// far, for a terminal.
func (t Text) ProfileLive(w io.Writer, seen capset.Set, checks int, elapsed float64) error {
	line := fmt.Sprintf("\r\x1b[K%s %.0fs  %d kinds of check  seen: %s", t.pal().Cyan("profiling"), elapsed, checks, Summarize(seen))
	if t.Width > 0 {
		line = "\r\x1b[K" + term.Truncate(strings.TrimPrefix(line, "\r\x1b[K"), t.Width-1)
	}
	_, err := io.WriteString(w, line)
	return err
}

func describeTarget(tg profile.Target) string {
	switch tg.Kind {
	case "command":
		return fmt.Sprintf("command %q (pid %d, mount namespace %d)", strings.Join(tg.Command, " "), tg.PID, tg.MntNS)
	default:
		name := tg.ContainerName
		if name == "" {
			name = tg.ContainerID
		}
		id := tg.ContainerID
		if len(id) > 12 {
			id = id[:12]
		}
		return fmt.Sprintf("container %s (%s, image %s, mount namespace %d)", name, id, tg.Image, tg.MntNS)
	}
}

func riskOf(t Text, name string) string {
	c, err := capset.Parse(name)
	if err != nil {
		return "?"
	}
	if e, ok := knowledge.Lookup(c); ok {
		return t.RiskLabel(e.Risk)
	}
	return "?"
}

func sortedCaps(m map[string]*profile.CapChecks) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		a, _ := capset.Parse(names[i])
		b, _ := capset.Parse(names[j])
		return a < b
	})
	return names
}

func syscallList(s []profile.SyscallCount, max int) string {
	var parts []string
	for i, sc := range s {
		if i == max {
			parts = append(parts, fmt.Sprintf("+%d", len(s)-max))
			break
		}
		parts = append(parts, sc.Syscall)
	}
	return strings.Join(parts, ",")
}

func verdicts(granted, denied uint64) string {
	switch {
	case granted > 0 && denied > 0:
		return fmt.Sprintf("%d granted, %d denied", granted, denied)
	case denied > 0:
		return fmt.Sprintf("%d denied", denied)
	}
	return fmt.Sprintf("%d granted", granted)
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n") + "\n"
}
