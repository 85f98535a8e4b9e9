// Package collect makes a time-boxed cluster profile of one workload:
// `capdrop k8s profile WORKLOAD --duration D`. It finds the node agents'
// DaemonSet, or deploys it when none runs (and only when allowed), waits
// until an agent answers on every node that runs the workload's Pods,
// reads each agent's Report through the API server's pod proxy at the
// start and the end of the window (so nothing but the API server needs to
// be reachable), keeps track of the workload's Pods meanwhile, and
// aggregates the Reports with package clusterprofile. What it deployed it
// removes, and waits for, on every way out: the end of the window, an
// error, or the context's end (Ctrl-C).
package collect

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/capdrop/capdrop/agent"
	"github.com/capdrop/capdrop/cluster"
	"github.com/capdrop/capdrop/clusterprofile"
)

// API is what a profile session needs of the cluster; *cluster.Client
// has it.
type API interface {
	Get(ctx context.Context, r cluster.Resource, namespace, name string) (json.RawMessage, error)
	List(ctx context.Context, r cluster.Resource, namespace, selector string, f func(json.RawMessage) error) error
	Create(ctx context.Context, r cluster.Resource, namespace string, obj []byte, o cluster.WriteOptions) (json.RawMessage, error)
	Patch(ctx context.Context, r cluster.Resource, namespace, name string, patch []byte, o cluster.WriteOptions) (json.RawMessage, error)
	Delete(ctx context.Context, r cluster.Resource, namespace, name string, grace *int64) error
	Proxy(ctx context.Context, namespace, pod string, port int, path string) ([]byte, error)
}

// TopFunc resolves an owner reference of an object in namespace to the
// top controller (cluster.Owners.Top).
type TopFunc func(ctx context.Context, namespace string, ref agent.OwnerRef) (agent.OwnerRef, error)

// LabelSession is the label put on everything a session deploys; its
// value is the session's ID.
const LabelSession = "capdrop.io/profile-session"

// Defaults.
const (
	DefaultAgentTimeout = 3 * time.Minute
	DefaultMinWindow    = time.Minute
	DefaultInterval     = 5 * time.Second
	// cleanupTimeout bounds the removal of what a session deployed.
	cleanupTimeout = 3 * time.Minute
	// finalReadTimeout bounds the last reading of the agents after the
	// context ended.
	finalReadTimeout = 15 * time.Second
)

// Options say what to profile and how.
type Options struct {
	API API
	Top TopFunc
	// Resource, Namespace and Name are the workload.
	Resource        cluster.Resource
	Namespace, Name string
	// Duration is the window; MinWindow the least a profile must cover to
	// be complete (DefaultMinWindow when 0).
	Duration, MinWindow time.Duration
	// Manifest is the agent's manifest (deploy/kubernetes/agent.yaml),
	// ManifestName its name for messages. Its DaemonSet names where the
	// agents are looked for.
	Manifest     []byte
	ManifestName string
	// NoDeploy refuses to deploy the agent when its DaemonSet is absent.
	NoDeploy bool
	// SessionArgs are appended to the agent container's arguments when
	// the session deploys it (capdrop agent --no-pin: nothing of the
	// tracer stays on the nodes once the agent is removed).
	SessionArgs []string
	// AgentTimeout is how long to wait for the agents to answer
	// (DefaultAgentTimeout when 0); Interval how often the workload's Pods
	// and the agents are looked at meanwhile and during the window
	// (DefaultInterval when 0).
	AgentTimeout, Interval time.Duration
	// LeaseTTL is how long the session's lease on an agent a session
	// deployed lasts without being renewed (DefaultLeaseTTL when 0).
	LeaseTTL time.Duration
	// Cluster is the API server's URL, for the document.
	Cluster string
	// Log says what the session does (deploying, waiting, removing).
	Log func(format string, args ...any)
}

// Result is what a session did and found.
type Result struct {
	// Document is the cluster profile (nil when the session stopped
	// before the window started).
	Document *clusterprofile.Document
	// Agent is the DaemonSet the agents were found in.
	Agent AgentSet
	// Session is the session's ID (the value of LabelSession).
	Session string
	// Deployed are the objects the session created; Removed those it
	// removed (the agent, when it was the last session to use it, whoever
	// deployed it); Left those it could not remove (there should be none);
	// KeptFor the other sessions still using the agent when it ended.
	Deployed []string
	Removed  []string
	Left     []string
	KeptFor  []string
	// Interrupted says the window was cut short by the context's end.
	Interrupted bool
}

// ErrNoAgent is wrapped by Run's error when no agent DaemonSet runs and
// the session may not deploy one.
var ErrNoAgent = errors.New("no capdrop agent DaemonSet runs")

type session struct {
	o       Options
	res     *Result
	target  agent.OwnerRef
	objs    []Object
	created []Object
	// leased says the session holds a lease on an agent a session
	// deployed (see lease.go).
	leased bool
	// agents by node: the Pod answering there; reports the first and last
	// reading of each node.
	agents    map[string]string
	baselines map[string]agent.Counters
	reports   map[string]agent.Report
	failed    map[string]string
	// expected are the workload's Pods seen running, by UID; nodes theirs.
	expected map[string]clusterprofile.ExpectedPod
	tops     map[string]agent.OwnerRef // owner UID -> top
	topErrs  map[string]error
	start    time.Time
}

// Run profiles the workload for o.Duration. The Result is returned, with
// what was deployed and left, also with an error; its Document is set
// whenever the window started, also when the context ended it early.
func Run(ctx context.Context, o Options) (res *Result, err error) {
	o.MinWindow = cmp.Or(o.MinWindow, DefaultMinWindow)
	o.AgentTimeout = cmp.Or(o.AgentTimeout, DefaultAgentTimeout)
	o.Interval = cmp.Or(o.Interval, DefaultInterval)
	o.ManifestName = cmp.Or(o.ManifestName, "the agent manifest")
	o.LeaseTTL = cmp.Or(o.LeaseTTL, DefaultLeaseTTL)
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	if o.Duration <= 0 {
		return nil, errors.New("the profile's duration must be positive")
	}
	id := make([]byte, 4)
	_, _ = rand.Read(id)
	s := &session{o: o, res: &Result{Session: hex.EncodeToString(id)}, agents: map[string]string{},
		baselines: map[string]agent.Counters{}, reports: map[string]agent.Report{}, failed: map[string]string{},
		expected: map[string]clusterprofile.ExpectedPod{}, tops: map[string]agent.OwnerRef{}, topErrs: map[string]error{}}
	stop, renewing := make(chan struct{}), &sync.WaitGroup{}
	defer func() {
		close(stop)
		renewing.Wait()
		switch {
		case s.leased:
			s.release()
		case len(s.created) > 0:
			s.cleanup()
		}
	}()
	if err := s.findTarget(ctx); err != nil {
		return s.res, err
	}
	if err := s.findAgent(ctx); err != nil {
		return s.res, err
	}
	if s.leased {
		renewing.Add(1)
		go s.renew(stop, renewing)
	}
	if err := s.waitAgents(ctx); err != nil {
		return s.res, err
	}
	s.window(ctx)
	return s.res, ctx.Err()
}

// findTarget reads the workload, so that a wrong name fails before
// anything is deployed.
func (s *session) findTarget(ctx context.Context) error {
	data, err := s.o.API.Get(ctx, s.o.Resource, s.o.Namespace, s.o.Name)
	if err != nil {
		return err
	}
	var m struct {
		Metadata struct {
			UID string `json:"uid"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("get %s: %w", cluster.Location(s.o.Namespace, s.o.Resource.Kind, s.o.Name), err)
	}
	s.target = agent.OwnerRef{APIVersion: s.o.Resource.APIVersion(), Kind: s.o.Resource.Kind, Name: s.o.Name, UID: m.Metadata.UID}
	return nil
}

// findAgent finds the agent's DaemonSet, or deploys the manifest. An agent
// a session deployed is shared: the session takes a lease on it (see
// lease.go); one that runs without a session's label is someone's to keep
// and is used as it is.
func (s *session) findAgent(ctx context.Context) error {
	objs, err := ParseManifest(s.o.ManifestName, s.o.Manifest)
	if err != nil {
		return err
	}
	s.objs = objs
	var ds Object
	for _, o := range objs {
		if o.Resource == DaemonSets {
			ds = o
		}
	}
	a, err := ReadAgentSet(ds.JSON)
	if err != nil {
		return err
	}
	s.res.Agent = a
	deadline := time.Now().Add(cleanupTimeout)
	said := false
	for {
		live, err := s.o.API.Get(ctx, DaemonSets, ds.Namespace, ds.Name)
		switch {
		case err == nil:
			a, err := ReadAgentSet(live)
			if err != nil {
				return err
			}
			s.res.Agent = a
			m, err := readDaemonSetMeta(live)
			if err != nil {
				return err
			}
			if !m.deployedBySession() {
				s.o.Log("the agent DaemonSet %s/%s runs: using it (nothing deployed)", a.Namespace, a.Name)
				return nil
			}
			if r, since := m.removing(); r {
				if !since.IsZero() && time.Since(since) > cleanupTimeout {
					// The session removing it stopped half way (killed).
					s.o.Log("the agent DaemonSet %s/%s was left half removed at %s: removing it", a.Namespace, a.Name, since.UTC().Format(time.TimeOnly))
					s.removeAgent(ctx)
					continue
				}
				if !said {
					s.o.Log("another profile is removing the agent DaemonSet %s/%s: waiting until it is gone, then deploying it again", a.Namespace, a.Name)
					said = true
				}
				break
			}
			ok, err := s.join(ctx)
			if err != nil || ok {
				return err
			}
		case !errors.Is(err, cluster.ErrNotFound):
			return err
		case s.o.NoDeploy:
			return fmt.Errorf("%w (%s/%s) and --no-deploy forbids deploying it: deploy %s first", ErrNoAgent, ds.Namespace, ds.Name, s.o.ManifestName)
		default:
			if err := s.waitRemoved(ctx); err != nil {
				return err
			}
			deployed, err := s.deploy(ctx)
			if err != nil || deployed {
				return err
			}
			// Another profile deployed it meanwhile: share it.
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the agent DaemonSet %s/%s: another profile's agent was still being removed after %s", ds.Namespace, ds.Name, cleanupTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(s.o.Interval, time.Second)):
		}
	}
}

// deploy creates the manifest's objects, labelled with the session, its
// lease on the DaemonSet. It returns false when another session created
// the DaemonSet first.
func (s *session) deploy(ctx context.Context) (bool, error) {
	a := s.res.Agent
	s.o.Log("no agent DaemonSet %s/%s runs: deploying %s for this profile (removed when the last profile using it ends)", a.Namespace, a.Name, s.o.ManifestName)
	for _, o := range s.objs {
		body := o.JSON
		if err := setPath(&body, []string{"metadata", "labels", LabelSession}, s.res.Session); err != nil {
			return false, fmt.Errorf("%s: %s: %w", s.o.ManifestName, o, err)
		}
		if o.Resource == DaemonSets {
			if err := setPath(&body, []string{"spec", "template", "metadata", "labels", LabelSession}, s.res.Session); err != nil {
				return false, fmt.Errorf("%s: %s: %w", s.o.ManifestName, o, err)
			}
			if err := setPath(&body, []string{"metadata", "annotations", s.leaseKey()}, s.leaseExpiry()); err != nil {
				return false, fmt.Errorf("%s: %s: %w", s.o.ManifestName, o, err)
			}
			if err := appendArgs(&body, s.o.SessionArgs); err != nil {
				return false, fmt.Errorf("%s: %s: %w", s.o.ManifestName, o, err)
			}
		}
		if _, err := s.o.API.Create(ctx, o.Resource, o.Namespace, body, cluster.WriteOptions{FieldManager: "capdrop"}); err != nil {
			if isExists(err) {
				if o.Resource == DaemonSets {
					s.o.Log("another profile deployed the agent meanwhile: sharing it")
					return false, nil
				}
				// Someone else's (a Namespace kept from before), or
				// another profile's deploying the agent now: not created
				// here.
				s.o.Log("%s exists already: kept as it is", o)
				continue
			}
			return false, fmt.Errorf("deploying the agent: %w", err)
		}
		if o.Resource == DaemonSets {
			s.leased = true
		}
		s.created = append(s.created, o)
		s.res.Deployed = append(s.res.Deployed, o.String())
		s.o.Log("created %s", o)
	}
	return true, nil
}

// appendArgs appends args to the arguments of a DaemonSet's first
// container.
func appendArgs(ds *[]byte, args []string) error {
	if len(args) == 0 {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(*ds, &m); err != nil {
		return err
	}
	spec, _ := m["spec"].(map[string]any)
	tmpl, _ := spec["template"].(map[string]any)
	pspec, _ := tmpl["spec"].(map[string]any)
	cs, _ := pspec["containers"].([]any)
	if len(cs) == 0 {
		return errors.New("the DaemonSet has no container")
	}
	c, _ := cs[0].(map[string]any)
	if c == nil {
		return errors.New("the DaemonSet's container is not an object")
	}
	old, _ := c["args"].([]any)
	for _, a := range args {
		old = append(old, a)
	}
	c["args"] = old
	out, err := json.Marshal(m)
	if err != nil {
		return err
	}
	*ds = out
	return nil
}

func isExists(err error) bool { return apierrors.IsAlreadyExists(err) }

// pod is what a session reads of a Pod.
type pod struct {
	Metadata struct {
		Name              string             `json:"name"`
		Namespace         string             `json:"namespace"`
		UID               string             `json:"uid"`
		DeletionTimestamp *string            `json:"deletionTimestamp"`
		OwnerReferences   []cluster.OwnerRef `json:"ownerReferences"`
	} `json:"metadata"`
	Spec struct {
		NodeName string `json:"nodeName"`
	} `json:"spec"`
	Status struct {
		Phase             string `json:"phase"`
		ContainerStatuses []struct {
			State struct {
				Terminated *struct {
					FinishedAt time.Time `json:"finishedAt"`
				} `json:"terminated"`
			} `json:"state"`
		} `json:"containerStatuses"`
	} `json:"status"`
}

// top returns a Pod's top controller.
func (s *session) top(ctx context.Context, ns, name, uid string, owner *agent.OwnerRef) (agent.OwnerRef, error) {
	if owner == nil {
		return agent.OwnerRef{APIVersion: "v1", Kind: "Pod", Name: name, UID: uid}, nil
	}
	if t, ok := s.tops[owner.UID]; ok {
		return t, s.topErrs[owner.UID]
	}
	t, err := *owner, error(nil)
	if s.o.Top != nil {
		t, err = s.o.Top(ctx, ns, *owner)
	}
	s.tops[owner.UID], s.topErrs[owner.UID] = t, err
	return t, err
}

func ownerOf(refs []cluster.OwnerRef) *agent.OwnerRef {
	for _, r := range refs {
		if r.Controller != nil && *r.Controller {
			return &agent.OwnerRef{APIVersion: r.APIVersion, Kind: r.Kind, Name: r.Name, UID: r.UID}
		}
	}
	return nil
}

// workloadPods lists the workload's Pods and notes those that ran since
// the window started (all that run, before it).
func (s *session) workloadPods(ctx context.Context) (nodes []string, err error) {
	err = s.o.API.List(ctx, cluster.Pods, s.o.Namespace, "", func(item json.RawMessage) error {
		var p pod
		if err := json.Unmarshal(item, &p); err != nil {
			return fmt.Errorf("list pods: %w", err)
		}
		m := p.Metadata
		owner := ownerOf(m.OwnerReferences)
		t, _ := s.top(ctx, s.o.Namespace, m.Name, m.UID, owner)
		if t.Kind != s.target.Kind || t.Name != s.target.Name {
			return nil
		}
		ran := p.Status.Phase == "Running"
		if p.Status.Phase == "Succeeded" || p.Status.Phase == "Failed" {
			for _, c := range p.Status.ContainerStatuses {
				if c.State.Terminated != nil && !s.start.IsZero() && !c.State.Terminated.FinishedAt.Before(s.start) {
					ran = true
				}
			}
		}
		if !ran || p.Spec.NodeName == "" {
			return nil
		}
		if !slices.Contains(nodes, p.Spec.NodeName) {
			nodes = append(nodes, p.Spec.NodeName)
		}
		if !s.start.IsZero() {
			s.expected[m.UID] = clusterprofile.ExpectedPod{Namespace: m.Namespace, Name: m.Name, UID: m.UID, Node: p.Spec.NodeName, Owner: owner}
		}
		return nil
	})
	sort.Strings(nodes)
	return nodes, err
}

// readAgents reads the Report of every agent Pod that runs; it returns the
// nodes whose agent answered, and notes why others did not.
func (s *session) readAgents(ctx context.Context) (map[string]agent.Report, error) {
	got, failed, err := ReadAgents(ctx, s.o.API, s.res.Agent)
	if err != nil {
		return nil, err
	}
	for n, why := range failed {
		s.failed[n] = why
	}
	for n, r := range got {
		s.agents[n] = r.Pod
		delete(s.failed, n)
	}
	return got, nil
}

// ReadAgents reads the Report of every agent Pod of a that runs, through
// the API server's pod proxy. It returns the Reports by node, and why the
// agent of each other node could not be read.
func ReadAgents(ctx context.Context, api API, a AgentSet) (got map[string]agent.Report, failed map[string]string, err error) {
	got, failed = map[string]agent.Report{}, map[string]string{}
	var pods []pod
	err = api.List(ctx, cluster.Pods, a.Namespace, a.Selector, func(item json.RawMessage) error {
		var p pod
		if err := json.Unmarshal(item, &p); err != nil {
			return fmt.Errorf("list agent pods: %w", err)
		}
		pods = append(pods, p)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	for _, p := range pods {
		node := p.Spec.NodeName
		if node == "" || p.Metadata.DeletionTimestamp != nil {
			continue
		}
		if p.Status.Phase != "Running" {
			failed[node] = "agent Pod " + p.Metadata.Name + " is " + cmp.Or(p.Status.Phase, "not running")
			continue
		}
		r, err := readReport(ctx, api, a, p.Metadata.Name)
		if err != nil {
			failed[node] = err.Error()
			continue
		}
		if r.Node != "" && r.Node != node {
			failed[node] = fmt.Sprintf("agent Pod %s runs on node %s but reports node %q", p.Metadata.Name, node, r.Node)
			continue
		}
		r.Node = node
		r.Pod = cmp.Or(r.Pod, p.Metadata.Name)
		got[node] = r
		delete(failed, node)
	}
	return got, failed, nil
}

// readReport reads one agent's Report.
func readReport(ctx context.Context, api API, a AgentSet, pod string) (agent.Report, error) {
	data, err := api.Proxy(ctx, a.Namespace, pod, a.Port, agent.ReportPath)
	if err != nil {
		return agent.Report{}, err
	}
	var r agent.Report
	if err := json.Unmarshal(data, &r); err != nil {
		return agent.Report{}, fmt.Errorf("the Report of agent %s/%s: %w", a.Namespace, pod, err)
	}
	if r.Version != agent.ReportVersion {
		return agent.Report{}, fmt.Errorf("the Report of agent %s/%s is version %d, capdrop reads %d", a.Namespace, pod, r.Version, agent.ReportVersion)
	}
	return r, nil
}

// waitAgents waits until an agent answers on every node that runs the
// workload's Pods (at least one agent when none does), and takes each
// node's counters as its baseline.
func (s *session) waitAgents(ctx context.Context) error {
	deadline := time.Now().Add(s.o.AgentTimeout)
	said := ""
	for {
		nodes, err := s.workloadPods(ctx)
		if err != nil {
			return err
		}
		got, err := s.readAgents(ctx)
		if err != nil {
			return err
		}
		var missing []string
		for _, n := range nodes {
			if _, ok := got[n]; !ok {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 && len(got) > 0 {
			for n, r := range got {
				s.baselines[n] = r.Counters
			}
			if len(nodes) == 0 {
				s.o.Log("no Pod of %s runs yet: profiling what starts during the window", s.workloadName())
			}
			return nil
		}
		msg := fmt.Sprintf("waiting for the agents: %d of %d nodes running %s answer", len(nodes)-len(missing), len(nodes), s.workloadName())
		if len(nodes) == 0 {
			msg = "waiting for an agent to answer"
		}
		if msg != said {
			s.o.Log("%s", msg)
			said = msg
		}
		if time.Now().After(deadline) {
			if len(got) > 0 {
				for n, r := range got {
					s.baselines[n] = r.Counters
				}
				s.o.Log("no agent answered on %s within %s: the profile is made without it", strings.Join(missing, ", "), s.o.AgentTimeout)
				return nil
			}
			var why []string
			for _, n := range sortedKeys(s.failed) {
				why = append(why, n+": "+s.failed[n])
			}
			if len(why) == 0 {
				why = append(why, "no agent Pod runs (selector "+s.res.Agent.Selector+" in "+s.res.Agent.Namespace+")")
			}
			return fmt.Errorf("no agent answered within %s: %s", s.o.AgentTimeout, strings.Join(why, "; "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(s.o.Interval):
		}
	}
}

func (s *session) workloadName() string {
	return cluster.Location(s.o.Namespace, s.target.Kind, s.target.Name)
}

// window observes the workload for the duration (or until ctx ends), then
// reads every agent and aggregates.
func (s *session) window(ctx context.Context) {
	s.start = time.Now()
	end := s.start.Add(s.o.Duration)
	s.o.Log("profiling %s for %s (until %s)", s.workloadName(), s.o.Duration, end.UTC().Format(time.TimeOnly))
	if _, err := s.workloadPods(ctx); err != nil && ctx.Err() == nil {
		s.o.Log("warning: %v", err)
	}
	t := time.NewTimer(s.o.Duration)
	defer t.Stop()
	tick := time.NewTicker(s.o.Interval)
	defer tick.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			s.res.Interrupted = true
			break loop
		case <-t.C:
			break loop
		case <-tick.C:
			if _, err := s.workloadPods(ctx); err != nil && ctx.Err() == nil {
				s.o.Log("warning: %v", err)
			}
			// A node whose agent answers late gets its baseline now.
			if got, err := s.readAgents(ctx); err == nil {
				for n, r := range got {
					if _, ok := s.baselines[n]; !ok {
						s.baselines[n] = r.Counters
					}
				}
			}
		}
	}
	rctx := ctx
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), finalReadTimeout)
		defer cancel()
	}
	if _, err := s.workloadPods(rctx); err != nil {
		s.o.Log("warning: %v", err)
	}
	got, err := s.readAgents(rctx)
	stop := time.Now()
	var warnings []string
	if err != nil {
		warnings = append(warnings, "the agents could not be listed at the end of the window: "+err.Error())
	}
	if s.res.Interrupted {
		warnings = append(warnings, fmt.Sprintf("interrupted after %s of %s", stop.Sub(s.start).Round(time.Second), s.o.Duration))
	}
	in := clusterprofile.Input{
		Baselines: s.baselines, Unreachable: map[string]string{},
		Window: clusterprofile.NewWindow(s.start, stop), MinWindow: s.o.MinWindow,
		Source: "session", Cluster: s.o.Cluster, Generated: stop,
		Top: func(ns, name string, owner *agent.OwnerRef) (agent.OwnerRef, error) {
			return s.top(rctx, ns, name, "", owner)
		},
		Keep: func(w clusterprofile.Workload) bool {
			return w.Namespace == s.o.Namespace && w.Kind == s.target.Kind && w.Name == s.target.Name
		},
	}
	for _, n := range sortedKeys(got) {
		r := got[n]
		if r.TracingSince.After(s.start) {
			warnings = append(warnings, fmt.Sprintf("node %s: its tracer was attached again during the window (at %s): checks before that were lost", n, r.TracingSince.UTC().Format(time.RFC3339)))
		}
		in.Reports = append(in.Reports, r)
	}
	// Nodes whose agent answered before but not now, or never.
	for n := range s.baselines {
		if _, ok := got[n]; !ok {
			in.Unreachable[n] = cmp.Or(s.failed[n], "its agent Pod is gone")
		}
	}
	for _, e := range s.expected {
		if _, ok := got[e.Node]; !ok {
			if _, ok := in.Unreachable[e.Node]; !ok {
				in.Unreachable[e.Node] = cmp.Or(s.failed[e.Node], "no agent Pod runs there")
			}
		}
		in.Expected = append(in.Expected, e)
	}
	sort.Slice(in.Expected, func(i, j int) bool { return in.Expected[i].UID < in.Expected[j].UID })
	doc := clusterprofile.Aggregate(in)
	doc.Warnings = append(warnings, doc.Warnings...)
	if len(doc.Profiles) == 0 {
		doc.Warnings = append(doc.Warnings, fmt.Sprintf("no agent reported a container of %s: did its Pods run on a node with an agent during the window?", s.workloadName()))
	}
	s.res.Document = doc
}

// cleanup removes what the session created, newest first, and waits until
// it is gone, when it failed before its DaemonSet was created (once it is,
// release decides); it runs on every way out, with a context of its own.
func (s *session) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	s.o.Log("removing what this profile deployed")
	for i := len(s.created) - 1; i >= 0; i-- {
		o := s.created[i]
		if err := s.o.API.Delete(ctx, o.Resource, o.Namespace, o.Name, nil); err != nil {
			s.o.Log("warning: %v", err)
		}
	}
	// The DaemonSet's Pods go after it (garbage collection): wait for them
	// too, so nothing of the agent runs when capdrop exits.
	a := s.res.Agent
	sel := LabelSession + "=" + s.res.Session
	for {
		var left []string
		for _, o := range s.created {
			if _, err := s.o.API.Get(ctx, o.Resource, o.Namespace, o.Name); err == nil || !errors.Is(err, cluster.ErrNotFound) {
				left = append(left, o.String())
			}
		}
		if err := s.o.API.List(ctx, cluster.Pods, a.Namespace, sel, func(item json.RawMessage) error {
			var p pod
			if json.Unmarshal(item, &p) == nil {
				left = append(left, "Pod "+a.Namespace+"/"+p.Metadata.Name)
			}
			return nil
		}); err != nil && !errors.Is(err, cluster.ErrNotFound) {
			left = append(left, "Pods "+sel+" in "+a.Namespace+" (not listed: "+err.Error()+")")
		}
		if len(left) == 0 {
			s.o.Log("removed: %s", strings.Join(s.res.Deployed, ", "))
			return
		}
		select {
		case <-ctx.Done():
			s.res.Left = left
			s.o.Log("warning: still there after %s: %s", cleanupTimeout, strings.Join(left, ", "))
			return
		case <-time.After(min(s.o.Interval, time.Second)):
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
