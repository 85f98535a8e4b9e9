package shadow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/cluster"
	"github.com/capdrop/capdrop/source/kube"
	"github.com/capdrop/capdrop/workload"
)

// fake is an API server holding one workload and the namespace's
// selectors, whose Pods become Ready when their container holds needed
// and fail otherwise.
type fake struct {
	mu       sync.Mutex
	obj      string // the workload as JSON
	kind     string
	selects  map[string][]string // resource -> objects (JSON)
	needed   capset.Set
	pods     map[string]map[string]any
	created  []map[string]any
	deleted  []string
	looks    map[string]int
	onCreate func(n int) // called after each create
}

func newFake(kind, obj string, needed capset.Set) *fake {
	return &fake{obj: obj, kind: kind, needed: needed, selects: map[string][]string{}, pods: map[string]map[string]any{}, looks: map[string]int{}}
}

func (f *fake) Object(ctx context.Context, r cluster.Resource, ns, name string) (*cluster.Object, error) {
	ws, errs := kube.Parse(cluster.Location(ns, r.Kind, name), []byte(f.obj), true, workload.Containerd)
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return &cluster.Object{Resource: r, Namespace: ns, Name: name, UID: "u1", Raw: json.RawMessage(f.obj), Containers: ws,
		Nodes: []cluster.Node{{Name: "n1", Runtime: workload.Containerd, Version: "1.6.20"}}}, nil
}

func (f *fake) List(ctx context.Context, r cluster.Resource, ns, sel string, fn func(json.RawMessage) error) error {
	for _, o := range f.selects[r.Resource] {
		if err := fn(json.RawMessage(o)); err != nil {
			return err
		}
	}
	return nil
}

func (f *fake) Create(ctx context.Context, r cluster.Resource, ns string, obj []byte, o cluster.WriteOptions) (json.RawMessage, error) {
	f.mu.Lock()
	var m map[string]any
	if err := json.Unmarshal(obj, &m); err != nil {
		f.mu.Unlock()
		return nil, err
	}
	name := m["metadata"].(map[string]any)["name"].(string)
	f.pods[name] = m
	f.created = append(f.created, m)
	n := len(f.created)
	f.mu.Unlock()
	if f.onCreate != nil {
		f.onCreate(n)
	}
	return obj, nil
}

// setOf reads the set a shadow's container adds.
func setOf(pod map[string]any, container string) capset.Set {
	s := pod["spec"].(map[string]any)
	for _, g := range []string{"initContainers", "containers"} {
		l, _ := s[g].([]any)
		for _, c := range l {
			m := c.(map[string]any)
			if m["name"] != container {
				continue
			}
			caps := m["securityContext"].(map[string]any)["capabilities"].(map[string]any)
			var names []string
			for _, a := range caps["add"].([]any) {
				names = append(names, a.(string))
			}
			set, err := capset.ParseSet(strings.Join(names, ","))
			if err != nil {
				panic(err)
			}
			return set
		}
	}
	panic("no container " + container)
}

func (f *fake) Get(ctx context.Context, r cluster.Resource, ns, name string) (json.RawMessage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.pods[name]
	if !ok {
		return nil, fmt.Errorf("get %s: %w", name, cluster.ErrNotFound)
	}
	f.looks[name]++
	status := `{"phase":"Pending"}`
	if f.looks[name] > 1 {
		if setOf(p, "app").Contains(f.needed) {
			status = `{"phase":"Running","conditions":[{"type":"Ready","status":"True"}],"containerStatuses":[{"name":"app","ready":true,"restartCount":0,"state":{"running":{}}}]}`
		} else {
			status = `{"phase":"Running","conditions":[{"type":"Ready","status":"False"}],"containerStatuses":[{"name":"app","ready":false,"restartCount":1,"state":{"waiting":{"reason":"CrashLoopBackOff"}},"lastState":{"terminated":{"exitCode":1,"reason":"Error"}}}]}`
		}
	}
	return json.RawMessage(`{"spec":{"nodeName":"n1","restartPolicy":"Always"},"status":` + status + `}`), nil
}

func (f *fake) Delete(ctx context.Context, r cluster.Resource, ns, name string, grace *int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.pods[name]; ok {
		delete(f.pods, name)
		f.deleted = append(f.deleted, name)
	}
	return nil
}

func (f *fake) Names(ctx context.Context, r cluster.Resource, ns, sel string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, v, _ := strings.Cut(sel, "=")
	var out []string
	for n, p := range f.pods {
		if p["metadata"].(map[string]any)["labels"].(map[string]any)[k] == v {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

const deployment = `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"shop","uid":"u1"},
"spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web","tier":"front","team":"a"},"annotations":{"note":"kept"}},
"spec":{"containers":[{"name":"app","image":"img:1","ports":[{"containerPort":80,"hostPort":8080}],
"securityContext":{"capabilities":{"add":["NET_ADMIN"]}}}]}}}}`

func options(f *fake) Options {
	t := time.Unix(0, 0)
	return Options{API: f, Resource: mustLookup("deployment"), Namespace: "shop", Name: "web", Session: "s1",
		Settle: time.Second, Timeout: time.Hour, Poll: time.Millisecond,
		// Every reading of the clock advances it: no real waiting.
		Now: func() time.Time { t = t.Add(500 * time.Millisecond); return t }}
}

func mustLookup(k string) cluster.Resource {
	r, ok := cluster.Lookup(k)
	if !ok {
		panic(k)
	}
	return r
}

func TestMinimizeOverShadows(t *testing.T) {
	needed := capset.Of(capset.CHOWN, capset.NET_ADMIN)
	f := newFake("Deployment", deployment, needed)
	f.selects["services"] = []string{`{"metadata":{"name":"web"},"spec":{"selector":{"tier":"front"}}}`}
	f.selects["replicasets"] = []string{`{"metadata":{"name":"web-1"},"spec":{"selector":{"matchLabels":{"app":"web"}}}}`}
	o := options(f)
	o.Minimize = true
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s; %d shadows", res.Message, len(res.Runs))
	if !res.Passed || !res.OneMinimal || strings.Join(res.Set, ",") != "CAP_CHOWN,CAP_NET_ADMIN" {
		t.Errorf("result %v one-minimal %v set %v: %s", res.Passed, res.OneMinimal, res.Set, res.Message)
	}
	// The start is what the container holds: containerd's defaults and
	// NET_ADMIN.
	if len(res.Start) != 15 || !slices.Contains(res.Start, "CAP_NET_ADMIN") {
		t.Errorf("start %v, want containerd's 14 defaults and NET_ADMIN", res.Start)
	}
	if len(f.pods) != 0 || len(res.Left) != 0 {
		t.Errorf("shadows left: %v %v", f.pods, res.Left)
	}
	if len(f.deleted) != len(f.created) || len(res.Runs) != len(f.created) {
		t.Errorf("%d created, %d deleted, %d runs", len(f.created), len(f.deleted), len(res.Runs))
	}
	p := f.created[0]
	meta := p["metadata"].(map[string]any)
	labels := meta["labels"].(map[string]any)
	if _, ok := labels["app"]; ok {
		t.Errorf("shadow keeps the controller's selected label app: %v", labels)
	}
	if _, ok := labels["tier"]; ok {
		t.Errorf("shadow keeps the Service's selected label tier: %v", labels)
	}
	if labels["team"] != "a" || labels[LabelSession] != "s1" || meta["annotations"].(map[string]any)["note"] != "kept" {
		t.Errorf("labels %v, annotations %v: want team kept and the session's label", labels, meta["annotations"])
	}
	owners, _ := meta["ownerReferences"].([]any)
	if len(owners) != 1 || owners[0].(map[string]any)["uid"] != "u1" || owners[0].(map[string]any)["controller"] != false {
		t.Errorf("owners %v: want the Deployment, not as controller", meta["ownerReferences"])
	}
	c := p["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
	sc := c["securityContext"].(map[string]any)
	if sc["allowPrivilegeEscalation"] != false || sc["capabilities"].(map[string]any)["drop"].([]any)[0] != "ALL" {
		t.Errorf("securityContext %v", sc)
	}
	if _, ok := c["ports"].([]any)[0].(map[string]any)["hostPort"]; ok {
		t.Error("the host port is kept")
	}
	if !strings.Contains(strings.Join(res.Target.Notes, "\n"), "host port 8080") {
		t.Errorf("notes %q do not mention the host port", res.Target.Notes)
	}
}

func TestRefusals(t *testing.T) {
	for _, c := range []struct {
		name, obj string
		mod       func(*Options, *fake)
		want      string
	}{
		{"privileged", strings.Replace(deployment, `"capabilities":{"add":["NET_ADMIN"]}`, `"privileged":true`, 1), nil, "privileged"},
		{"widen", deployment, func(o *Options, _ *fake) { o.Start, o.HasStart = capset.Of(capset.SYS_ADMIN), true }, "would widen privileges"},
		{"no container", deployment, func(o *Options, _ *fake) { o.Container = "db" }, "has no container db"},
		{"selector still matches", deployment, func(_ *Options, f *fake) {
			f.selects["services"] = []string{`{"metadata":{"name":"odd"},"spec":{"selector":null}}`}
			f.selects["poddisruptionbudgets"] = []string{`{"metadata":{"name":"pdb"},"spec":{"selector":{"matchExpressions":[{"key":"tier","operator":"DoesNotExist"}]}}}`}
		}, "PodDisruptionBudget/pdb would still select"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFake("Deployment", c.obj, 0)
			o := options(f)
			if c.mod != nil {
				c.mod(&o, f)
			}
			_, err := Run(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err %v, want %q", err, c.want)
			}
			if len(f.created) != 0 {
				t.Errorf("%d shadows created", len(f.created))
			}
		})
	}
}

// TestCancelRemovesShadows cancels the context while a shadow is being
// judged: the result comes back with the context's error and nothing is
// left.
func TestCancelRemovesShadows(t *testing.T) {
	f := newFake("Deployment", deployment, capset.Of(capset.CHOWN))
	ctx, cancel := context.WithCancel(context.Background())
	f.onCreate = func(n int) {
		if n == 3 {
			cancel()
		}
	}
	o := options(f)
	o.Minimize = true
	res, err := Run(ctx, o)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want the cancellation", err)
	}
	if len(f.pods) != 0 || len(res.Left) != 0 || len(f.created) != 3 {
		t.Errorf("created %d, left %v %v", len(f.created), f.pods, res.Left)
	}
}

func TestLook(t *testing.T) {
	for _, c := range []struct {
		status string
		want   verdict
		reason string
	}{
		{`{"spec":{"restartPolicy":"Always"},"status":{"phase":"Pending"}}`, pending, ""},
		{`{"spec":{"restartPolicy":"Always"},"status":{"phase":"Pending","conditions":[{"type":"PodScheduled","status":"False","reason":"Unschedulable","message":"0/1 nodes"}]}}`, pending, "not scheduled: 0/1 nodes"},
		{`{"spec":{"restartPolicy":"Always"},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}`, ready, "Ready"},
		{`{"spec":{"restartPolicy":"Never"},"status":{"phase":"Succeeded"}}`, passed, "every container exited with code 0"},
		{`{"spec":{"restartPolicy":"Never"},"status":{"phase":"Failed","containerStatuses":[{"name":"c","state":{"terminated":{"exitCode":2,"reason":"Error","message":"capneeds: chown: operation not permitted"}}}]}}`, failed,
			"the Pod failed: container c exited with code 2: capneeds: chown: operation not permitted"},
		{`{"spec":{"restartPolicy":"Always"},"status":{"phase":"Pending","containerStatuses":[{"name":"c","state":{"waiting":{"reason":"ErrImagePull","message":"no such image"}}}]}}`, broken, "container c cannot start: ErrImagePull: no such image"},
		{`{"spec":{"restartPolicy":"Always"},"status":{"phase":"Pending","containerStatuses":[{"name":"c","state":{"waiting":{"reason":"RunContainerError","message":"exec: operation not permitted"}}}]}}`, failed, "container c cannot run: RunContainerError: exec: operation not permitted"},
		{`{"spec":{"restartPolicy":"Always"},"status":{"phase":"Running","initContainerStatuses":[{"name":"i","restartCount":1,"lastState":{"terminated":{"exitCode":1,"reason":"Error"}}}]}}`, failed, "container i restarted: it exited with code 1"},
	} {
		p, err := parseStatus([]byte(c.status))
		if err != nil {
			t.Fatal(err)
		}
		v, reason := look(p)
		if v != c.want || reason != c.reason {
			t.Errorf("%s:\n got %d %q\nwant %d %q", c.status, v, reason, c.want, c.reason)
		}
	}
}

func TestJudgeSettles(t *testing.T) {
	ready, _ := parseStatus([]byte(`{"spec":{"restartPolicy":"Always"},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}`))
	notReady, _ := parseStatus([]byte(`{"spec":{"restartPolicy":"Always"},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"False"}]}}`))
	t0 := time.Unix(0, 0)
	j := &judge{settle: 5 * time.Second}
	if _, _, done := j.next(ready, t0); done {
		t.Fatal("a verdict at the first Ready look")
	}
	if v, _, done := j.next(notReady, t0.Add(2*time.Second)); !done || v != failed {
		t.Errorf("Ready then not: %d %v, want a failure", v, done)
	}
	j = &judge{settle: 5 * time.Second}
	j.next(ready, t0)
	if v, _, done := j.next(ready, t0.Add(5*time.Second)); !done || v != passed {
		t.Errorf("Ready for the settling time: %d %v, want a pass", v, done)
	}
}
