package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/internal/term"
	"github.com/capdrop/capdrop/inventory"
	"github.com/capdrop/capdrop/knowledge"
)

// PSContainerRef is the JSON form of the container a process belongs to.
// Name and Image are "" when no engine told them.
type PSContainerRef struct {
	Runtime string `json:"runtime"`
	ID      string `json:"id"`
	Name    string `json:"name"`
	Image   string `json:"image"`
	PodUID  string `json:"pod_uid,omitempty"`
	// Pod names the Kubernetes Pod and container, when the CRI told.
	Pod *inventory.Pod `json:"pod,omitempty"`
}

// PSUserNS is the JSON form of a process's user namespace.
type PSUserNS struct {
	Inode uint64 `json:"inode"`
	// Host is false when the process is in a user namespace other than the
	// host's: its capabilities then reach only what that namespace owns.
	Host bool `json:"host"`
}

// PSThread is the JSON form of a thread whose sets differ from its
// process's.
type PSThread struct {
	TID     int             `json:"tid"`
	Command string          `json:"command"`
	Sets    capset.SetNames `json:"sets"`
	Hex     capset.SetHex   `json:"hex"`
}

// PSProcess is one element of `capdrop ps -o json`. The shape is a stable
// contract, documented in docs/ps.md.
type PSProcess struct {
	PID        int             `json:"pid"`
	PPID       int             `json:"ppid"`
	UID        int             `json:"uid"`
	EUID       int             `json:"euid"`
	User       string          `json:"user"`
	Command    string          `json:"command"`
	Cmdline    []string        `json:"cmdline,omitempty"`
	Container  *PSContainerRef `json:"container"`
	Sets       capset.SetNames `json:"sets"`
	Hex        capset.SetHex   `json:"hex"`
	NoNewPrivs bool            `json:"no_new_privs"`
	Seccomp    string          `json:"seccomp"`
	UserNS     *PSUserNS       `json:"user_namespace"`
	Threads    []PSThread      `json:"threads,omitempty"`
}

// PSConfig is the JSON form of a container's configuration.
type PSConfig struct {
	CapAdd     []string `json:"cap_add"`
	CapDrop    []string `json:"cap_drop"`
	Privileged bool     `json:"privileged"`
	User       string   `json:"user"`
}

// PSRisk is a capability with its risk level.
type PSRisk struct {
	Name string `json:"name"`
	Risk string `json:"risk"`
}

// PSMismatch is the JSON form of inventory.Mismatch.
type PSMismatch struct {
	Kind         string   `json:"kind"`
	Capabilities []string `json:"capabilities"`
	Message      string   `json:"message"`
}

// PSContainer is one element of `capdrop ps --containers -o json`.
type PSContainer struct {
	PSContainerRef
	Config        *PSConfig        `json:"config"`
	MainPID       int              `json:"main_pid"`
	Processes     int              `json:"processes"`
	Sets          *capset.SetNames `json:"sets"`
	Hex           *capset.SetHex   `json:"hex"`
	Default       string           `json:"default"`
	BeyondDefault []string         `json:"beyond_default"`
	Riskiest      []PSRisk         `json:"riskiest"`
	Mismatches    []PSMismatch     `json:"mismatches"`
}

func seccompName(mode int) string {
	switch mode {
	case 0:
		return "disabled"
	case 1:
		return "strict"
	case 2:
		return "filter"
	}
	return "unknown"
}

func psRef(c *inventory.Container) *PSContainerRef {
	if c == nil {
		return nil
	}
	return &PSContainerRef{Runtime: string(c.Runtime), ID: c.ID, Name: c.Name, Image: c.Image, PodUID: c.PodUID, Pod: c.Pod}
}

// NewPSProcess builds the JSON form of p.
func NewPSProcess(p *inventory.Process) PSProcess {
	out := PSProcess{
		PID: p.PID, PPID: p.PPID, UID: p.UID, EUID: p.EUID, User: p.User,
		Command: p.Command, Cmdline: p.Cmdline, Container: psRef(p.Container),
		Sets: p.Sets.Names(), Hex: p.Sets.Hex(),
		NoNewPrivs: p.NoNewPrivs, Seccomp: seccompName(p.Seccomp),
	}
	if p.UserNS != 0 {
		out.UserNS = &PSUserNS{Inode: p.UserNS, Host: !p.ForeignUserNS}
	}
	for _, t := range p.Threads {
		out.Threads = append(out.Threads, PSThread{TID: t.TID, Command: t.Name, Sets: t.Sets.Names(), Hex: t.Sets.Hex()})
	}
	return out
}

// NewPSContainer builds the JSON form of c.
func NewPSContainer(c *inventory.Container) PSContainer {
	out := PSContainer{
		PSContainerRef: *psRef(c),
		Processes:      c.Processes,
		Default:        c.Default,
		BeyondDefault:  c.Beyond.Names(),
		Riskiest:       []PSRisk{},
		Mismatches:     []PSMismatch{},
	}
	if c.Config != nil {
		out.Config = &PSConfig{CapAdd: nonNil(c.Config.CapAdd), CapDrop: nonNil(c.Config.CapDrop), Privileged: c.Config.Privileged, User: c.Config.User}
	}
	if c.Main != nil {
		out.MainPID = c.Main.PID
		n, h := c.Main.Sets.Names(), c.Main.Sets.Hex()
		out.Sets, out.Hex = &n, &h
	}
	for _, cp := range c.Riskiest {
		e, _ := knowledge.Lookup(cp)
		out.Riskiest = append(out.Riskiest, PSRisk{Name: cp.Name(), Risk: e.Risk.String()})
	}
	for _, m := range c.Mismatches {
		out.Mismatches = append(out.Mismatches, PSMismatch{Kind: m.Kind, Capabilities: m.Caps.Names(), Message: m.Message})
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// PSJSON writes the processes of inv as a JSON array.
func PSJSON(w io.Writer, inv *inventory.Inventory) error {
	out := make([]PSProcess, len(inv.Processes))
	for i, p := range inv.Processes {
		out[i] = NewPSProcess(p)
	}
	return JSON(w, out)
}

// PSContainersJSON writes the containers of inv as a JSON array.
func PSContainersJSON(w io.Writer, inv *inventory.Inventory) error {
	out := make([]PSContainer, len(inv.Containers))
	for i, c := range inv.Containers {
		out[i] = NewPSContainer(c)
	}
	return JSON(w, out)
}

// capsCell names a process's effective set the way pscap does: "full" when
// it holds every capability the kernel has.
func capsCell(s, kernel capset.Set) string {
	if !kernel.IsEmpty() && s.Contains(kernel) && s.Minus(kernel).IsEmpty() {
		return "full"
	}
	return Summarize(s)
}

func containerCell(c *inventory.Container) string {
	if c == nil {
		return "-"
	}
	if c.Name != "" {
		return c.Name
	}
	return string(c.Runtime) + ":" + c.ShortID()
}

func commandCell(p *inventory.Process) string {
	cmd := p.Command
	if p.ForeignUserNS {
		cmd += " (userns)"
	}
	return cmd
}

// PS writes the default process table: one row per process (and per thread
// whose sets differ), pscap's columns plus the container.
func (t Text) PS(w io.Writer, inv *inventory.Inventory) error {
	if len(inv.Processes) == 0 {
		_, err := io.WriteString(w, "no process holds an effective capability (use -a to list them all)\n")
		return err
	}
	tab := term.Table{MaxWidth: t.Width}
	b := t.pal().Bold
	tab.Row(b("PPID"), b("PID"), b("USER"), b("COMMAND"), b("CONTAINER"), b("CAPABILITIES"))
	// Most processes share a handful of sets: name each set once.
	names := map[capset.Set]string{}
	caps := func(s capset.Set) string {
		n, ok := names[s]
		if !ok {
			n = capsCell(s, inv.KernelCaps)
			names[s] = n
		}
		return n
	}
	for _, p := range inv.Processes {
		ctr := containerCell(p.Container)
		tab.Row(strconv.Itoa(p.PPID), strconv.Itoa(p.PID), p.User, commandCell(p), ctr, caps(p.Sets.Effective))
		for _, th := range p.Threads {
			tab.Row(strconv.Itoa(p.PID), strconv.Itoa(th.TID), p.User, th.Name+" (thread)", ctr, caps(th.Sets.Effective))
		}
	}
	return tab.Render(w)
}

// PSWide writes every process as a block: identity, command line,
// container, security settings, and all five sets.
func (t Text) PSWide(w io.Writer, inv *inventory.Inventory) error {
	for i, p := range inv.Processes {
		if i > 0 {
			if _, err := io.WriteString(w, "\n"); err != nil {
				return err
			}
		}
		var sb strings.Builder
		fmt.Fprintf(&sb, "%s %d %s  ppid %d, user %s (uid %d, euid %d)\n", t.pal().Bold("PID"), p.PID, t.pal().Bold(p.Command), p.PPID, p.User, p.UID, p.EUID)
		tab := term.Table{}
		if len(p.Cmdline) > 0 {
			tab.Row("  cmdline", strings.Join(p.Cmdline, " "))
		}
		if c := p.Container; c != nil {
			desc := fmt.Sprintf("%s %s", c.Runtime, c.ShortID())
			if c.Image != "" {
				desc += ", image " + c.Image
			}
			if c.PodUID != "" {
				desc += ", pod " + c.PodUID
			}
			tab.Row("  container", containerCell(c)+" ("+desc+")")
		} else {
			tab.Row("  container", "none (host)")
		}
		ns := "host user namespace"
		switch {
		case p.UserNS == 0:
			ns = "user namespace unknown"
		case p.ForeignUserNS:
			ns = fmt.Sprintf("own user namespace (%d)", p.UserNS)
		}
		nnp := "no"
		if p.NoNewPrivs {
			nnp = "yes"
		}
		tab.Row("  security", fmt.Sprintf("no_new_privs %s, seccomp %s, %s", nnp, seccompName(p.Seccomp), ns))
		addSets(&tab, "  ", p.Sets)
		for _, th := range p.Threads {
			tab.Row(fmt.Sprintf("  thread %d", th.TID), th.Name+" (sets differ from the process's)")
			addSets(&tab, "    ", th.Sets)
		}
		if _, err := io.WriteString(w, sb.String()); err != nil {
			return err
		}
		if err := tab.Render(w); err != nil {
			return err
		}
	}
	return nil
}

func addSets(tab *term.Table, indent string, sets capset.Sets) {
	sets.Each(func(name string, s capset.Set) {
		tab.Row(indent+name, s.Hex()+"  "+Summarize(s))
	})
}

// describe names a set relative to a runtime default: "default",
// "default + SYS_ADMIN", "default - NET_RAW", else Summarize.
func describe(s, def capset.Set) string {
	if s.IsEmpty() {
		return "none"
	}
	if def.IsEmpty() {
		return Summarize(s)
	}
	plus, minus := s.Minus(def), def.Minus(s)
	if plus.Len()+minus.Len() > 3 || s.Len() <= plus.Len() {
		return Summarize(s)
	}
	out := "default"
	if !plus.IsEmpty() {
		out += " + " + strings.Join(plus.ShortNames(), ",")
	}
	if !minus.IsEmpty() {
		out += " - " + strings.Join(minus.ShortNames(), ",")
	}
	return out
}

func configCell(c *inventory.Config) string {
	if c == nil {
		return "?"
	}
	var parts []string
	if c.Privileged {
		parts = append(parts, "privileged")
	}
	if len(c.CapDrop) > 0 {
		parts = append(parts, "drop "+shortWords(c.CapDrop))
	}
	if len(c.CapAdd) > 0 {
		parts = append(parts, "add "+shortWords(c.CapAdd))
	}
	if c.User != "" {
		parts = append(parts, "user "+c.User)
	}
	if len(parts) == 0 {
		return "default"
	}
	return strings.Join(parts, " ")
}

// shortWords joins configured capability names without the CAP_ prefix the
// engine adds.
func shortWords(words []string) string {
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = strings.TrimPrefix(strings.ToUpper(w), "CAP_")
	}
	return strings.Join(out, ",")
}

// PSContainers writes one row per container, then the mismatches between
// what containers hold and what their configuration asked for.
func (t Text) PSContainers(w io.Writer, inv *inventory.Inventory) error {
	if len(inv.Containers) == 0 {
		_, err := io.WriteString(w, "no container processes found\n")
		return err
	}
	tab := term.Table{MaxWidth: t.Width}
	b := t.pal().Bold
	tab.Row(b("CONTAINER"), b("IMAGE"), b("RUNTIME"), b("CONFIG"), b("PID"), b("BOUNDING"), b("EFFECTIVE"), b("BEYOND DEFAULT"), b("RISKIEST"))
	var notes []string
	for _, c := range inv.Containers {
		image := c.Image
		if image == "" {
			image = "?"
		}
		pid, bnd, eff, beyond, risk := "-", "-", "-", "-", "-"
		if m := c.Main; m != nil {
			def, _ := knowledge.Default(c.Default)
			pid = strconv.Itoa(m.PID)
			bnd = describe(m.Sets.Bounding, def)
			eff = describe(m.Sets.Effective, def)
			if m.Sets.Effective == m.Sets.Bounding && !m.Sets.Effective.IsEmpty() {
				eff = "= bounding"
			}
			if !c.Beyond.IsEmpty() {
				beyond = firstNames(c.Beyond.Caps(), 3, func(cp capset.Cap) string { return cp.Short() })
			}
			if len(c.Riskiest) > 0 {
				risk = firstNames(c.Riskiest, 3, func(cp capset.Cap) string {
					e, _ := knowledge.Lookup(cp)
					return t.riskColor(e.Risk, cp.Short())
				})
			}
		}
		tab.Row(containerCell(c), image, string(c.Runtime), configCell(c.Config), pid, bnd, eff, beyond, risk)
		for _, m := range c.Mismatches {
			notes = append(notes, fmt.Sprintf("%s: %s", containerCell(c), m.Message))
		}
	}
	if err := tab.Render(w); err != nil {
		return err
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\n%s\n", t.pal().Bold("Live sets that differ from the configuration:"))
		for _, n := range notes {
			if _, err := io.WriteString(w, term.WrapHanging(n, t.wrapWidth(), "  ", "    ")+"\n"); err != nil {
				return err
			}
		}
	}
	return nil
}

// firstNames names the first n capabilities and counts the rest: "A,B,C +5".
func firstNames(caps []capset.Cap, n int, name func(capset.Cap) string) string {
	var parts []string
	for i, c := range caps {
		if i == n {
			return strings.Join(parts, ",") + fmt.Sprintf(" +%d", len(caps)-n)
		}
		parts = append(parts, name(c))
	}
	return strings.Join(parts, ",")
}

func (t Text) riskColor(r knowledge.Risk, s string) string {
	switch r {
	case knowledge.Critical:
		return t.pal().Magenta(s)
	case knowledge.High:
		return t.pal().Red(s)
	}
	return s
}
