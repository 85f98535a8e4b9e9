// Package shadow proves a capability set for one container of a Kubernetes
// workload, in the cluster, with shadow Pods: copies of the workload's Pod
// template whose container drops ALL and adds exactly the candidate set,
// with the labels that Services, controllers and PodDisruptionBudgets of
// the namespace select left out (no traffic reaches a shadow, no controller
// adopts it), owned by the workload but not controlled by it (an owner
// reference with controller: false: deleting the workload deletes its
// shadows, and no controller counts them as its Pods). A shadow passes when it becomes Ready and stays
// so without a restart for a settling time (a Pod that does not restart
// its containers: when it succeeds); it fails when a container exits with
// an error, restarts, cannot be started, or it is not Ready in time.
//
// Minimization is the verify package's delta debugging over shadows, one
// at a time. Every shadow carries the session's label and a deadline
// (activeDeadlineSeconds), is deleted when its trial ends, and the session
// deletes whatever still carries its label and waits until it is gone
// before it returns — also when its context is cancelled (Ctrl-C).
//
// A shadow runs the workload for real: a queue consumer takes messages, a
// cron worker does its job, a Pod with a volume writes to it.
package shadow

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/cluster"
	"github.com/capdrop/capdrop/merge"
	"github.com/capdrop/capdrop/verify"
	"github.com/capdrop/capdrop/workload"
)

// API is what a verification needs of the cluster; *cluster.Client has
// it.
type API interface {
	Object(ctx context.Context, r cluster.Resource, namespace, name string) (*cluster.Object, error)
	Get(ctx context.Context, r cluster.Resource, namespace, name string) (json.RawMessage, error)
	List(ctx context.Context, r cluster.Resource, namespace, selector string, f func(json.RawMessage) error) error
	Names(ctx context.Context, r cluster.Resource, namespace, selector string) ([]string, error)
	Create(ctx context.Context, r cluster.Resource, namespace string, obj []byte, o cluster.WriteOptions) (json.RawMessage, error)
	Delete(ctx context.Context, r cluster.Resource, namespace, name string, grace *int64) error
}

// Defaults.
const (
	DefaultTimeout = 2 * time.Minute
	DefaultSettle  = 10 * time.Second
	// DefaultPoll is how often a shadow's status is read.
	DefaultPoll = 500 * time.Millisecond
)

// Options say which container to verify, with which set, and how.
type Options struct {
	API API
	// Resource, Namespace and Name are the workload; Container the
	// container (empty when the template has one).
	Resource  cluster.Resource
	Namespace string
	Name      string
	Container string
	// Start is the candidate set and StartFrom where it came from; when
	// HasStart is false it is what the container holds today.
	Start     capset.Set
	StartFrom string
	HasStart  bool
	// AllowWiden lets Start hold capabilities the container does not hold
	// today (otherwise refused: shadows never get more than the workload).
	AllowWiden bool
	// Minimize shrinks the set by delta debugging; Retries and
	// NoPrediction are verify.MinimizeOptions'. Without Minimize the set
	// runs 1+Retries times.
	Minimize     bool
	Retries      int
	NoPrediction bool
	// Timeout bounds each shadow from its creation to its verdict;
	// Settle is how long a Ready shadow must stay Ready.
	Timeout, Settle time.Duration
	// Poll is how often a shadow's status is read (DefaultPoll).
	Poll time.Duration
	// Session names the verification in labels and Pod names (random
	// when empty).
	Session string
	// OnStart is called once the target is known, before the first
	// shadow; OnRun after every trial; Warn with what is worth saying but
	// is no failure.
	OnStart func(*Result)
	OnRun   func(Trial)
	Warn    func(error)
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Target is the container verified.
type Target struct {
	Namespace string `json:"namespace"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	Container string `json:"container"`
	// ContainerKind is "container" or "init container".
	ContainerKind string `json:"container_kind"`
	Image         string `json:"image"`
	// Held is what the container holds today (its bounding set under the
	// nodes' runtime rules).
	Held []string `json:"held"`
	// Notes say how shadows differ from the workload's Pods besides the
	// set; Warnings what shadows do that the workload's Pods also do.
	Notes    []string `json:"notes,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// String names the target: namespace/Kind/name container NAME.
func (t *Target) String() string {
	return cluster.Location(t.Namespace, t.Kind, t.Name) + " " + t.ContainerKind + " " + t.Container
}

// Trial is one shadow Pod's run.
type Trial struct {
	N     int          `json:"n"`
	Phase verify.Phase `json:"phase"`
	Set   capset.Set   `json:"-"`
	// Caps is Set as canonical names.
	Caps   []string `json:"set"`
	Passed bool     `json:"passed"`
	// Result is "pass" or "fail".
	Result string `json:"result"`
	Reason string `json:"reason"`
	// DurationMS is the time from the shadow's creation to its verdict.
	DurationMS int64  `json:"duration_ms"`
	Pod        string `json:"pod"`
	Node       string `json:"node,omitempty"`
}

// Result is the document `capdrop k8s verify -o json` prints. Its fields
// shared with `capdrop verify -o json` (passed, set, mask, minimized,
// one_minimal, start, start_from, removed, runs, stats, flaky, message)
// mean the same, so `capdrop fix --from` reads either.
type Result struct {
	Passed     bool     `json:"passed"`
	Set        []string `json:"set"`
	Mask       string   `json:"mask"`
	Minimized  bool     `json:"minimized"`
	OneMinimal bool     `json:"one_minimal"`
	Start      []string `json:"start"`
	StartFrom  string   `json:"start_from"`
	Removed    []string `json:"removed"`
	Target     *Target  `json:"target"`
	// Check says how shadows are judged.
	Check   string            `json:"check"`
	Session string            `json:"session"`
	Runs    []Trial           `json:"runs"`
	Stats   verify.Stats      `json:"stats"`
	Flaky   []verify.FlakySet `json:"flaky"`
	// Left are shadow Pods that could not be removed (there should never
	// be any).
	Left    []string `json:"left"`
	Message string   `json:"message"`
}

// ErrNoVerdict is wrapped by errors that stop a verification without a
// verdict on the set: a shadow the cluster cannot run whatever its set (no
// image, a missing config map, never scheduled).
var ErrNoVerdict = errors.New("no verdict")

// prepare reads the workload and works out the target and the starting
// set. It creates nothing.
func prepare(ctx context.Context, o Options) (*Target, *spec, capset.Set, string, error) {
	obj, err := o.API.Object(ctx, o.Resource, o.Namespace, o.Name)
	if err != nil {
		return nil, nil, 0, "", err
	}
	m, err := decode(obj.Raw)
	if err != nil {
		return nil, nil, 0, "", fmt.Errorf("%s: %w", obj.Location(), err)
	}
	tmpl, err := template(o.Resource.Kind, m)
	if err != nil {
		return nil, nil, 0, "", fmt.Errorf("%s: %w", obj.Location(), err)
	}
	name := o.Container
	if name == "" {
		names := containerNames(tmpl)
		if len(names) != 1 {
			return nil, nil, 0, "", fmt.Errorf("%s has %d containers: choose one with --container (%s)", obj.Location(), len(names), strings.Join(names, ", "))
		}
		name = names[0]
	}
	group, c := container(tmpl, name)
	if c == nil {
		return nil, nil, 0, "", fmt.Errorf("%s has no container %s (%s)", obj.Location(), name, strings.Join(containerNames(tmpl), ", "))
	}
	t := &Target{Namespace: obj.Namespace, Kind: o.Resource.Kind, Name: obj.Name, Container: name, ContainerKind: "container"}
	if group == "initContainers" {
		t.ContainerKind = "init container"
	}
	t.Image, _ = c["image"].(string)
	var w *workload.Workload
	for i := range obj.Containers {
		cw := &obj.Containers[i]
		if cw.Attrs["container"] == name && (cw.Kind == workload.KubeInitContainer) == (group == "initContainers") {
			w = cw
		}
	}
	if w == nil {
		return nil, nil, 0, "", fmt.Errorf("%s: container %s could not be read: %v", obj.Location(), name, errors.Join(errorsOf(obj.Errors)...))
	}
	if w.Privileged {
		return nil, nil, 0, "", fmt.Errorf("%w: %s is privileged, which grants every capability whatever the set, and more (host devices, no seccomp): remove privileged, check the workload still works, then verify", ErrRefused, t)
	}
	mopts := merge.Options{}
	for _, n := range obj.Nodes {
		if n.Runtime == w.Runtime {
			if v, err := merge.ParseVersion(n.Version); err == nil {
				mopts.Versions = map[workload.Runtime]merge.Version{n.Runtime: v}
			}
		}
	}
	res := merge.Compute(*w, mopts)
	if res.Refusal != nil {
		return nil, nil, 0, "", fmt.Errorf("%s: the runtime refuses it as written: %s", t, res.Refusal.Message)
	}
	held := res.Sets.Bounding
	t.Held = held.Names()
	start, from := o.Start, o.StartFrom
	if !o.HasStart {
		start, from = held, "what the container holds today ("+string(w.Runtime)+"'s rules)"
	}
	if extra := start.Minus(held); !extra.IsEmpty() && !o.AllowWiden {
		return nil, nil, 0, "", fmt.Errorf("would widen privileges: %s does not hold %s today; shadows never get more than the workload (pass --allow-widen if you mean it)", t, strings.Join(extra.ShortNames(), ", "))
	}
	if !res.Root {
		t.Notes = append(t.Notes, "runs as a non-root user: added capabilities go only into its bounding set, usable only through file capabilities")
	}
	if obj.NodesErr != nil {
		t.Notes = append(t.Notes, "the nodes could not be read ("+obj.NodesErr.Error()+"): containerd's rules assumed")
	}
	sp := &spec{kind: o.Resource.Kind, apiVersion: o.Resource.APIVersion(), name: obj.Name, uid: obj.UID, ns: obj.Namespace, tmpl: tmpl}
	sels, err := readSelectors(ctx, o.API, obj.Namespace)
	if err == nil {
		sp.drop = sels.keys
	} else if ctx.Err() != nil {
		// Stopped (Ctrl-C): not a reason to warn, nor to go on.
		return nil, nil, 0, "", ctx.Err()
	} else if o.Warn != nil {
		o.Warn(fmt.Errorf("the namespace's selectors could not be read, so shadows carry none of the template's labels: %w", err))
	}
	if o.Resource.Kind == "StatefulSet" {
		var sts struct {
			Spec struct {
				VolumeClaimTemplates []struct {
					Metadata struct {
						Name string `json:"name"`
					} `json:"metadata"`
				} `json:"volumeClaimTemplates"`
			} `json:"spec"`
		}
		_ = json.Unmarshal(obj.Raw, &sts)
		for _, v := range sts.Spec.VolumeClaimTemplates {
			sp.volumeClaims = append(sp.volumeClaims, v.Metadata.Name)
		}
	}
	timeout, settle := orDefault(o.Timeout, DefaultTimeout), orDefault(o.Settle, DefaultSettle)
	sp.deadline = int64(math.Ceil((timeout + settle + time.Minute).Seconds()))
	t.Notes = append(t.Notes, sp.notes()...)
	t.Notes = append(t.Notes, fmt.Sprintf("each shadow ends itself after %d s (activeDeadlineSeconds), should capdrop be killed", sp.deadline))
	if sels != nil {
		// A selector that still matches what a shadow keeps (NotIn,
		// DoesNotExist) would send it traffic or adopt it.
		probe, err := sp.pod("probe", 0, name, start)
		if err != nil {
			return nil, nil, 0, "", err
		}
		var pm struct {
			Metadata struct {
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
		}
		_ = json.Unmarshal(probe, &pm)
		if still := sels.matching(pm.Metadata.Labels); len(still) > 0 {
			return nil, nil, 0, "", fmt.Errorf("%w: %s would still select a shadow of %s: it would send it traffic or adopt it", ErrRefused, strings.Join(still, ", "), t)
		}
	}
	t.Warnings = append(t.Warnings, "shadow Pods run the workload for real, alongside its own Pods: a queue consumer takes messages, a cron worker does its job, anything with side effects has them in every trial")
	switch o.Resource.Kind {
	case "CronJob", "Job":
		t.Warnings = append(t.Warnings, "this is a "+o.Resource.Kind+": every shadow runs the job once more")
	}
	return t, sp, start, from, nil
}

func errorsOf(es []*workload.Error) []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// session runs shadows and removes them.
type session struct {
	o       Options
	sp      *spec
	target  string
	id      string
	timeout time.Duration
	settle  time.Duration
	poll    time.Duration
	runs    []Trial
	n       int
	now     func() time.Time
}

// Run verifies: it prepares the target, runs the shadows and returns the
// verdict. Every shadow it creates is deleted before it returns, also when
// ctx ends (then the result so far comes back with ctx's error). A set
// that fails is a verdict (Result.Passed false), not an error.
func Run(ctx context.Context, o Options) (*Result, error) {
	t, sp, start, from, err := prepare(ctx, o)
	if err != nil {
		return nil, err
	}
	id := o.Session
	if id == "" {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		id = hex.EncodeToString(b)
	}
	s := &session{o: o, sp: sp, target: t.Container, id: id,
		timeout: orDefault(o.Timeout, DefaultTimeout), settle: orDefault(o.Settle, DefaultSettle),
		poll: orDefault(o.Poll, DefaultPoll), now: o.Now}
	if s.now == nil {
		s.now = time.Now
	}
	res := &Result{Target: t, Session: id, Start: start.Names(), StartFrom: from, Minimized: o.Minimize,
		Removed: []string{}, Flaky: []verify.FlakySet{}, Left: []string{}, Runs: []Trial{},
		Check: fmt.Sprintf("the shadow Pod becomes Ready within %s and stays Ready for %s with no container restarting (a Pod that does not restart its containers: it succeeds within %s)", s.timeout, s.settle, s.timeout)}
	defer func() {
		left, err := s.cleanup()
		res.Left = left
		if err != nil && o.Warn != nil {
			o.Warn(err)
		}
	}()
	if o.OnStart != nil {
		o.OnStart(res)
	}
	if !o.Minimize {
		obs, err := verify.VerifySet(ctx, start, s.oracle, o.Retries)
		res.Runs = s.runs
		res.Stats = verify.Stats{Runs: len(s.runs), Start: len(s.runs)}
		res.setFinal(start, start)
		if err != nil {
			res.Message = "interrupted: " + err.Error()
			return res, err
		}
		res.Passed = obs.Passed()
		switch {
		case obs.Flaky():
			res.Flaky = append(res.Flaky, verify.FlakySet{Set: start.Names(), Passes: obs.Passes, Fails: obs.Fails})
			res.Message = fmt.Sprintf("flaky: the set passed %d and failed %d of %d shadows; not trusted", obs.Passes, obs.Fails, obs.Passes+obs.Fails)
		case res.Passed:
			res.Message = fmt.Sprintf("%s works with %s", t, words(start))
		default:
			res.Message = fmt.Sprintf("%s does not work with %s", t, words(start))
		}
		return res, nil
	}
	m, err := verify.Minimize(ctx, start, s.oracle, verify.MinimizeOptions{Retries: o.Retries, NoPrediction: o.NoPrediction})
	res.Runs = s.runs
	res.setFinal(m.Set, start)
	res.Passed, res.OneMinimal = m.Passed, m.OneMinimal
	res.Stats = verify.Stats{Runs: m.Runs, Start: m.StartRuns, Search: m.SearchRuns, Confirm: m.ConfirmRuns,
		Queries: m.Queries, Cached: m.Cached, Predicted: m.Predicted, Restarts: m.Restarts,
		AllSubsets: math.Exp2(float64(start.Len()))}
	for _, f := range m.Flaky {
		res.Flaky = append(res.Flaky, verify.FlakySet{Set: f.Set.Names(), Passes: f.Passes, Fails: f.Fails})
	}
	switch {
	case errors.Is(err, verify.ErrStartFailed):
		res.Passed = false
		res.Message = fmt.Sprintf("the starting set (%s) does not work: nothing to minimize from", words(start))
		return res, nil
	case errors.Is(err, verify.ErrFlaky):
		res.Passed = false
		res.Message = "flaky: " + err.Error() + "; a flaky workload cannot be minimized against"
		return res, nil
	case err != nil:
		res.Passed = false
		res.Message = fmt.Sprintf("interrupted after %d shadows: %v", len(s.runs), err)
		return res, err
	case !m.Passed:
		res.Message = fmt.Sprintf("flaky: the final set %s failed a confirmation; not trusted", words(m.Set))
	case !m.OneMinimal:
		res.Message = fmt.Sprintf("%s works, but some boundary shadows were flaky: not every capability is proven needed", words(m.Set))
	default:
		res.Message = fmt.Sprintf("%s is 1-minimal for %s: it works, and removing any one capability fails (%d shadows; every subset would be %.0f)", words(m.Set), t, m.Runs, res.Stats.AllSubsets)
	}
	return res, nil
}

func (r *Result) setFinal(s, start capset.Set) {
	r.Set = s.Names()
	r.Mask = s.Hex()
	r.Removed = start.Minus(s).Names()
}

func words(s capset.Set) string {
	if s.IsEmpty() {
		return "no capability"
	}
	return strings.Join(s.ShortNames(), ", ")
}

// oracle runs one shadow with set and judges it.
func (s *session) oracle(ctx context.Context, set capset.Set, phase verify.Phase) (bool, error) {
	s.n++
	tr := Trial{N: s.n, Phase: phase, Set: set, Caps: set.Names(), Pod: shadowName(s.id, s.n)}
	pod, err := s.sp.pod(s.id, s.n, s.target, set)
	if err != nil {
		return false, err
	}
	start := s.now()
	if _, err := s.o.API.Create(ctx, cluster.Pods, s.sp.ns, pod, cluster.WriteOptions{FieldManager: "capdrop"}); err != nil {
		return false, fmt.Errorf("create shadow %s: %w", tr.Pod, err)
	}
	v, reason, node, err := s.watch(ctx, tr.Pod)
	// The shadow goes now; the session waits for it at the end.
	s.remove(tr.Pod)
	if err != nil {
		return false, err
	}
	if v == broken {
		return false, fmt.Errorf("%w: shadow %s: %s", ErrNoVerdict, tr.Pod, reason)
	}
	tr.Passed, tr.Reason, tr.Node = v == passed, reason, node
	tr.Result = map[bool]string{true: "pass", false: "fail"}[tr.Passed]
	tr.DurationMS = s.now().Sub(start).Milliseconds()
	s.runs = append(s.runs, tr)
	if s.o.OnRun != nil {
		s.o.OnRun(tr)
	}
	return tr.Passed, nil
}

// watch reads a shadow's status until there is a verdict, the timeout
// passes (a failure: not Ready in time) or ctx ends.
func (s *session) watch(ctx context.Context, pod string) (verdict, string, string, error) {
	j := &judge{settle: s.settle}
	deadline := s.now().Add(s.timeout)
	last, node := "", ""
	for {
		data, err := s.o.API.Get(ctx, cluster.Pods, s.sp.ns, pod)
		if err != nil {
			if ctx.Err() != nil {
				return pending, "", node, ctx.Err()
			}
			if errors.Is(err, cluster.ErrNotFound) {
				return failed, "the shadow Pod was deleted by someone else", node, nil
			}
			return pending, "", node, err
		}
		p, err := parseStatus(data)
		if err != nil {
			return pending, "", node, err
		}
		node = p.Spec.NodeName
		v, reason, done := j.next(p, s.now())
		if done {
			return v, reason, node, nil
		}
		if reason != "" {
			last = reason
		}
		if s.now().After(deadline) {
			why := fmt.Sprintf("not Ready within %s", s.timeout)
			if p.Spec.RestartPolicy == "Never" || p.Spec.RestartPolicy == "OnFailure" {
				why = fmt.Sprintf("did not complete within %s", s.timeout)
			}
			if strings.HasPrefix(last, "not scheduled") {
				return broken, last, node, nil
			}
			if last != "" {
				why += " (" + last + ")"
			}
			return failed, why, node, nil
		}
		select {
		case <-ctx.Done():
			return pending, "", node, ctx.Err()
		case <-time.After(s.poll):
		}
	}
}

// grace is the deletion grace period of a shadow: its containers get a
// second to stop.
var grace int64 = 1

// remove deletes a shadow without waiting for it to go, with a context of
// its own (the caller's may be cancelled).
func (s *session) remove(pod string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.o.API.Delete(ctx, cluster.Pods, s.sp.ns, pod, &grace); err != nil && s.o.Warn != nil {
		s.o.Warn(err)
	}
}

// cleanup deletes every Pod with the session's label and waits until none
// is left, with a context of its own; it returns what is left.
func (s *session) cleanup() ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sel := LabelSession + "=" + s.id
	var last error
	for {
		names, err := s.o.API.Names(ctx, cluster.Pods, s.sp.ns, sel)
		if err == nil && len(names) == 0 {
			return []string{}, nil
		}
		if err != nil {
			last = err
		}
		for _, n := range names {
			if err := s.o.API.Delete(ctx, cluster.Pods, s.sp.ns, n, &grace); err != nil {
				last = err
			}
		}
		select {
		case <-ctx.Done():
			if names == nil {
				names = []string{}
			}
			slices.Sort(names)
			return names, fmt.Errorf("shadow Pods left after %s (kubectl delete pods -n %s -l %s): %s: %v", "3m", s.sp.ns, sel, strings.Join(names, ", "), last)
		case <-time.After(s.poll):
		}
	}
}
