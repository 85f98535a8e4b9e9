package cli

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/capdrop/capdrop/agent"
	"github.com/capdrop/capdrop/internal/kubetest"
	"github.com/capdrop/capdrop/shadow"
)

// apiProxy stands between capdrop and the test cluster's API server: it
// passes every request on, records it, and at the request numbered at
// (from 1) sends capdrop its signal — with that request then passed on at
// once, or held until capdrop gives it up (at most 3 s). The signal so
// always comes while capdrop talks to the API server, at a point the test
// chooses, and the record says what capdrop asked for after it.
type apiProxy struct {
	srv *httptest.Server
	mu  sync.Mutex
	n   int
	at  int
	// hold: the signalled request waits for capdrop to give it up.
	hold  bool
	fire  func()
	fired bool
	log   []apiRequest
}

// apiRequest is one request capdrop made.
type apiRequest struct {
	Method, URI string
	// AfterSignal: it arrived after the signal was sent.
	AfterSignal bool
}

func (r apiRequest) write() bool {
	return r.Method != http.MethodGet && r.Method != http.MethodHead
}

func (r apiRequest) dryRun() bool { return strings.Contains(r.URI, "dryRun=All") }

func (r apiRequest) String() string { return r.Method + " " + r.URI }

func newAPIProxy(t *testing.T, k *kubetest.Cluster) *apiProxy {
	server, _ := k.Credentials(t)
	target, err := url.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	p := &apiProxy{}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) },
		// The test cluster's self-signed certificate, as its kubeconfig
		// says.
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true},
		FlushInterval: -1, // watches stream
		ErrorLog:      log.New(io.Discard, "", 0),
	}
	p.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.n++
		fire := p.at == p.n && p.fire != nil
		p.log = append(p.log, apiRequest{Method: r.Method, URI: r.URL.RequestURI(), AfterSignal: p.fired})
		if fire {
			p.fired = true
		}
		hold, send := p.hold, p.fire
		p.mu.Unlock()
		if fire {
			send()
			if hold {
				select {
				case <-r.Context().Done():
					return // capdrop gave it up: it never reaches the API server
				case <-time.After(3 * time.Second):
				}
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// arm makes the next run signal at request at.
func (p *apiProxy) arm(at int, hold bool, fire func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n, p.at, p.hold, p.fire, p.fired, p.log = 0, at, hold, fire, false, nil
}

func (p *apiProxy) requests() ([]apiRequest, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.log), p.fired
}

// kubeconfig writes a kubeconfig that reaches the cluster as its admin
// through p, in namespace ns.
func (p *apiProxy) kubeconfig(t *testing.T, k *kubetest.Cluster, ns string) string {
	_, token := k.Credentials(t)
	f := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: %q, insecure-skip-tls-verify: true}}]\n"+
		"users: [{name: u, user: {token: %q}}]\ncontexts: [{name: x, context: {cluster: c, user: u, namespace: %s}}]\ncurrent-context: x\n", p.srv.URL, token, ns)
	if err := os.WriteFile(f, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// signalled is how one signalled run of capdrop ended.
type signalled struct {
	stdout, stderr string
	code           int
	requests       []apiRequest
	fired          bool
}

// runThrough runs capdrop through p, signalling it with sig at request at
// (0: never), and checks what every stop must leave: the exit status
// 128+sig and a message saying so, no process of capdrop's group, no
// temporary file.
func runThrough(t *testing.T, p *apiProxy, bin string, sig syscall.Signal, at int, hold bool, args ...string) signalled {
	t.Helper()
	tmp := t.TempDir()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "NO_COLOR=1", "KUBECONFIG=/nonexistent")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// The proxy's handler learns the process through proc: the request
	// that signals comes over the network, which the race detector does
	// not see order the start before it.
	var proc atomic.Pointer[os.Process]
	p.arm(at, hold, func() {
		pr := proc.Load()
		for i := 0; pr == nil && i < 1000; i++ { // Start has not returned yet
			time.Sleep(time.Millisecond)
			pr = proc.Load()
		}
		if pr != nil {
			_ = pr.Signal(sig)
		}
	})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	proc.Store(cmd.Process)
	pgid := cmd.Process.Pid
	defer syscall.Kill(-pgid, syscall.SIGKILL)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(4 * time.Minute):
		t.Fatalf("capdrop %s: still running 4 minutes on\n%s\n%s", strings.Join(args, " "), stdout.String(), stderr.String())
	}
	reqs, fired := p.requests()
	r := signalled{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode(), requests: reqs, fired: fired}
	if at == 0 {
		return r
	}
	what := map[syscall.Signal]string{syscall.SIGINT: "interrupted", syscall.SIGTERM: "terminated"}[sig]
	switch {
	case !fired:
		t.Fatalf("capdrop %s made %d requests and ended (exit %d) before the signal at request %d\n%s", strings.Join(args, " "), len(reqs), r.code, at, r.stderr)
	case r.code != 128+int(sig):
		t.Errorf("%s at request %d (%s): exit %d, want %d\n%s", sig, at, reqs[at-1], r.code, 128+int(sig), r.stderr)
	case !strings.Contains(r.stderr, "capdrop: "+what):
		t.Errorf("%s at request %d (%s): no message saying it was %s:\n%s", sig, at, reqs[at-1], what, r.stderr)
	}
	if err := syscall.Kill(-pgid, 0); !errors.Is(err, syscall.ESRCH) {
		ps, _ := exec.Command("ps", "-o", "pid,args", "-g", fmt.Sprint(pgid)).CombinedOutput()
		t.Errorf("processes left in capdrop's group:\n%s", ps)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) > 0 {
		t.Errorf("temporary files left: %v", ents)
	}
	return r
}

// namespaceState is what the namespace holds but its Pods' and Events'
// churn: every object of the kinds below, with its resourceVersion (any
// change to an object changes it), and the Pods' names.
func namespaceState(t *testing.T, k *kubetest.Cluster, ns string) string {
	t.Helper()
	objs := k.Kubectl(t, "", "-n", ns, "get", "deployments,replicasets,statefulsets,daemonsets,jobs,cronjobs,configmaps,secrets,services,serviceaccounts,roles,rolebindings,poddisruptionbudgets",
		"-o", `jsonpath={range .items[*]}{.kind}/{.metadata.name}@{.metadata.resourceVersion}{"\n"}{end}`)
	pods := k.Kubectl(t, "", "-n", ns, "get", "pods", "-o", `jsonpath={range .items[*]}Pod/{.metadata.name}{"\n"}{end}`)
	lines := strings.Fields(objs + pods)
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// pick chooses a request to signal at, from 1 to n, and whether it is held.
func pick(n int) (int, bool) { return 1 + rand.IntN(max(n, 1)), rand.IntN(2) == 0 }

var signals = []syscall.Signal{syscall.SIGINT, syscall.SIGTERM}

// TestSignalsClusterReads stops audit --cluster and k8s recommend
// (every way they read the cluster: one namespace page by page, every
// namespace by a selector, a profile's workloads read one by one, the
// profiles kept in ConfigMaps) with SIGINT and SIGTERM at a random request
// to the API server, signalled with that request passed on or held until
// capdrop gives it up. Each exits 130/143 saying so, leaves no process or
// temporary file, and wrote nothing: every request it made was a read, and
// the namespace's objects are as they were.
func TestSignalsClusterReads(t *testing.T) {
	k := kubetest.Require(t)
	t.Parallel()
	ns := k.Namespace(t, "sig-read")
	sel := "capdrop-sig=s" + strings.TrimPrefix(ns, "capdrop-sig-read-")
	for _, n := range []string{"web", "api", "worker"} {
		k.Kubectl(t, loopDeployment(n, ", "+strings.Replace(sel, "=", ": ", 1)), "-n", ns, "apply", "-f", "-")
	}
	k.WaitReady(t, ns, 5*time.Minute)
	env := e2e(t)
	p := newAPIProxy(t, k)
	kc := p.kubeconfig(t, k, ns)
	prof := handProfile(t, t.TempDir(), ns, "web", "api", "worker")
	before := namespaceState(t, k, ns)

	for _, v := range []struct {
		name string
		args []string
	}{
		{"audit --cluster -n", []string{"audit", "--cluster", "--kubeconfig", kc, "-n", ns, "--chunk-size", "1", "--fail-on", "never", "-o", "json"}},
		{"audit --cluster -A -l", []string{"audit", "--cluster", "--kubeconfig", kc, "-A", "-l", sel, "--fail-on", "never"}},
		{"k8s recommend --from", []string{"k8s", "recommend", "--kubeconfig", kc, "--from", prof, "-n", ns}},
		{"k8s recommend --from-cluster", []string{"k8s", "recommend", "--kubeconfig", kc, "--from-cluster", "-n", ns, "-o", "json"}},
	} {
		t.Run(v.name, func(t *testing.T) {
			// A run to the end counts the requests the signal is put among.
			whole := runThrough(t, p, env.capdrop, 0, 0, false, v.args...)
			if whole.code != 0 {
				t.Fatalf("unsignalled: exit %d\n%s", whole.code, whole.stderr)
			}
			for _, r := range whole.requests {
				if r.write() {
					t.Errorf("unsignalled: wrote to the cluster: %s", r)
				}
			}
			for _, sig := range signals {
				at, hold := pick(len(whole.requests))
				t.Logf("%s at request %d of %d (%s), held %v", sig, at, len(whole.requests), whole.requests[at-1], hold)
				r := runThrough(t, p, env.capdrop, sig, at, hold, v.args...)
				for _, q := range r.requests {
					if q.write() {
						t.Errorf("%s: wrote to the cluster: %s", sig, q)
					}
				}
			}
		})
	}
	if after := namespaceState(t, k, ns); after != before {
		t.Errorf("the namespace changed:\nbefore\n%s\nafter\n%s", before, after)
	}
}

// TestSignalsRecommendApplyCluster stops k8s recommend --apply with SIGINT
// and SIGTERM at a random request, over three Deployments (no replicas:
// only their templates change). The semantics docs/kubernetes.md states:
// each workload's patch is one request; a dry run in flight is given up,
// a patch in flight is seen through; so each Deployment is either patched
// whole (drop ALL, add exactly its profile, no privilege escalation) and
// reported "applied", or untouched (same resourceVersion) and reported
// "interrupted"; no patch is sent after the signal, and the exit status is
// 130/143.
func TestSignalsRecommendApplyCluster(t *testing.T) {
	k := kubetest.Require(t)
	t.Parallel()
	ns := k.Namespace(t, "sig-apply")
	env := e2e(t)
	p := newAPIProxy(t, k)
	kc := p.kubeconfig(t, k, ns)
	try := 0
	deployments := func() []string {
		try++
		var names []string
		for i := range 3 {
			n := fmt.Sprintf("app-%d-%d", try, i)
			k.Kubectl(t, strings.Replace(loopDeployment(n, ""), "replicas: 1", "replicas: 0", 1), "-n", ns, "apply", "-f", "-")
			names = append(names, n)
		}
		return names
	}
	args := func(names []string) []string {
		a := []string{"k8s", "recommend", "--kubeconfig", kc, "--from", handProfile(t, t.TempDir(), ns, names...), "-n", ns, "--apply", "-o", "json"}
		for _, n := range names {
			a = append(a, "deployment/"+n)
		}
		return a
	}
	type template struct {
		RV string
		SC json.RawMessage
	}
	state := func(name string) template {
		out := k.Kubectl(t, "", "-n", ns, "get", "deployment", name, "-o", `jsonpath={.metadata.resourceVersion} {.spec.template.spec.containers[0].securityContext}`)
		rv, sc, _ := strings.Cut(out, " ")
		return template{rv, json.RawMessage(sc)}
	}
	patched := func(tm template) bool {
		var sc struct {
			AllowPrivilegeEscalation *bool `json:"allowPrivilegeEscalation"`
			Capabilities             struct {
				Add, Drop []string
			} `json:"capabilities"`
		}
		_ = json.Unmarshal(tm.SC, &sc)
		return sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation &&
			slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) && slices.Equal(sc.Capabilities.Add, []string{"NET_BIND_SERVICE", "NET_RAW"})
	}

	// To the end: 3 reads, then a dry run and a patch per Deployment.
	names := deployments()
	whole := runThrough(t, p, env.capdrop, 0, 0, false, args(names)...)
	if whole.code != 0 {
		t.Fatalf("unsignalled: exit %d\n%s", whole.code, whole.stderr)
	}
	for _, n := range names {
		if !patched(state(n)) {
			t.Fatalf("unsignalled: %s not patched: %s", n, state(n).SC)
		}
	}
	total := len(whole.requests)

	for _, sig := range signals {
		names := deployments()
		before := map[string]template{}
		for _, n := range names {
			before[n] = state(n)
		}
		at, hold := pick(total)
		r := runThrough(t, p, env.capdrop, sig, at, hold, args(names)...)
		t.Logf("%s at request %d of %d (%s), held %v: %s", sig, at, total, r.requests[at-1], hold, strings.TrimSpace(r.stderr))
		sent := 0
		for _, q := range r.requests {
			if q.write() && !q.dryRun() {
				sent++
				if q.AfterSignal {
					t.Errorf("%s: a patch sent after the signal: %s", sig, q)
				}
			}
		}
		// What the report says of each, when it got as far as a report.
		status := map[string]string{}
		if strings.TrimSpace(r.stdout) != "" {
			var res struct {
				Applied         bool `json:"applied"`
				Recommendations []struct {
					Workload struct{ Name string }
					Apply    *struct{ Status, Message string }
				} `json:"recommendations"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
				t.Fatalf("%s: %v\n%s", sig, err, r.stdout)
			}
			for _, rec := range res.Recommendations {
				if rec.Apply == nil {
					t.Errorf("%s: %s has no apply status", sig, rec.Workload.Name)
					continue
				}
				status[rec.Workload.Name] = rec.Apply.Status
			}
		}
		applied := 0
		for _, n := range names {
			now := state(n)
			switch {
			case patched(now):
				applied++
				if status[n] != "applied" {
					t.Errorf("%s: %s is patched, the report says %q", sig, n, status[n])
				}
			case now.RV != before[n].RV:
				t.Errorf("%s: %s changed but is not the patch: %s", sig, n, now.SC)
			case status[n] != "" && status[n] != "interrupted":
				t.Errorf("%s: %s is untouched, the report says %q", sig, n, status[n])
			case status[n] == "" && len(status) > 0:
				t.Errorf("%s: %s not in the report", sig, n)
			}
		}
		if applied != sent {
			t.Errorf("%s: %d patches sent, %d Deployments patched", sig, sent, applied)
		}
	}
}

// TestK8sVerifySignalsCluster stops k8s verify with SIGINT and SIGTERM at
// a random request to the API server — reading the workload, creating a
// shadow, watching it, deleting it — passed on or held until capdrop gives
// it up. It exits 130/143 saying so; no shadow is created after the
// signal, none is left (nothing carries its label), the Deployment and
// the namespace's other objects are as they were, and its only writes
// were to shadow Pods (it deploys no agent and labels nothing else).
func TestK8sVerifySignalsCluster(t *testing.T) {
	k := kubetest.Require(t)
	t.Parallel()
	ns := k.Namespace(t, "kv-sig")
	k.Kubectl(t, loopDeployment("web", ""), "-n", ns, "apply", "-f", "-")
	k.Kubectl(t, loopService("web"), "-n", ns, "apply", "-f", "-")
	k.WaitReady(t, ns, 5*time.Minute)
	env := e2e(t)
	p := newAPIProxy(t, k)
	kc := p.kubeconfig(t, k, ns)
	args := []string{"k8s", "verify", "deployment/web", "--kubeconfig", kc, "-n", ns, "--cap-add", "NET_BIND_SERVICE,NET_RAW", "--settle", "3s", "--timeout", "90s"}
	before := namespaceState(t, k, ns)
	shadowPods := "/api/v1/namespaces/" + ns + "/pods"

	whole := runThrough(t, p, env.capdrop, 0, 0, false, args...)
	if whole.code != 0 {
		t.Fatalf("unsignalled: exit %d\n%s\n%s", whole.code, whole.stdout, whole.stderr)
	}
	// Each signal twice: once up to the shadow's creation (that request
	// included), once while the shadow exists. Polls vary in number from
	// run to run: the second goes no further than two thirds of an
	// unsignalled run's requests.
	create := slices.IndexFunc(whole.requests, func(r apiRequest) bool { return r.Method == http.MethodPost })
	if create < 0 {
		t.Fatalf("unsignalled: no shadow created: %v", whole.requests)
	}
	create++ // its number, from 1
	late := max(len(whole.requests)*2/3, create+1)
	for i, sig := range append(slices.Clone(signals), signals...) {
		at, hold := pick(create)
		if i >= len(signals) {
			at = create + rand.IntN(late-create) + 1
		}
		r := runThrough(t, p, env.capdrop, sig, at, hold, args...)
		t.Logf("%s at request %d of %d (%s), held %v: %s", sig, at, len(whole.requests), r.requests[at-1], hold, strings.TrimSpace(r.stderr))
		for _, q := range r.requests {
			if !q.write() {
				continue
			}
			if !strings.HasPrefix(q.URI, shadowPods) {
				t.Errorf("%s: wrote something other than its shadow Pods: %s", sig, q)
			}
			if q.AfterSignal && q.Method == http.MethodPost {
				t.Errorf("%s: created after the signal: %s", sig, q)
			}
		}
		if left := k.Kubectl(t, "", "-n", ns, "get", "pods", "-l", shadow.LabelSession, "-o", "name"); left != "" {
			t.Errorf("%s: left behind: %s", sig, left)
		}
		if after := namespaceState(t, k, ns); after != before {
			t.Errorf("%s: the namespace changed:\nbefore\n%s\nafter\n%s", sig, before, after)
		}
	}
}

// TestAgentSignalsCluster stops `capdrop agent`, run on the node against the
// real cluster, with SIGINT and with SIGTERM at a random point — before its
// tracer is up, while it starts its Pod watch, or while it serves — and
// checks what the DaemonSet's restarts rely on: exit 130/143 with a
// message, no process left, and no BPF program of its own left attached
// (run with --no-pin, it owns its tracer; pinned, the tracer is meant to
// stay and TestAgentCluster tests the take-over).
func TestAgentSignalsCluster(t *testing.T) {
	k := kubetest.Require(t)
	bin := e2e(t).capdrop
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		for _, when := range []string{"early", "serving"} {
			t.Run(sig.String()+"/"+when, func(t *testing.T) {
				port := 20000 + rand.IntN(20000)
				tmp := t.TempDir()
				cmd := exec.Command(bin, "agent", "--kubeconfig", k.Kubeconfig, "--node", k.Node, "--no-pin",
					"--listen", fmt.Sprintf("127.0.0.1:%d", port))
				cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "NO_COLOR=1")
				cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
				var out lockedBuffer
				cmd.Stdout, cmd.Stderr = &out, &out
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				pgid := cmd.Process.Pid
				defer syscall.Kill(-pgid, syscall.SIGKILL)
				done := make(chan struct{})
				go func() { _ = cmd.Wait(); close(done) }()
				var progs map[int]string
				if when == "early" {
					time.Sleep(time.Duration(rand.IntN(400)) * time.Millisecond)
					progs = progsOf(t, pgid)
				} else {
					deadline := time.Now().Add(60 * time.Second)
					for {
						resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, agent.ReportPath))
						if err == nil {
							resp.Body.Close()
							if resp.StatusCode == http.StatusOK {
								break
							}
						}
						select {
						case <-done:
							t.Fatalf("the agent ended before serving:\n%s", out.String())
						default:
						}
						if time.Now().After(deadline) {
							t.Fatalf("the agent did not serve its report in 60 s:\n%s", out.String())
						}
						time.Sleep(200 * time.Millisecond)
					}
					progs = progsOf(t, pgid)
					if len(progs) == 0 {
						t.Fatalf("the serving agent holds no BPF program:\n%s", out.String())
					}
					time.Sleep(time.Duration(rand.IntN(2000)) * time.Millisecond)
				}
				if err := cmd.Process.Signal(sig); err != nil {
					t.Fatalf("the agent ended before the signal: %v\n%s", err, out.String())
				}
				select {
				case <-done:
				case <-time.After(60 * time.Second):
					t.Fatalf("still running 60 s after %s:\n%s", sig, out.String())
				}
				st := cmd.ProcessState.Sys().(syscall.WaitStatus)
				if !(st.Signaled() && st.Signal() == sig) && st.ExitStatus() != 128+int(sig) {
					t.Errorf("exit status %d after %s, want %d:\n%s", st.ExitStatus(), sig, 128+int(sig), out.String())
				}
				if err := syscall.Kill(-pgid, 0); !errors.Is(err, syscall.ESRCH) {
					t.Errorf("processes left in the agent's group")
				}
				// The kernel frees a closed program a moment later.
				deadline := time.Now().Add(10 * time.Second)
				for {
					var all, left []bpftoolProg
					bpftool(t, &all, "prog", "show")
					for _, p := range all {
						if _, ok := progs[p.ID]; ok {
							left = append(left, p)
						}
					}
					if len(left) == 0 {
						break
					}
					if time.Now().After(deadline) {
						for _, p := range left {
							t.Errorf("BPF program %s (id %d) left 10 s after %s", p.Name, p.ID, sig)
						}
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				if ents, _ := os.ReadDir(tmp); len(ents) > 0 {
					t.Errorf("temporary files left: %v", ents)
				}
			})
		}
	}
}
