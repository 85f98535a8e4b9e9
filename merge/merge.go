// Package merge computes the capability sets a configured container really
// gets: the bounding, permitted, effective, inheritable and ambient sets of
// its main process, under the exact rules of the runtime that starts it.
//
// The runtimes disagree (docs/audit.md, "How the sets are computed"): Docker lets cap_add win over cap_drop
// and makes "add ALL + drop ALL" everything; containerd's CRI plugin lets the
// drop win, makes the same pair nothing, and turns "CAP_SYS_ADMIN" into
// "CAP_CAP_SYS_ADMIN", which runc then ignores; CRI-O and Podman refuse what
// the others accept. Compute models each runtime in two steps, as the real
// thing works: the runtime writes an OCI spec (the five lists), then runc and
// the kernel's execve rules turn that spec into the process's sets. Every
// capability in the result carries the reasons it is there, and every name a
// runtime ignores or refuses is recorded with where it was written.
//
// The rules were learned from the runtimes' source (moby
// daemon/pkg/oci/caps/utils.go, containerd internal/cri/opts/spec_opts.go,
// CRI-O internal/factory/container/container.go, containers/common
// pkg/capabilities, Podman pkg/specgen/generate/security_linux.go, runc
// libcontainer/capabilities and init_linux.go, Linux security/commoncap.c)
// and are proven against a real Docker engine in this package's tests.
package merge

import (
	"fmt"
	"strings"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/knowledge"
	"github.com/capdrop/capdrop/workload"
)

// Options describe the runtime installation the computation models. The
// zero Options model current releases on a host that gives the runtime every
// capability.
type Options struct {
	// Versions holds the release of each runtime where it matters; a
	// missing or zero entry means the current release. Docker before 23
	// knows only capabilities 0–37 (no PERFMON, BPF, CHECKPOINT_RESTORE)
	// and its ALL is those 38; before 20.10.14 it also filled the
	// inheritable set (CVE-2022-24769).
	Versions map[workload.Runtime]Version
	// Host is what the runtime itself holds (its bounding and permitted
	// sets): no container can get more, and a root container asking for
	// more fails to start. Zero means every capability capdrop knows,
	// which is what real hosts give their engine.
	Host capset.Set
	// KernelLast is the highest capability the kernel has
	// (/proc/sys/kernel/cap_last_cap); zero means capset.Last.
	KernelLast capset.Cap
	// Defaults overrides a runtime's default set (Podman's comes from
	// containers.conf, CRI-O's from crio.conf); missing entries use the
	// knowledge base.
	Defaults map[workload.Runtime]capset.Set
}

// Source says how a capability got into a container's sets.
type Source string

// The sources of a capability.
const (
	FromDefault    Source = "default"     // the runtime's default set
	FromAdd        Source = "cap_add"     // named in cap_add
	FromAll        Source = "all"         // cap_add: ALL
	FromPrivileged Source = "privileged"  // privileged: true / --privileged
	FromImageLabel Source = "image-label" // the image's io.containers.capabilities label
	FromExplicit   Source = "explicit"    // an OCI spec lists it outright
)

// Reason is one cause of a capability being held: the source and, when the
// configuration wrote something for it, that word and its position.
type Reason struct {
	Source Source         `json:"source"`
	Word   *workload.Word `json:"word,omitempty"`
}

// String describes r in words: "cap_add NET_ADMIN at compose.yaml:7:9".
func (r Reason) String() string {
	if r.Word == nil || (r.Word.Text == "" && r.Word.Pos.Line == 0) {
		return string(r.Source)
	}
	at := ""
	if r.Word.Pos.Line > 0 {
		at = " at " + r.Word.Pos.String()
	}
	if r.Source == FromPrivileged || r.Word.Text == "" {
		return string(r.Source) + at
	}
	return fmt.Sprintf("%s %s%s", r.Source, r.Word.Text, at)
}

// CapWhy lists the reasons one capability is held.
type CapWhy struct {
	Cap     capset.Cap `json:"-"`
	Name    string     `json:"capability"`
	Reasons []Reason   `json:"reasons"`
}

// Effect is what a runtime does with a capability name.
type Effect string

// The effects a name can have besides being applied.
const (
	// Ignored: the name reaches runc, which warns and leaves it out; the
	// container starts without the effect the author meant.
	Ignored Effect = "ignored"
	// Rejected: the runtime refuses to create or start the container.
	Rejected Effect = "rejected"
	// Unavailable: a real capability the runtime itself lacks; it is left
	// out of the container.
	Unavailable Effect = "unavailable"
)

// Name is a capability name the runtime did not apply as written.
type Name struct {
	Word workload.Word `json:"word"`
	// List is where the name was written: "cap_add", "cap_drop",
	// "image-label", or an OCI set ("bounding", "effective", …).
	List   string `json:"list"`
	Effect Effect `json:"effect"`
	// Sent is the name as the runtime passed it on, when it rewrote it
	// ("CAP_CAP_SYS_ADMIN" under containerd).
	Sent string `json:"sent,omitempty"`
	// Message says what happens, in the runtime's terms.
	Message string `json:"message"`
}

// Refusal is the runtime refusing the container.
type Refusal struct {
	// Stage is "create" when the runtime rejects the configuration up
	// front, "start" when the container is created but cannot start.
	Stage string `json:"stage"`
	// Message is the runtime's own error text, as far as capdrop can know it.
	Message string `json:"message"`
	// Hint explains the refusal when the runtime's words do not.
	Hint string         `json:"hint,omitempty"`
	Word *workload.Word `json:"word,omitempty"`
}

func (r *Refusal) Error() string {
	if r.Hint != "" {
		return fmt.Sprintf("refused at %s: %s (%s)", r.Stage, r.Message, r.Hint)
	}
	return fmt.Sprintf("refused at %s: %s", r.Stage, r.Message)
}

// The refusal stages.
const (
	StageCreate = "create"
	StageStart  = "start"
)

// Result is what a container gets.
type Result struct {
	Runtime workload.Runtime `json:"runtime"`
	Version Version          `json:"version"`
	// Sets are the main process's five sets after the runtime, runc and
	// execve; all empty when Refusal is set.
	Sets capset.Sets `json:"-"`
	// Spec is what the runtime writes into the OCI spec, before runc and
	// execve (useful to see why a set came out as it did).
	Spec capset.Sets `json:"-"`
	// Default is the runtime's default set as this computation used it
	// (Options.Defaults, else the knowledge base): what a container that
	// changes nothing would be given.
	Default capset.Set `json:"-"`
	// Root is whether the main process runs as uid 0; User says how that
	// was decided, and UserAssumed is true when nothing said and the image
	// default (root) was assumed.
	Root        bool   `json:"root"`
	User        string `json:"user"`
	UserAssumed bool   `json:"user_assumed"`
	NoNewPrivs  bool   `json:"no_new_privs"`
	// Why lists, for every capability in any of the five sets, why it is
	// there, in capability order.
	Why []CapWhy `json:"why"`
	// Names are the names the runtime ignored, rejected or could not give.
	Names []Name `json:"names"`
	// Refusal is set when the runtime refuses the container.
	Refusal *Refusal `json:"refusal,omitempty"`
	// Notes are facts worth telling about how the result came about.
	Notes []string `json:"notes"`
}

// Held returns every capability in any of the five sets.
func (r Result) Held() capset.Set {
	s := r.Sets
	return s.Bounding | s.Permitted | s.Effective | s.Inheritable | s.Ambient
}

// Reasons returns why c is held (nil when it is not).
func (r Result) Reasons(c capset.Cap) []Reason {
	for _, w := range r.Why {
		if w.Cap == c {
			return w.Reasons
		}
	}
	return nil
}

// Compute returns the sets w gets under its runtime's rules.
func Compute(w workload.Workload, opts Options) Result {
	rt := w.Runtime
	if rt == "" {
		rt = workload.Docker
	}
	e := newEnv(w, rt, opts)
	res := Result{Runtime: rt, Version: opts.Versions[rt], Default: e.defaults}
	id := identify(w, rt)
	res.Root, res.User, res.UserAssumed = id.root, id.how, id.assumed
	res.NoNewPrivs = noNewPrivs(w)

	var sp spec
	switch rt {
	case workload.Docker:
		sp = e.docker(id)
	case workload.Containerd:
		sp = e.containerd(id)
	case workload.CRIO:
		sp = e.crio(id)
	case workload.Podman:
		sp = e.podman(id)
	case workload.Nerdctl:
		sp = e.nerdctl(id)
	case workload.OCI:
		sp = e.oci()
	default:
		sp.refuse(StageCreate, fmt.Sprintf("unknown runtime %q (capdrop models %v)", rt, workload.Runtimes), nil)
	}
	if sp.refusal == nil && id.refusal != "" {
		sp.refuse(StageStart, id.refusal, nil)
	}
	res.Names = sp.names
	res.Notes = append(sp.notes, id.notes...)
	if sp.refusal != nil {
		res.Refusal = sp.refusal
		return res
	}
	res.Spec = sp.sets()
	sets, ref := e.execute(res.Spec, id.root, res.NoNewPrivs)
	if ref != nil {
		res.Refusal = ref
		return res
	}
	res.Sets = sets
	res.Why = sp.why(res.Held())
	if lost := res.Spec.Bounding.Minus(e.host); !lost.IsEmpty() && rt != workload.Podman {
		res.Notes = append(res.Notes, fmt.Sprintf("the runtime itself lacks %s, so the container's bounding set cannot hold it", lost))
	}
	return res
}

// env is what the runtime installation offers.
type env struct {
	w        workload.Workload
	rt       workload.Runtime
	version  Version
	host     capset.Set
	kernel   capset.Set // capabilities the kernel has
	defaults capset.Set
}

func newEnv(w workload.Workload, rt workload.Runtime, o Options) *env {
	e := &env{w: w, rt: rt, version: o.Versions[rt], host: o.Host, kernel: capset.Known}
	if o.KernelLast != 0 {
		e.kernel = capset.Upto(o.KernelLast)
	}
	if e.host == 0 || (w.Rootless && rt == workload.Podman) {
		// Rootless Podman starts containers in the user's own user
		// namespace, which holds every capability the kernel has.
		e.host = e.kernel
	}
	e.host &= e.kernel
	if d, ok := o.Defaults[rt]; ok {
		e.defaults = d
	} else {
		e.defaults = runtimeDefault(rt)
	}
	return e
}

func runtimeDefault(rt workload.Runtime) capset.Set {
	switch rt {
	case workload.Docker:
		return knowledge.MustDefault(knowledge.Docker)
	case workload.Containerd, workload.Nerdctl:
		return knowledge.MustDefault(knowledge.Containerd)
	case workload.CRIO:
		return knowledge.MustDefault(knowledge.CRIO)
	case workload.Podman:
		return knowledge.MustDefault(knowledge.Podman)
	}
	return 0
}

// runcKnows returns the capability runc maps an exact spec name to: runc
// compares "CAP_" + the upper-case name, and knows only what the kernel has.
func (e *env) runcKnows(name string) (capset.Cap, bool) {
	c, ok := exact(name)
	if !ok || !e.kernel.Has(c) {
		return 0, false
	}
	return c, true
}

// canonical maps each canonical name ("CAP_CHOWN") to its capability.
var canonical = func() map[string]capset.Cap {
	m := make(map[string]capset.Cap, capset.Last+1)
	for _, c := range capset.Known.Caps() {
		m[c.Name()] = c
	}
	return m
}()

// Lenient returns the capability a name means in the usual lenient reading
// (any case, CAP_ optional; ALL is not a capability), without
// capset.Parse's did-you-mean suggestion, which costs more than a whole
// merge when a corpus is full of odd spellings.
func Lenient(name string) (capset.Cap, bool) {
	s := strings.ToUpper(strings.TrimSpace(name))
	if !strings.HasPrefix(s, "CAP_") {
		s = "CAP_" + s
	}
	return exact(s)
}

// exact returns the capability whose canonical name is exactly name, the
// comparison every runtime makes after its own normalisation.
func exact(name string) (capset.Cap, bool) {
	c, ok := canonical[name]
	return c, ok
}

// spec is the OCI spec a runtime writes, with the provenance of each
// capability, and what the runtime said on the way.
type spec struct {
	bounding, permitted, effective, inheritable, ambient capset.Set
	prov                                                 map[capset.Cap][]Reason
	names                                                []Name
	notes                                                []string
	refusal                                              *Refusal
}

func (s *spec) sets() capset.Sets {
	return capset.Sets{Bounding: s.bounding, Permitted: s.permitted, Effective: s.effective,
		Inheritable: s.inheritable, Ambient: s.ambient}
}

func (s *spec) refuse(stage, msg string, w *workload.Word) {
	if s.refusal == nil {
		s.refusal = &Refusal{Stage: stage, Message: msg, Word: w}
	}
}

func (s *spec) refuseHint(stage, msg, hint string, w *workload.Word) {
	if s.refusal == nil {
		s.refusal = &Refusal{Stage: stage, Message: msg, Hint: hint, Word: w}
	}
}

func (s *spec) name(w workload.Word, list string, eff Effect, sent, msg string) {
	s.names = append(s.names, Name{Word: w, List: list, Effect: eff, Sent: sent, Message: msg})
}

func (s *spec) note(format string, args ...any) {
	s.notes = append(s.notes, fmt.Sprintf(format, args...))
}

// why returns the provenance of the capabilities in held, in order.
func (s *spec) why(held capset.Set) []CapWhy {
	out := []CapWhy{}
	for _, c := range held.Caps() {
		out = append(out, CapWhy{Cap: c, Name: c.Name(), Reasons: s.prov[c]})
	}
	return out
}

// list is a capability list being built the way a runtime builds it, keeping
// the reasons of each member.
type list struct {
	set capset.Set
	why map[capset.Cap][]Reason
	// seen holds the reasons in why, so that a list of thousands of words
	// costs thousands of steps, not millions.
	seen map[reasonKey]bool
}

// reasonKey identifies a reason by value: two reasons are the same when
// their sources and words are.
type reasonKey struct {
	c      capset.Cap
	source Source
	word   workload.Word
	nilW   bool
}

func keyOf(c capset.Cap, r Reason) reasonKey {
	k := reasonKey{c: c, source: r.Source, nilW: r.Word == nil}
	if r.Word != nil {
		k.word = *r.Word
	}
	return k
}

func newList() *list { return &list{why: map[capset.Cap][]Reason{}, seen: map[reasonKey]bool{}} }

func (l *list) add(c capset.Cap, r Reason) {
	l.set = l.set.With(c)
	if k := keyOf(c, r); !l.seen[k] {
		l.seen[k] = true
		l.why[c] = append(l.why[c], r)
	}
}

func (l *list) addSet(s capset.Set, r Reason) {
	for _, c := range s.Caps() {
		l.add(c, r)
	}
}

func (l *list) drop(c capset.Cap) {
	l.set = l.set.Without(c)
	for _, r := range l.why[c] {
		delete(l.seen, keyOf(c, r))
	}
	delete(l.why, c)
}

func (l *list) clear() {
	l.set = 0
	clear(l.why)
	clear(l.seen)
}

func (l *list) keepOnly(s capset.Set) {
	for _, c := range l.set.Minus(s).Caps() {
		l.drop(c)
	}
}

func reason(src Source, w *workload.Word) Reason { return Reason{Source: src, Word: w} }

func (w *env) privilegedWord() *workload.Word {
	word := workload.Word{Text: "privileged"}
	if w.w.PrivilegedPos != nil {
		word.Pos = *w.w.PrivilegedPos
	}
	return &word
}

func noNewPrivs(w workload.Workload) bool {
	if w.NoNewPrivs != nil {
		return *w.NoNewPrivs
	}
	// Kubernetes sets no_new_privs exactly when allowPrivilegeEscalation
	// is false.
	if w.AllowPrivilegeEscalation != nil {
		return !*w.AllowPrivilegeEscalation
	}
	return false
}

// execute applies what runc and the kernel do with a spec: runc lowers the
// bounding set to the spec's (it cannot raise it above its own), sets the
// permitted, effective and inheritable sets with capset(2) (which fails when
// asked for more than runc holds), raises the ambient capabilities that are
// both permitted and inheritable (silently skipping the others), and execs
// the entrypoint, where the kernel recomputes the sets: a root process gets
// its bounding and inheritable sets back as permitted and effective, any
// other process keeps only its ambient set (file capabilities aside), and
// no_new_privs forbids gaining what was not permitted before.
func (e *env) execute(sp capset.Sets, root, nnp bool) (capset.Sets, *Refusal) {
	fail := func(what string, missing capset.Set) (capset.Sets, *Refusal) {
		return capset.Sets{}, &Refusal{Stage: StageStart, Message: "unable to apply caps: operation not permitted",
			Hint: fmt.Sprintf("%s %s", what, missing)}
	}
	bnd := sp.Bounding & e.host
	if !e.host.Contains(sp.Permitted) {
		return fail("the runtime itself lacks", sp.Permitted.Minus(e.host))
	}
	if !sp.Permitted.Contains(sp.Effective) {
		return fail("effective but not permitted:", sp.Effective.Minus(sp.Permitted))
	}
	if !bnd.Contains(sp.Inheritable) {
		return fail("inheritable but outside the bounding set:", sp.Inheritable.Minus(bnd))
	}
	amb := sp.Ambient & sp.Permitted & sp.Inheritable
	var perm capset.Set
	if root {
		perm = bnd | sp.Inheritable
		if nnp && !sp.Permitted.Contains(perm) {
			perm &= sp.Permitted
		}
	}
	perm |= amb
	eff := amb
	if root {
		eff = perm
	}
	return capset.Sets{Bounding: bnd, Permitted: perm, Effective: eff, Inheritable: sp.Inheritable, Ambient: amb}, nil
}
