// Package agent is capdrop's node agent for Kubernetes: it traces the
// kernel's capability checks on one node (package trace), keyed from each
// container's first exec, names each container's checks by Pod and
// container through a watch of the Pods on its node, tells the workload's
// own processes (the container's entrypoint and its descendants, its exec
// probes and lifecycle hooks) from exec sessions (`kubectl exec`) and
// ephemeral debug containers, and serves what it saw as a Report over
// HTTP. It never writes to the API server.
//
// The tracer's maps and links are pinned on the BPF file system, so when
// the agent restarts the kernel goes on counting and the new agent takes
// over the same maps: no check is lost.
//
// The Report is the agent's stable wire format (docs/kubernetes.md);
// package clusterprofile aggregates the reports of every node into
// per-workload profiles.
package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/trace"
)

// ReportVersion is the version of the Report format.
const ReportVersion = 1

// ReportPath is where an agent serves its Report.
const ReportPath = "/v1/report"

// Port is the port an agent listens on by default.
const Port = 9153

// Report is everything an agent has seen on its node.
type Report struct {
	Version int `json:"version"`
	// Node is the node's name; Pod the agent's own Pod.
	Node string `json:"node"`
	Pod  string `json:"pod,omitempty"`
	// AgentVersion is the capdrop version of the agent.
	AgentVersion string    `json:"agent_version"`
	Generated    time.Time `json:"generated"`
	// Started is when this agent process started; TracingSince when the
	// node's tracer was attached, which an agent restart does not change
	// (the tracer stays pinned). Restarts counts the agents that took the
	// tracer over after the first.
	Started      time.Time `json:"started"`
	TracingSince time.Time `json:"tracing_since"`
	Restarts     int       `json:"restarts"`
	// Pinned says whether the tracer is pinned on the BPF file system
	// (it then survives the agent's restarts).
	Pinned bool `json:"pinned"`
	// Mechanism is how cap_capable is hooked (trace.Mechanism);
	// VMProbeDetection whether the overcommit probe is recognised on the
	// kernel stack.
	Mechanism        string `json:"mechanism"`
	VMProbeDetection bool   `json:"vm_probe_detection"`
	Kernel           string `json:"kernel"`
	// Arch is the architecture whose syscall numbers the records carry
	// (amd64, arm64).
	Arch string `json:"arch"`
	// Counters are the tracer's losses since TracingSince.
	Counters Counters `json:"counters"`
	// Containers are the Kubernetes containers the agent has seen exec
	// something on the node.
	Containers []Container `json:"containers"`
	// Unnamed counts the containers whose checks the tracer counted that
	// no Pod on the node names (yet), and that may be a Pod's: their
	// checks are in no Container. UnnamedContainers lists them (the 256
	// most recently active).
	Unnamed           int                `json:"unnamed"`
	UnnamedContainers []UnnamedContainer `json:"unnamed_containers,omitempty"`
	// OtherContainers counts the containers no Pod names whose cgroup is
	// outside the kubelet's (Docker's, a host service's): not in Unnamed.
	// NamingPending counts those that started less than NamingGrace ago
	// while the Pod watch was up (their Pod's status will name them): not
	// in Unnamed either.
	// NoiseOnly counts those whose checks a profile would take nothing
	// from (a Pod sandbox's pause: only the kernel's overcommit probe):
	// they cannot change a set, and are not in Unnamed.
	OtherContainers int `json:"other_containers,omitempty"`
	NamingPending   int `json:"naming_pending,omitempty"`
	NoiseOnly       int `json:"noise_only,omitempty"`
	// PodWatch is the state of the agent's watch of its node's Pods.
	PodWatch PodWatch `json:"pod_watch"`
	// Pruning says how long the agent keeps an ended container's data
	// and what it deleted (see Agent.Prune).
	Pruning Pruning `json:"pruning"`
	// Warnings say what the agent could not do.
	Warnings []string `json:"warnings"`
}

// PodWatch is the state of an agent's watch of its node's Pods.
type PodWatch struct {
	// Synced says the Pods are listed and the watch follows them; Since
	// is when it became so, or when it broke (or the agent started);
	// Error why it is not synced.
	Synced bool      `json:"synced"`
	Since  time.Time `json:"since"`
	Error  string    `json:"error,omitempty"`
}

// UnnamedContainer is a container whose checks the tracer counted but no
// Pod the agent knows names: a Pod created and deleted while the agent's
// Pod watch was down (or before it first listed the Pods), whose checks may
// be any workload's on the node.
type UnnamedContainer struct {
	// Cgroup is its memory cgroup's id; ID the container ID its name
	// holds.
	Cgroup uint64 `json:"cgroup"`
	ID     string `json:"id"`
	// CgroupPath is the cgroup's path in the memory hierarchy, when the
	// agent could read it while the container lived ("" if not), and
	// PodUID the UID of the Pod whose cgroup holds it, as the path says.
	CgroupPath string `json:"cgroup_path,omitempty"`
	// CgroupParent is the name of the cgroup's parent, as the tracer read
	// it at the container's first exec (pod<UID> for a kubelet's): what
	// tells a kubelet's container where the path is not known.
	CgroupParent string `json:"cgroup_parent,omitempty"`
	PodUID       string `json:"pod_uid,omitempty"`
	// Command is its entrypoint's (or first exec's) arguments.
	Command []string `json:"command"`
	// FirstSeen and LastSeen are when the agent saw its first exec or
	// check and last saw an exec or its checks grow. TimesUnknown says
	// its checks were counted by an agent before this one (the tracer
	// was taken over) and have not grown since, so when they happened is
	// not known: FirstSeen and LastSeen are then its execs' only.
	FirstSeen    time.Time `json:"first_seen"`
	LastSeen     time.Time `json:"last_seen"`
	TimesUnknown bool      `json:"times_unknown,omitempty"`
	// Checks counts its checks; Capabilities are those a profile would
	// take from its checks and gains (needed or used, as for a named
	// container: never empty, or it is not listed); Other those it
	// checked besides (noise, denied).
	Checks       uint64   `json:"checks"`
	Capabilities []string `json:"capabilities"`
	Other        []string `json:"other_capabilities,omitempty"`
}

// Counters are the tracer's losses (trace.Counters) plus the sessions the
// tracer could not record.
type Counters struct {
	trace.Counters
	// SessionsOverflow counts roots whose session was not recorded
	// because the sessions map was full: their checks cannot be told
	// apart as the workload's or an exec session's.
	SessionsOverflow uint64 `json:"sessions_overflow"`
}

// Missing is the number of checks, tasks or sessions the trace may lack.
func (c Counters) Missing() uint64 { return c.Counters.Missing() + c.SessionsOverflow }

// Sub returns the losses since an earlier reading.
func (c Counters) Sub(before Counters) Counters {
	d := func(a, b uint64) uint64 {
		if a < b { // a new tracer: its counters started again
			return a
		}
		return a - b
	}
	return Counters{
		Counters: trace.Counters{
			Overflow:        d(c.Overflow, before.Overflow),
			Lost:            d(c.Lost, before.Lost),
			TasksOverflow:   d(c.TasksOverflow, before.TasksOverflow),
			PendingOverflow: d(c.PendingOverflow, before.PendingOverflow),
			RootsOverflow:   d(c.RootsOverflow, before.RootsOverflow),
			GainsOverflow:   d(c.GainsOverflow, before.GainsOverflow),
			Missed:          d(c.Missed, before.Missed),
		},
		SessionsOverflow: d(c.SessionsOverflow, before.SessionsOverflow),
	}
}

// The container types, as the Pod spec says.
const (
	TypeContainer = "container" // spec.containers
	TypeInit      = "init"      // spec.initContainers
	TypeSidecar   = "sidecar"   // spec.initContainers with restartPolicy: Always
	TypeEphemeral = "ephemeral" // spec.ephemeralContainers (kubectl debug)
)

// OwnerRef is a Pod's controller, as its owner reference says.
type OwnerRef struct {
	APIVersion string `json:"api_version"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	UID        string `json:"uid"`
}

// Container is one container (one run of it: a restart is a new
// Container) and everything its processes did with capabilities.
type Container struct {
	// ID is the runtime's container ID (without the runtime:// prefix).
	ID        string `json:"id"`
	Namespace string `json:"namespace"`
	Pod       string `json:"pod"`
	PodUID    string `json:"pod_uid"`
	// Name is the container's name in the Pod spec; Type one of the
	// Type* constants.
	Name string `json:"name"`
	Type string `json:"type"`
	// Image is the image as the spec names it; ImageID as the runtime
	// resolved it (a digest), when the status says.
	Image   string `json:"image"`
	ImageID string `json:"image_id,omitempty"`
	// Owner is the Pod's controller (nil for a bare Pod).
	Owner *OwnerRef `json:"owner,omitempty"`
	// Revision is the Pod's pod-template-hash (Deployments) or
	// controller-revision-hash (StatefulSets, DaemonSets) label.
	Revision string `json:"revision,omitempty"`
	// Fingerprint identifies what the container runs: a hash of the
	// image, command, arguments and environment variable names (see
	// Fingerprint). A rollout that changes any of them starts a new
	// profile.
	Fingerprint string `json:"fingerprint"`
	// StartedAt and FinishedAt are the container's start and end, as
	// its status says (FinishedAt nil while it runs).
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// FromStart says the tracer was attached before the container was
	// created, so it saw the container's first exec and everything after.
	FromStart bool `json:"from_start"`
	// Sessions are the process trees rooted in the container by an
	// exec: its entrypoint, each exec probe or hook, each exec session.
	Sessions []Session `json:"sessions"`
	// Records are the checks, per session tag.
	Records []Record `json:"records"`
	// Gains are capabilities kept or gained without a check, per session
	// tag.
	Gains []Gain `json:"gains"`
}

// The kinds of Session.
const (
	// SessionInit is the container's entrypoint: its first exec.
	SessionInit = "init"
	// SessionProbe is an exec probe (Name: readiness, liveness, startup).
	SessionProbe = "probe"
	// SessionHook is an exec lifecycle hook (Name: postStart, preStop).
	SessionHook = "hook"
	// SessionExec is anything else exec'd into the container: kubectl
	// exec, a shell. Its checks are not the workload's.
	SessionExec = "exec"
	// SessionUnknown is a session the agent has no record of (the
	// sessions map was full); its checks are kept out of profiles.
	SessionUnknown = "unknown"
)

// Session is the processes rooted by one exec command line in a
// container: every exec with the same arguments shares a tag.
type Session struct {
	// Tag is the hash of the exec's arguments the tracer keys checks by.
	Tag uint32 `json:"tag"`
	// Kind is one of the Session* constants; Name the probe or hook.
	Kind string `json:"kind"`
	Name string `json:"name,omitempty"`
	// Command is the exec's arguments (as far as the tracer read them:
	// Truncated says they were longer).
	Command   []string `json:"command"`
	Truncated bool     `json:"truncated,omitempty"`
	// Runs counts the execs; First and Last are when the first and the
	// last happened.
	Runs  uint64    `json:"runs"`
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
}

// Record is a group of identical checks (trace.Key) and their count.
type Record struct {
	Tag uint32 `json:"tag"`
	// Capability is the canonical name ("CAP_CHOWN", "cap_41").
	Capability string `json:"capability"`
	Denied     bool   `json:"denied"`
	// Syscall is the syscall number of the report's Arch (-1 outside a
	// syscall); Flags are trace.Flag bits.
	Syscall int32      `json:"syscall"`
	Flags   trace.Flag `json:"flags"`
	Command string     `json:"command"`
	Count   uint64     `json:"count"`
	// FirstSeen and LastSeen are when the agent saw the first check and
	// the count last grow (to the agent's reading interval).
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

// Trace returns the record as the tracer's (without the container's
// cgroup and mount namespace).
func (r Record) Trace() (trace.Record, error) {
	c, err := capset.Parse(r.Capability)
	if err != nil {
		return trace.Record{}, err
	}
	k := trace.Key{Syscall: r.Syscall, Cap: c, Denied: r.Denied, Flags: r.Flags, Comm: r.Command, Tag: r.Tag}
	return trace.Record{Key: k, Count: r.Count}, nil
}

// Gain is what one command kept or gained without a check (trace.Gain).
type Gain struct {
	Tag uint32 `json:"tag"`
	// Source is "capset" or "exec" (trace.GainSource).
	Source  string     `json:"source"`
	Failed  bool       `json:"failed,omitempty"`
	Root    bool       `json:"root,omitempty"`
	Command string     `json:"command"`
	Caps    capset.Set `json:"capabilities"`
	Lacking capset.Set `json:"lacking"`
	Count   uint64     `json:"count"`
}

// Trace returns the gain as the tracer's.
func (g Gain) Trace() (trace.Gain, error) {
	var src trace.GainSource
	switch g.Source {
	case trace.GainCapset.String():
		src = trace.GainCapset
	case trace.GainExec.String():
		src = trace.GainExec
	default:
		return trace.Gain{}, fmt.Errorf("unknown gain source %q", g.Source)
	}
	return trace.Gain{Source: src, Failed: g.Failed, Root: g.Root, Comm: g.Command, Caps: g.Caps, Lacking: g.Lacking, Count: g.Count, Tag: g.Tag}, nil
}

// Workload reports whether the session's checks are the workload's: its
// entrypoint, exec probes and lifecycle hooks.
func (s Session) Workload() bool {
	return s.Kind == SessionInit || s.Kind == SessionProbe || s.Kind == SessionHook
}

// Fingerprint identifies what a container runs: a hash of its image (as
// the spec names it), command, arguments and the names of its environment
// variables (values change with every Secret rotation; names change with
// the program). Profiles of one workload container are carried across a
// rollout only while the fingerprint stays the same.
func Fingerprint(image string, command, args, envNames []string) string {
	h := sha256.New()
	field := func(name string, vals ...string) {
		fmt.Fprintf(h, "%s %d\n", name, len(vals))
		for _, v := range vals {
			fmt.Fprintf(h, "%d:%s\n", len(v), v)
		}
	}
	field("image", image)
	field("command", command...)
	field("args", args...)
	field("env", envNames...)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:16]
}
