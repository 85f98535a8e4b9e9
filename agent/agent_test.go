package agent_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/capdrop/capdrop/agent"
	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/clusterprofile"
	"github.com/capdrop/capdrop/trace"
)

// fakeTracer is a tracer's maps, as the agent reads them.
type fakeTracer struct {
	roots   map[uint32]trace.Root
	records []trace.Record
	gains   []trace.Gain
	deleted []uint32
}

func (f *fakeTracer) Records() ([]trace.Record, error) { return f.records, nil }
func (f *fakeTracer) Gains() ([]trace.Gain, error)     { return f.gains, nil }
func (f *fakeTracer) Counters() (trace.Counters, error) {
	return trace.Counters{Lost: 2}, nil
}
func (f *fakeTracer) Roots() ([]trace.Root, error) {
	var out []trace.Root
	for _, r := range f.roots {
		out = append(out, r)
	}
	return out, nil
}
func (f *fakeTracer) DeleteRoot(pid uint32) error {
	delete(f.roots, pid)
	f.deleted = append(f.deleted, pid)
	return nil
}

func (f *fakeTracer) root(pid uint32, cgroup uint64, name string, tag uint32, args ...string) {
	if f.roots == nil {
		f.roots = map[uint32]trace.Root{}
	}
	f.roots[pid] = trace.Root{PID: pid, Cgroup: cgroup, CgroupName: name, Tag: tag, Args: args}
}

func (f *fakeTracer) check(cgroup uint64, tag uint32, c capset.Cap, comm string, n uint64) {
	f.records = append(f.records, trace.Record{Key: trace.Key{Cgroup: cgroup, MntNS: 4026532000, Syscall: 1, Cap: c, Comm: comm, Tag: tag}, Count: n})
}

var (
	t0       = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	idApp    = strings.Repeat("a", 64)
	idDebug  = strings.Repeat("d", 64)
	idOld    = strings.Repeat("0", 64)
	idOther  = strings.Repeat("f", 64)
	probeCmd = []string{"/bin/capneeds", "raw"}
	hookCmd  = []string{"/bin/sh", "-c", "capneeds chown"}
)

// pod is Deployment web's replica on the node: container app with an exec
// readiness probe and a postStart hook, an ephemeral debug container, and
// app's previous run (restarted once).
func pod() *corev1.Pod {
	yes := true
	start := metav1.NewTime(t0.Add(2 * time.Second))
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-5d8f-x", UID: types.UID("uid-x"),
			Labels: map[string]string{"pod-template-hash": "5d8f"},
			OwnerReferences: []metav1.OwnerReference{
				{APIVersion: "v1", Kind: "ConfigMap", Name: "not-the-controller", UID: "cm"},
				{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-5d8f", UID: "rs-uid", Controller: &yes},
			}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "app", Image: "localhost/capdrop/test:1",
				Command: []string{"/bin/capneeds"}, Args: []string{"chown"}, Env: []corev1.EnvVar{{Name: "SECRET", Value: "x"}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: probeCmd}}},
				Lifecycle:      &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: hookCmd}}}}},
			EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debugger", Image: "busybox"}}},
		},
		Status: corev1.PodStatus{
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", ContainerID: "containerd://" + idApp, ImageID: "sha256:img",
				State:                corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: start}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ContainerID: "containerd://" + idOld, StartedAt: metav1.NewTime(t0), FinishedAt: metav1.NewTime(t0.Add(time.Second))}}}},
			EphemeralContainerStatuses: []corev1.ContainerStatus{{Name: "debugger", ContainerID: "containerd://" + idDebug,
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: start}}}},
		},
	}
}

func newAgent(t *testing.T, f *fakeTracer, store agent.Store) *agent.Agent {
	t.Helper()
	a, err := agent.New(f, store, agent.Info{Node: "n1", Pod: "capdrop/agent-x", TracingSince: t0, Pinned: true, Mechanism: "tp_btf"})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// scenario: the entrypoint, the probe twice, the hook, a kubectl exec and
// a debug container; a host service with a mount namespace of its own; a
// container no Pod names.
func scenario() *fakeTracer {
	f := &fakeTracer{}
	probe, hook, shell := trace.SessionTag(probeCmd), trace.SessionTag(hookCmd), trace.SessionTag([]string{"sh"})
	f.root(100, 11, idApp, trace.TagInit, "/bin/capneeds", "chown")
	f.root(101, 11, idApp, probe, probeCmd...)
	f.root(102, 11, idApp, hook, hookCmd...)
	f.root(103, 11, idApp, shell, "sh")
	f.root(200, 12, idDebug, trace.TagInit, "sh")
	f.root(300, 13, "systemd-timesyncd.service", 77, "/lib/systemd/systemd-timesyncd")
	f.root(400, 14, idOther, trace.TagInit, "nginx")
	f.check(11, trace.TagInit, capset.CHOWN, "capneeds", 2)
	f.check(11, probe, capset.NET_RAW, "capneeds", 6)
	f.check(11, hook, capset.FOWNER, "capneeds", 1)
	f.check(11, shell, capset.SYS_ADMIN, "mount", 1)
	f.check(12, trace.TagInit, capset.SYS_PTRACE, "strace", 3)
	f.check(13, 77, capset.SYS_TIME, "systemd-timesyn", 9)
	f.check(14, trace.TagInit, capset.NET_BIND_SERVICE, "nginx", 1)
	return f
}

func TestReportNamesAndSeparates(t *testing.T) {
	f := scenario()
	store := &agent.MemoryStore{}
	a := newAgent(t, f, store)
	a.SetPods([]*corev1.Pod{pod()})
	// The probe runs a second time, after a poll.
	if err := a.Poll(); err != nil {
		t.Fatal(err)
	}
	f.root(105, 11, idApp, trace.SessionTag(probeCmd), probeCmd...)
	// Long enough for the unnamed container's Pod to have named it.
	now := time.Now().Add(agent.NamingGrace)
	agent.SetClock(a, func() time.Time { return now })
	r, err := a.Report()
	if err != nil {
		t.Fatal(err)
	}
	if len(f.roots) != 0 {
		t.Errorf("roots left in the tracer's map after the polls: %v", f.roots)
	}
	if r.Unnamed != 1 {
		t.Errorf("unnamed %d, want 1 (the container no Pod names; not the host service)", r.Unnamed)
	}
	if r.Node != "n1" || r.Counters.Lost != 2 || !r.Pinned || r.Version != agent.ReportVersion {
		t.Errorf("report header %+v", r)
	}
	if len(r.Containers) != 2 {
		t.Fatalf("%d containers, want app and debugger: %+v", len(r.Containers), r.Containers)
	}
	app, dbg := r.Containers[0], r.Containers[1]
	if app.Name != "app" || app.ID != idApp || app.Type != agent.TypeContainer || app.Namespace != "shop" || app.Pod != "web-5d8f-x" ||
		app.PodUID != "uid-x" || app.ImageID != "sha256:img" || app.Revision != "5d8f" || !app.FromStart {
		t.Errorf("app: %+v", app)
	}
	if app.Owner == nil || app.Owner.Kind != "ReplicaSet" || app.Owner.Name != "web-5d8f" {
		t.Errorf("app owner %+v, want the controller ReplicaSet (not the first owner)", app.Owner)
	}
	if want := agent.Fingerprint("localhost/capdrop/test:1", []string{"/bin/capneeds"}, []string{"chown"}, []string{"SECRET"}); app.Fingerprint != want {
		t.Errorf("fingerprint %s, want %s", app.Fingerprint, want)
	}
	if app.StartedAt == nil || !app.StartedAt.Equal(t0.Add(2*time.Second)) || app.FinishedAt != nil {
		t.Errorf("app started %v finished %v", app.StartedAt, app.FinishedAt)
	}
	kinds := map[string]agent.Session{}
	for _, s := range app.Sessions {
		kinds[s.Kind+":"+s.Name] = s
	}
	if s := kinds["init:"]; s.Tag != trace.TagInit || !slices.Equal(s.Command, []string{"/bin/capneeds", "chown"}) {
		t.Errorf("init session %+v", s)
	}
	if s := kinds["probe:readiness"]; s.Runs != 2 || !slices.Equal(s.Command, probeCmd) {
		t.Errorf("readiness probe session %+v, want 2 runs of %q", s, probeCmd)
	}
	if s := kinds["hook:postStart"]; s.Runs != 1 {
		t.Errorf("postStart hook session %+v", s)
	}
	if s := kinds["exec:"]; !slices.Equal(s.Command, []string{"sh"}) {
		t.Errorf("exec session %+v, want kubectl exec's sh", s)
	}
	if len(app.Sessions) != 4 {
		t.Errorf("app sessions %+v, want 4", app.Sessions)
	}
	if len(app.Records) != 4 {
		t.Errorf("app records %+v", app.Records)
	}
	if dbg.Type != agent.TypeEphemeral || dbg.Name != "debugger" {
		t.Errorf("debug container %+v", dbg)
	}

	// Aggregated: the entrypoint, the probe and the hook count; the exec
	// session and the debug container do not.
	doc := clusterprofile.Aggregate(clusterprofile.Input{Reports: []agent.Report{r},
		Window: clusterprofile.NewWindow(t0, t0.Add(time.Hour)), MinWindow: time.Minute, Generated: t0.Add(time.Hour),
		Top: func(ns, pod string, o *agent.OwnerRef) (agent.OwnerRef, error) {
			return agent.OwnerRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "d"}, nil
		}})
	var used capset.Set
	for _, p := range doc.Profiles {
		if p.Workload.Container == "app" {
			used = p.RecommendedSet()
		}
	}
	if want := capset.Of(capset.CHOWN, capset.NET_RAW, capset.FOWNER); used != want {
		t.Errorf("app's profile %v, want %v (not the exec session's SYS_ADMIN, not the debugger's SYS_PTRACE)", used.Names(), want.Names())
	}
}

// TestRestartKeepsSessions: a new agent on the same store knows every
// session; the tracer's counts are the kernel's and go on.
func TestRestartKeepsSessions(t *testing.T) {
	f := scenario()
	store := &agent.MemoryStore{}
	a := newAgent(t, f, store)
	a.SetPods([]*corev1.Pod{pod()})
	before, err := a.Report()
	if err != nil {
		t.Fatal(err)
	}
	f.root(106, 11, idApp, trace.SessionTag(probeCmd), probeCmd...)
	b := newAgent(t, f, store)
	b.SetPods([]*corev1.Pod{pod()})
	after, err := b.Report()
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Containers) != len(before.Containers) {
		t.Fatalf("containers before %d after %d", len(before.Containers), len(after.Containers))
	}
	for _, s := range after.Containers[0].Sessions {
		if s.Kind == agent.SessionProbe && s.Runs != 2 {
			t.Errorf("probe runs after the restart %d, want 2", s.Runs)
		}
		if s.Kind == agent.SessionUnknown {
			t.Errorf("a session became unknown after the restart: %+v", s)
		}
	}
}

// fullStore refuses every new session.
type fullStore struct{ agent.MemoryStore }

func (*fullStore) Save(agent.SessionState) error { return agent.ErrStoreFull }

func TestFullStoreIsCountedAndUnknown(t *testing.T) {
	f := scenario()
	a := newAgent(t, f, &fullStore{})
	a.SetPods([]*corev1.Pod{pod()})
	r, err := a.Report()
	if err != nil {
		t.Fatal(err)
	}
	if r.Counters.SessionsOverflow != 6 {
		t.Errorf("sessions overflow %d, want the 6 roots of containers (not the host service's)", r.Counters.SessionsOverflow)
	}
	if r.Counters.Missing() < 6 {
		t.Errorf("missing %d: the lost sessions must count as missing", r.Counters.Missing())
	}
	// No session known: no container can be named.
	if len(r.Containers) != 0 {
		t.Errorf("containers %+v without sessions", r.Containers)
	}
}

// TestDeletedPodsNamedForARetention: a finished Job's Pod deleted from the
// API is still named for PodRetention.
func TestDeletedPodsNamedForARetention(t *testing.T) {
	f := scenario()
	a := newAgent(t, f, &agent.MemoryStore{})
	a.SetPods([]*corev1.Pod{pod()})
	a.SetPods(nil) // a new listing without it
	r, err := a.Report()
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Containers) != 2 {
		t.Errorf("%d containers of a Pod deleted just now, want 2", len(r.Containers))
	}
}

// TestPartialWithoutInit: a container whose entrypoint the tracer did not
// see (it started before the agent) is not from start.
func TestPartialWithoutInit(t *testing.T) {
	f := &fakeTracer{}
	f.root(101, 11, idApp, trace.SessionTag(probeCmd), probeCmd...)
	f.check(11, trace.SessionTag(probeCmd), capset.NET_RAW, "capneeds", 1)
	a := newAgent(t, f, &agent.MemoryStore{})
	a.SetPods([]*corev1.Pod{pod()})
	r, err := a.Report()
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Containers) != 1 || r.Containers[0].FromStart {
		t.Errorf("containers %+v: want app, not from start", r.Containers)
	}
}

// TestSharedPIDNamespace: in a Pod sharing one pid namespace the
// entrypoint is no namespace's init; the container's first session is,
// when the container started after the tracer.
func TestSharedPIDNamespace(t *testing.T) {
	p := pod()
	yes := true
	p.Spec.ShareProcessNamespace = &yes
	f := &fakeTracer{}
	tag := trace.SessionTag([]string{"/bin/capneeds", "chown"})
	f.root(100, 11, idApp, tag, "/bin/capneeds", "chown")
	f.check(11, tag, capset.CHOWN, "capneeds", 1)
	a := newAgent(t, f, &agent.MemoryStore{})
	a.SetPods([]*corev1.Pod{p})
	r, err := a.Report()
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Containers) != 1 || !r.Containers[0].FromStart || r.Containers[0].Sessions[0].Kind != agent.SessionInit {
		t.Errorf("containers %+v: want app from start, its first session the entrypoint", r.Containers)
	}
}

func TestContainerOfCgroup(t *testing.T) {
	for in, want := range map[string]string{
		idApp:                                    idApp,
		"cri-containerd-" + idApp + ".scope":     idApp,
		"crio-" + idApp + ".scope":               idApp,
		"docker-" + idApp + ".scope":             idApp,
		"user.slice":                             "",
		strings.Repeat("a", 63):                  "",
		"kubepods-besteffort-pod1234.slice":      "",
		"cri-containerd-" + idApp + ".scope.bak": "",
	} {
		if got := agent.ContainerOfCgroup(in); got != want {
			t.Errorf("ContainerOfCgroup(%q) = %q, want %q", in, got, want)
		}
	}
}
