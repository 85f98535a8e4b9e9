// Package fleet is the picture of many containers at once: containers ×
// capabilities, each cell saying whether the container's configuration asks
// for the capability, whether the container holds it, whether it was seen
// using it and whether it needs it. It is filled from what capdrop's other
// packages already know — a live host (package inventory), an audit of
// configuration files (package audit), profiles (package profile) and
// verify results (package verify) — or from the JSON documents those verbs
// write, and it computes the fleet's totals. Renderers (package picture)
// draw it; this package never prints.
package fleet

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/fix"
	"github.com/capdrop/capdrop/knowledge"
	"github.com/capdrop/capdrop/workload"
)

// State is what one cell of the matrix says about one capability of one
// container. The states are exclusive; Cell adds the flags that can go with
// them.
type State uint8

// The states of a cell, from "nothing to say" to the most telling.
const (
	// None: the container neither holds nor asks for the capability, and
	// nothing showed it needs it.
	None State = iota
	// Held: held in the effective or permitted set; whether it is used is
	// not known (no profile, no verify result).
	Held
	// Bounding: held only in the bounding set (a non-root process can
	// regain it through a setuid or file-capability binary unless
	// no_new_privs); whether it is used is not known.
	Bounding
	// Unused: held, but the profile never saw it used and no verify
	// result needs it: the capability can go.
	Unused
	// Used: held and used (the profile saw granted checks), but not
	// proven necessary.
	Used
	// Needed: held and needed: in the set a verify run passed with, or
	// (without one) a need the profile found.
	Needed
	// Missing: needed or used, but not held: the configuration does not
	// give what the workload was seen to need.
	Missing
	// Dropped: held before the change this picture compares with, and no
	// longer held.
	Dropped
	// Ignored: the configuration asks for it, but the container does not
	// hold it (a name the runtime ignores, refuses, or cannot give).
	Ignored
)

// states lists every state with its stable code (used in documents and on
// the page) and its words.
var states = [...]struct {
	code  byte
	name  string
	words string
}{
	None:     {'.', "none", "not held"},
	Held:     {'h', "held", "held; use unknown"},
	Bounding: {'b', "bounding", "only in the bounding set; use unknown"},
	Unused:   {'u', "unused", "held, never used"},
	Used:     {'s', "used", "held and used, not proven needed"},
	Needed:   {'n', "needed", "held and needed"},
	Missing:  {'m', "missing", "needed, not held"},
	Dropped:  {'d', "dropped", "dropped by the change"},
	Ignored:  {'i', "ignored", "asked for, not given"},
}

// States lists every state in order.
func States() []State {
	out := make([]State, len(states))
	for i := range states {
		out[i] = State(i)
	}
	return out
}

// Code is the state's one-letter code: ".", "h", "b", "u", "s", "n", "m",
// "d", "i".
func (s State) Code() byte { return states[s].code }

// String is the state's name ("unused").
func (s State) String() string { return states[s].name }

// Words describe the state to people ("held, never used").
func (s State) Words() string { return states[s].words }

// Holds reports whether the state means the container holds the
// capability.
func (s State) Holds() bool { return s >= Held && s <= Needed }

// Cell is one capability of one container.
type Cell struct {
	State State
	// Configured: the configuration asks for it explicitly (cap_add, ALL,
	// privileged, an image label, an OCI spec's list).
	Configured bool
	// Added: held now, and not before the change compared with.
	Added bool
	// Proven: a passing verify run's set holds it.
	Proven bool
	// Denied: the profile saw checks of it denied.
	Denied bool
}

// Code is the cell's code: the state's letter, upper case when the
// configuration asks for the capability.
func (c Cell) Code() byte {
	b := c.State.Code()
	if c.Configured && b >= 'a' && b <= 'z' {
		b -= 'a' - 'A'
	}
	return b
}

// Group names where a container belongs, along each dimension the page can
// group by. Empty means unknown along that dimension.
type Group struct {
	// Host is the machine a live container runs on.
	Host string `json:"host,omitempty"`
	// Namespace is the Kubernetes namespace.
	Namespace string `json:"namespace,omitempty"`
	// Workload is the owning object: a Kubernetes controller
	// ("Deployment/web"), a compose service's file, a live container's name.
	Workload string `json:"workload,omitempty"`
	// File is the configuration file it was read from.
	File string `json:"file,omitempty"`
}

// Dimensions are the names of Group's fields, in the order the page offers
// them.
var Dimensions = []string{"namespace", "host", "workload", "file"}

// Get returns the group's value along a dimension.
func (g Group) Get(dim string) string {
	switch dim {
	case "host":
		return g.Host
	case "namespace":
		return g.Namespace
	case "workload":
		return g.Workload
	case "file":
		return g.File
	}
	return ""
}

// Config is a container's capability configuration as written.
type Config struct {
	Privileged bool     `json:"privileged"`
	CapAdd     []string `json:"cap_add"`
	CapDrop    []string `json:"cap_drop"`
	User       string   `json:"user,omitempty"`
	// NoNewPrivs is nil when not known.
	NoNewPrivs *bool `json:"no_new_privs,omitempty"`
	// Set is what the configuration explicitly asks for.
	Set capset.Set `json:"-"`
}

// Reason is one cause of a held capability, as the audit explains it.
type Reason struct {
	// Source is "default", "cap_add", "all", "privileged", "image-label"
	// or "explicit".
	Source string `json:"source"`
	// Text is the word that caused it and At where it is written.
	Text string `json:"text,omitempty"`
	At   string `json:"at,omitempty"`
}

// Finding is a rule violated by the container (an audit finding) or a way
// the live sets differ from the configuration.
type Finding struct {
	// Rule is the audit rule ID, or "live:" and the mismatch kind.
	Rule     string `json:"rule"`
	Severity string `json:"severity,omitempty"`
	Title    string `json:"title,omitempty"`
	At       string `json:"at,omitempty"`
	Message  string `json:"message"`
	Fix      string `json:"fix,omitempty"`
	// Uncertain is true when the audit judged a configuration it could
	// not fully see (the finding is about the configuration as read).
	Uncertain bool `json:"uncertain,omitempty"`
}

// Evidence is what the profile saw of one capability.
type Evidence struct {
	Cap capset.Cap `json:"-"`
	// Class is "needed", "used" (granted, not classed as a need), "noise"
	// or "denied".
	Class    string         `json:"class"`
	Granted  uint64         `json:"granted"`
	Denied   uint64         `json:"denied"`
	Syscalls []SyscallCount `json:"syscalls,omitempty"`
	Commands []string       `json:"commands,omitempty"`
	Noise    []string       `json:"noise,omitempty"`
	// Reasons say why a used capability is not proven needed (a use
	// programs commonly survive losing: audit records, signals to other
	// users) or how it was kept without a check (capset, exec).
	Reasons []string `json:"reasons,omitempty"`
	// Pods and Nodes are, for a cluster profile, how many Pods put the
	// capability in its class and on which nodes.
	Pods  int      `json:"pods,omitempty"`
	Nodes []string `json:"nodes,omitempty"`
}

// SyscallCount is how many checks of a capability one syscall made.
type SyscallCount struct {
	Syscall string `json:"syscall"`
	Granted uint64 `json:"granted"`
	Denied  uint64 `json:"denied"`
}

// Usage is what profiles saw a container use.
type Usage struct {
	// From names the profiles ("profile web.json").
	From []string
	// Used are the capabilities with granted checks that are not noise;
	// Needed those the profiler classed as needs (a subset of Used);
	// Unproven those it classed as used but not proven needed (the rest
	// of Used); Denied those it saw denied.
	Used, Needed, Unproven, Denied capset.Set
	// Evidence is per capability, by capability number.
	Evidence []Evidence
	// Warnings say what may make a profile incomplete.
	Warnings []string
	// Partial is true when a profile says it is not complete (a cluster
	// profile's partial reasons are in Warnings).
	Partial bool
}

// Proof is what a verify result says about a container.
type Proof struct {
	From string
	// Set is the verified set; Passed whether it passed every time.
	Set    capset.Set
	Passed bool
	// Minimized and OneMinimal: verify --minimize shrank Start to Set and
	// proved every capability left necessary.
	Minimized, OneMinimal bool
	Start, Removed        capset.Set
	Runs                  int
	Message               string
}

// Snippet is ready-to-paste configuration in the container's own dialect.
type Snippet struct {
	// Dialect is "compose", "kubernetes", "docker run", "dockerfile",
	// "systemd".
	Dialect string `json:"dialect"`
	Text    string `json:"text"`
}

// Container is one row of the matrix.
type Container struct {
	// Key is the container's identifier on the page ("c1", "c2", …),
	// stable for a given input.
	Key   string
	Name  string
	Image string
	// Kind says what the container is: "docker container" (live), an audit
	// workload kind ("compose-service", "kubernetes-container", …), or
	// "profile" for a profiled workload nothing else showed.
	Kind    string
	Runtime string
	// ID is a live container's ID.
	ID string
	// At is where it is defined (file:line:column).
	At    string
	Group Group
	// Config is nil when not known.
	Config *Config
	// Sets are the main process's five sets, live or computed; nil when
	// not known (a profile alone does not say what is held).
	Sets *capset.Sets
	// Root is whether the main process runs as root; RootKnown whether
	// that is known.
	Root, RootKnown bool
	// Why says, per held capability, why it is held (audit only).
	Why map[capset.Cap][]Reason
	// Asked are capabilities the configuration asks for that the runtime
	// does not give (ignored, refused, unavailable).
	Asked capset.Set
	// Before is the bounding set before the change compared with; nil
	// when there is nothing to compare.
	Before *capset.Set
	Usage  *Usage
	Proof  *Proof
	// Findings are audit findings and live mismatches.
	Findings []Finding
	// Refused is the runtime's refusal, when it refuses the container.
	Refused string
	Notes   []string
	// Uncertain says why the audit could not fully see the container's
	// configuration (variables, templates, unknown flags); its sets are
	// computed from the configuration as read.
	Uncertain []string
	// Kube places a container of a Kubernetes cluster: nil elsewhere.
	Kube *Kube

	cells map[capset.Cap]Cell
}

// Kube is where a container of a live cluster is: its top controller,
// its name in the Pod spec, and for a running one its Pod and node.
type Kube struct {
	// Controller is the top controller, "Deployment/web" (a Pod nothing
	// controls is its own: "Pod/debug").
	Controller string
	// Container is the container's name in the Pod spec; Init is true for
	// an init container (sidecars included).
	Container string
	Init      bool
	// Origin is "template" (the controller's Pod template: what the next
	// Pods get) or "pod" (a running Pod as admitted).
	Origin string
	// Pod and Node are a running Pod's.
	Pod, Node string
}

// HeldSet is every capability in any of the container's sets.
func (c *Container) HeldSet() capset.Set {
	if c.Sets == nil {
		return 0
	}
	s := c.Sets
	return s.Bounding | s.Permitted | s.Effective | s.Inheritable | s.Ambient
}

// Known reports whether anything says what the container uses or needs.
func (c *Container) Known() bool {
	return c.Usage != nil || (c.Proof != nil && c.Proof.Passed)
}

// NeededSet is what the container needs: the set a passing verify run
// proved, else the profile's needs; false when neither is known.
func (c *Container) NeededSet() (capset.Set, bool) {
	if c.Proof != nil && c.Proof.Passed {
		return c.Proof.Set, true
	}
	if c.Usage != nil {
		return c.Usage.Needed, true
	}
	return 0, false
}

// UsedSet is what the container was seen using (profile) or needs.
func (c *Container) UsedSet() capset.Set {
	var s capset.Set
	if c.Usage != nil {
		s = c.Usage.Used | c.Usage.Needed
	}
	if n, ok := c.NeededSet(); ok {
		s |= n
	}
	return s
}

// Recommended is the set the container should get, when known: the set a
// passing verify run proved, else what profiles saw it use — its needs and
// the uses not proven needed, which verify --minimize keeps or removes (a
// profile recommends both until then).
func (c *Container) Recommended() (capset.Set, bool) {
	if c.Proof != nil && c.Proof.Passed {
		return c.Proof.Set, true
	}
	if c.Usage != nil {
		return c.Usage.Used | c.Usage.Needed, true
	}
	return 0, false
}

// Snippet is ready-to-paste configuration giving the container exactly
// what it needs, in its own dialect; false when the need is not known.
func (c *Container) Snippet() (Snippet, bool) {
	set, ok := c.Recommended()
	if !ok {
		return Snippet{}, false
	}
	format, dialect := fix.Script, "docker run flags"
	switch workload.Kind(c.Kind) {
	case workload.ComposeService:
		format, dialect = fix.Compose, "compose service"
	case workload.KubeContainer, workload.KubeInitContainer, workload.KubeEphemeral:
		format, dialect = fix.Kubernetes, "Kubernetes container"
	case workload.DockerfileLabel:
		format, dialect = fix.Dockerfile, "Dockerfile"
	case workload.QuadletUnit:
		format, dialect = fix.Quadlet, "Quadlet unit"
	case workload.OCISpec:
		format, dialect = fix.OCI, "OCI config.json"
	}
	return Snippet{Dialect: dialect, Text: fix.Snippet(format, set)}, true
}

// Cell returns the container's cell for a capability.
func (c *Container) Cell(cp capset.Cap) Cell {
	if c.cells == nil {
		c.compute()
	}
	return c.cells[cp]
}

// Caps are the capabilities with a non-empty cell, by number.
func (c *Container) Caps() capset.Set {
	if c.cells == nil {
		c.compute()
	}
	var s capset.Set
	for cp := range c.cells {
		s = s.With(cp)
	}
	return s
}

func (c *Container) compute() {
	c.cells = map[capset.Cap]Cell{}
	held := c.HeldSet()
	var usable capset.Set
	if c.Sets != nil {
		usable = c.Sets.Effective | c.Sets.Permitted | c.Sets.Ambient | c.Sets.Inheritable
	}
	needed, knows := c.NeededSet()
	used := c.UsedSet()
	var proven, denied, configured capset.Set
	if c.Proof != nil && c.Proof.Passed {
		proven = c.Proof.Set
	}
	if c.Usage != nil {
		denied = c.Usage.Denied
	}
	if c.Config != nil {
		configured = c.Config.Set
	}
	var before capset.Set
	if c.Before != nil {
		before = *c.Before
	}
	all := held | used | needed | c.Asked | before
	for _, cp := range all.Caps() {
		cell := Cell{Configured: configured.Has(cp), Proven: proven.Has(cp), Denied: denied.Has(cp)}
		switch {
		case held.Has(cp) && needed.Has(cp):
			cell.State = Needed
		case held.Has(cp) && used.Has(cp):
			cell.State = Used
		case held.Has(cp) && knows:
			cell.State = Unused
		case held.Has(cp) && usable.Has(cp):
			cell.State = Held
		case held.Has(cp):
			cell.State = Bounding
		case c.Sets != nil && (needed.Has(cp) || used.Has(cp)):
			cell.State = Missing
		case c.Before != nil && before.Has(cp):
			cell.State = Dropped
		case c.Asked.Has(cp):
			cell.State = Ignored
		case c.Sets == nil && (needed.Has(cp) || used.Has(cp)):
			// Held is unknown: say what the workload uses.
			cell.State = Used
			if needed.Has(cp) {
				cell.State = Needed
			}
		}
		if c.Before != nil && cell.State.Holds() && !before.Has(cp) {
			cell.Added = true
		}
		if cell.State != None {
			c.cells[cp] = cell
		}
	}
}

// Risk is the knowledge base's risk of a capability (Low for one capdrop
// does not know).
func Risk(cp capset.Cap) knowledge.Risk {
	if e, ok := knowledge.Lookup(cp); ok && e.Risk != knowledge.RiskUnset {
		return e.Risk
	}
	return knowledge.Low
}

// weight makes one critical capability outweigh any number of lower ones
// a container can hold.
func weight(r knowledge.Risk) int {
	switch r {
	case knowledge.Critical:
		return 1 << 18
	case knowledge.High:
		return 1 << 12
	case knowledge.Medium:
		return 1 << 6
	}
	return 1
}

// Exposure scores what a container holds without needing it: held
// capabilities not known to be needed, weighted by risk, so that one
// critical capability outweighs every lower one. Containers are shown
// riskiest first by this score.
func (c *Container) Exposure() int {
	score := 0
	for cp, cell := range c.cellsMap() {
		switch cell.State {
		case Unused, Held, Used:
			score += 2 * weight(Risk(cp))
		case Bounding:
			score += weight(Risk(cp))
		}
	}
	return score
}

func (c *Container) cellsMap() map[capset.Cap]Cell {
	if c.cells == nil {
		c.compute()
	}
	return c.cells
}

// Fleet is everything the picture shows.
type Fleet struct {
	// Title heads the page.
	Title string
	// Generated is when the picture was made.
	Generated time.Time
	// Inputs say what the picture was made from, one line each.
	Inputs []string
	// Containers are ordered riskiest first (see Exposure), then by group
	// and name.
	Containers []*Container
	// Columns are the capabilities any container has a cell for, riskiest
	// first, then by number.
	Columns []capset.Cap
	// Errors are inputs that could not be read, Warnings what the reader
	// should know (a profile that matched no container).
	Errors, Warnings []string
	// HasBefore is true when the picture compares with an earlier state.
	HasBefore bool
}

// finish orders containers and columns and gives containers their keys.
func (f *Fleet) finish() {
	var cols capset.Set
	for _, c := range f.Containers {
		c.compute()
		cols |= c.Caps()
		f.HasBefore = f.HasBefore || c.Before != nil
	}
	f.Columns = SortByRisk(cols)
	type keyed struct {
		c     *Container
		score int
	}
	ks := make([]keyed, len(f.Containers))
	for i, c := range f.Containers {
		ks[i] = keyed{c, c.Exposure()}
	}
	slices.SortStableFunc(ks, func(a, b keyed) int {
		return cmp.Or(cmp.Compare(b.score, a.score), cmp.Compare(a.c.Group.Namespace, b.c.Group.Namespace),
			cmp.Compare(a.c.Group.Host, b.c.Group.Host), cmp.Compare(a.c.Group.File, b.c.Group.File),
			strings.Compare(a.c.Name, b.c.Name), strings.Compare(a.c.At, b.c.At))
	})
	for i := range ks {
		f.Containers[i] = ks[i].c
		f.Containers[i].Key = "c" + strconv.Itoa(i+1)
	}
}

// SortByRisk returns the capabilities of s riskiest first, then by number.
func SortByRisk(s capset.Set) []capset.Cap {
	caps := s.Caps()
	slices.SortStableFunc(caps, func(a, b capset.Cap) int { return cmp.Compare(Risk(b), Risk(a)) })
	return caps
}
