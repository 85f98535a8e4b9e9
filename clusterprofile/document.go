// Package clusterprofile turns what capdrop's node agents saw into one
// profile per workload container: the capabilities a Deployment's,
// DaemonSet's, CronJob's (any top controller's) container uses, as the
// union over every replica on every node, with per capability how many Pods
// used it, on which nodes, one piece of evidence, and the classes the host
// profiler separates (needed, used but not proven needed, denied, noise).
//
// A Profile says whether it is complete — every container seen from its
// first exec, no check lost, a minimum window covered — and, when not, why.
// It belongs to one fingerprint of the container (image, command,
// arguments, environment variable names): a rollout that changes them
// starts a new profile.
//
// The Document is capdrop's JSON contract for `capdrop k8s profile -o
// json` and the profiles the continuous mode keeps in the cluster
// (docs/kubernetes.md, docs/cluster-profile.schema.json). Fields may be
// added; none is renamed or removed.
package clusterprofile

import (
	"strings"
	"time"

	"github.com/capdrop/capdrop/agent"
	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/profile"
)

// Version is the document's format version.
const Version = 1

// Kind names the document, so readers of several capdrop documents tell
// it apart from a host profile or a verify result.
const Kind = "cluster-profile"

// Document is a set of workload profiles and how they were made.
type Document struct {
	Version int    `json:"version"`
	Kind    string `json:"kind"`
	// Source is "session" (`k8s profile --duration`: collected once from
	// the agents) or "continuous" (read back from the objects the
	// continuous mode keeps).
	Source    string    `json:"source"`
	Generated time.Time `json:"generated"`
	// Cluster is the API server's URL.
	Cluster string `json:"cluster,omitempty"`
	// Window is the time the profiles cover.
	Window Window `json:"window"`
	// MinWindow is the least a workload must have been observed for its
	// profile to be complete.
	MinWindow float64 `json:"min_window_seconds"`
	// Nodes are the nodes whose agents were read (or could not be).
	Nodes []Node `json:"nodes"`
	// Profiles are the workload containers, ordered by namespace,
	// controller, container type and name.
	Profiles []Profile `json:"profiles"`
	// Excluded are the ephemeral debug containers seen (kubectl debug):
	// never part of a workload's profile.
	Excluded []ExcludedContainer `json:"excluded_containers"`
	Warnings []string            `json:"warnings"`
}

// Window is a span of time.
type Window struct {
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Seconds float64   `json:"seconds"`
}

// NewWindow returns the window from start to end.
func NewWindow(start, end time.Time) Window {
	return Window{Start: start.UTC().Truncate(time.Millisecond), End: end.UTC().Truncate(time.Millisecond),
		Seconds: end.Sub(start).Round(time.Millisecond).Seconds()}
}

// Node is one node's agent and tracer.
type Node struct {
	Name string `json:"name"`
	// Agent is the agent's Pod; AgentVersion its capdrop version.
	Agent        string `json:"agent,omitempty"`
	AgentVersion string `json:"agent_version,omitempty"`
	// Mechanism, OptsVisible, NoauditFrom, Kernel and Arch are as in a
	// host profile (docs/profile.md).
	Mechanism   string `json:"mechanism,omitempty"`
	OptsVisible bool   `json:"opts_visible"`
	NoauditFrom string `json:"noaudit_from,omitempty"`
	Kernel      string `json:"kernel,omitempty"`
	Arch        string `json:"arch,omitempty"`
	// TracingSince is when the node's tracer was attached; Restarts how
	// many times an agent took it over since.
	TracingSince time.Time `json:"tracing_since"`
	Restarts     int       `json:"restarts"`
	// Counters are the tracer's losses during the window.
	Counters agent.Counters `json:"counters"`
	// Error says why the agent could not be read ("" when it was).
	Error string `json:"error,omitempty"`
}

// Workload names a workload container: the namespace, the top controller
// (following controller owner references: a Pod of a ReplicaSet of a
// Deployment belongs to the Deployment, a Pod of a Job of a CronJob to the
// CronJob; a Pod nothing controls is its own), and the container.
type Workload struct {
	Namespace  string `json:"namespace"`
	APIVersion string `json:"api_version"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	UID        string `json:"uid,omitempty"`
	// Container is the container's name; ContainerType "container",
	// "init" or "sidecar" (an init container with restartPolicy Always).
	Container     string `json:"container"`
	ContainerType string `json:"container_type"`
}

// String formats w as namespace/Kind/name/container (with the type for
// init and sidecar containers: namespace/Kind/name/init:container).
func (w Workload) String() string {
	c := w.Container
	if w.ContainerType != "" && w.ContainerType != agent.TypeContainer {
		c = w.ContainerType + ":" + c
	}
	return strings.Join([]string{w.Namespace, w.Kind, w.Name, c}, "/")
}

// Image is an image the workload's containers ran: as the spec names it,
// and as the runtime resolved it.
type Image struct {
	Image   string `json:"image"`
	ImageID string `json:"image_id,omitempty"`
}

// Profile is what one workload container did with capabilities, over
// every Pod and node.
type Profile struct {
	Workload Workload `json:"workload"`
	// Fingerprint is the container's (agent.Fingerprint): image,
	// command, arguments, environment variable names.
	Fingerprint string `json:"fingerprint"`
	// Images and Revisions (pod-template-hash or controller-revision-hash
	// values) are those of the Pods observed.
	Images    []Image  `json:"images"`
	Revisions []string `json:"revisions"`

	// Complete is true when every container was seen from its first
	// exec, no check was lost on their nodes, the workload was observed
	// at least the minimum window, and every Pod expected was observed.
	// Partial says why not.
	Complete bool     `json:"complete"`
	Partial  []Reason `json:"partial"`
	// FirstSeen is the start of the first container observed (or the
	// window's start if later), LastSeen the end of the observation;
	// Observed the seconds between them.
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Observed  float64   `json:"observed_seconds"`
	// Pods counts the Pods observed, Containers the containers (a
	// restart is another container), Nodes names their nodes.
	Pods       int      `json:"pods"`
	Containers int      `json:"containers"`
	Nodes      []string `json:"nodes"`

	// Needed, UsedNotProven, Kept, Denied and Noise are a host profile's
	// (docs/profile.md), as the union over the containers: a capability
	// needed in one Pod is needed; used in one and needed in none is used
	// but not proven; denied in some and used in none is denied.
	Needed        []string        `json:"needed"`
	UsedNotProven []profile.Use   `json:"used_not_proven"`
	Kept          []profile.Kept  `json:"kept"`
	Denied        []string        `json:"denied"`
	Noise         []profile.Noise `json:"noise"`
	// Capabilities are every capability checked, with its class, Pods,
	// nodes and evidence.
	Capabilities []Capability `json:"capabilities"`

	// Sessions are the workload's own execs: the entrypoint, each exec
	// probe and lifecycle hook (their checks count).
	Sessions []SessionSummary `json:"sessions"`
	// Excluded are the exec sessions (kubectl exec) in its containers:
	// their checks do not count.
	Excluded Excluded `json:"excluded"`
	// Warnings say what else the reader should know.
	Warnings []string `json:"warnings"`
}

// The classes of a Capability.
const (
	ClassNeeded = "needed"
	ClassUsed   = "used_not_proven"
	ClassDenied = "denied"
	ClassNoise  = "noise"
)

// Capability is one capability's part in a workload's profile.
type Capability struct {
	Capability string `json:"capability"`
	// Class is ClassNeeded, ClassUsed, ClassDenied or ClassNoise.
	Class string `json:"class"`
	// Reasons are why it is used but not proven (profile.Tolerated) or
	// noise (profile.Reasons).
	Reasons []string `json:"reasons"`
	// Pods counts the Pods whose checks put it in its class: for needed
	// and used_not_proven the Pods that used it (a granted check that
	// counts, or a capability kept without one), for denied those refused
	// it, for noise those with noise checks of it. Nodes are theirs.
	Pods  int      `json:"pods"`
	Nodes []string `json:"nodes"`
	// Granted, Denied and NoiseChecks count every check of it, noise
	// included, and those that were noise.
	Granted     uint64 `json:"granted"`
	Denied      uint64 `json:"denied"`
	NoiseChecks uint64 `json:"noise_checks"`
	// FirstSeen and LastSeen are when checks of it were first and last
	// seen (to the agents' reading interval).
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// Evidence is one group of checks (or capset, or exec) that gave it
	// its class.
	Evidence *Evidence `json:"evidence,omitempty"`
}

// Evidence is one piece of what decided a capability's class, and where.
type Evidence struct {
	// Source is "check", "capset" or "exec".
	Source  string `json:"source"`
	Syscall string `json:"syscall"`
	Command string `json:"command"`
	Count   uint64 `json:"count"`
	// Session is the exec it happened under: "init", "probe:readiness",
	// "hook:postStart".
	Session string `json:"session"`
	Pod     string `json:"pod"`
	Node    string `json:"node"`
}

// SessionSummary is one of the workload's own execs, over its Pods.
type SessionSummary struct {
	// Kind is "init", "probe" or "hook"; Name the probe or hook
	// (readiness, liveness, startup, postStart, preStop).
	Kind    string   `json:"kind"`
	Name    string   `json:"name,omitempty"`
	Command []string `json:"command"`
	Runs    uint64   `json:"runs"`
	Pods    int      `json:"pods"`
	// Capabilities are those its checks made needed or used.
	Capabilities capset.Set `json:"capabilities"`
}

// Excluded is what exec sessions did in a workload's containers.
type Excluded struct {
	// Sessions counts the execs; Commands are their command lines (at
	// most MaxCommands).
	Sessions uint64     `json:"sessions"`
	Commands [][]string `json:"commands"`
	// Capabilities are those their checks would have made needed or
	// used.
	Capabilities capset.Set `json:"capabilities"`
}

// MaxCommands bounds the command lines kept per list.
const MaxCommands = 20

// ExcludedContainer is an ephemeral debug container.
type ExcludedContainer struct {
	Workload     Workload   `json:"workload"`
	Pod          string     `json:"pod"`
	Capabilities capset.Set `json:"capabilities"`
}

// The reasons a profile is partial.
const (
	// ReasonStartedBefore: a container started before its node's tracer,
	// so its first processes were not seen.
	ReasonStartedBefore = "started-before-agent"
	// ReasonLostEvents: the tracer of a node lost checks, tasks or
	// sessions (full maps) during the window.
	ReasonLostEvents = "lost-events"
	// ReasonShortWindow: the workload was observed less than the
	// minimum window.
	ReasonShortWindow = "window-too-short"
	// ReasonNotObserved: a Pod of the workload was expected (it ran
	// during the window) but no agent reported it: its node has no agent,
	// or the agent could not be read.
	ReasonNotObserved = "pod-not-observed"
	// ReasonUnattributed: some checks came from execs the tracer could
	// not record (its sessions map was full): they are kept out.
	ReasonUnattributed = "unattributed-checks"
	// ReasonNodeUnreachable: an agent could not be read and nothing says
	// whether the workload ran on its node.
	ReasonNodeUnreachable = "node-unreachable"
	// ReasonUnnamed: an agent counted, in the window, the checks of a
	// container no Pod it knew named (a Pod created and deleted while its
	// Pod watch was down): they may be the workload's, and are in no
	// profile.
	ReasonUnnamed = "unnamed-containers"
)

// Reasons explains each reason a profile is partial.
var Reasons = map[string]string{
	ReasonStartedBefore:   "a container started before its node's tracer: its first processes were not seen",
	ReasonLostEvents:      "a node's tracer lost checks, tasks or sessions to full maps during the window",
	ReasonShortWindow:     "the workload was observed less than the minimum window",
	ReasonNotObserved:     "a Pod of the workload ran during the window but no agent reported it",
	ReasonUnattributed:    "checks from execs the tracer could not record were kept out",
	ReasonNodeUnreachable: "an agent could not be read, and the workload may run on its node",
	ReasonUnnamed:         "a node ran a container in the window whose Pod its agent never saw: its checks may be the workload's",
}

// Reason is why a profile is partial.
type Reason struct {
	// Reason is one of the Reason* identifiers.
	Reason string `json:"reason"`
	Detail string `json:"detail"`
	// Pods and Nodes are those concerned.
	Pods  []string `json:"pods,omitempty"`
	Nodes []string `json:"nodes,omitempty"`
}

// NeededSet returns the needed capabilities as a set.
func (p *Profile) NeededSet() capset.Set {
	s, _ := capset.ParseSet(strings.Join(p.Needed, ","))
	return s
}

// UsedSet returns the capabilities used but not proven needed.
func (p *Profile) UsedSet() capset.Set {
	var s capset.Set
	for _, u := range p.UsedNotProven {
		if c, err := capset.Parse(u.Capability); err == nil {
			s = s.With(c)
		}
	}
	return s
}

// RecommendedSet is what the profile recommends until verify has run:
// the needed capabilities and those used but not proven needed.
func (p *Profile) RecommendedSet() capset.Set { return p.NeededSet().Union(p.UsedSet()) }

// Find returns the profiles of a workload container: those whose
// namespace, controller kind and name, and container name match (an empty
// field matches any).
func (d *Document) Find(w Workload) []*Profile {
	var out []*Profile
	for i := range d.Profiles {
		p := &d.Profiles[i]
		if (w.Namespace == "" || w.Namespace == p.Workload.Namespace) &&
			(w.Kind == "" || strings.EqualFold(w.Kind, p.Workload.Kind)) &&
			(w.Name == "" || w.Name == p.Workload.Name) &&
			(w.Container == "" || w.Container == p.Workload.Container) &&
			(w.ContainerType == "" || w.ContainerType == p.Workload.ContainerType) {
			out = append(out, p)
		}
	}
	return out
}
