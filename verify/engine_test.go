package verify_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/engine"
	"github.com/capdrop/capdrop/internal/dockertest"
	"github.com/capdrop/capdrop/knowledge"
	"github.com/capdrop/capdrop/merge"
	"github.com/capdrop/capdrop/source"
	"github.com/capdrop/capdrop/source/runargs"
	"github.com/capdrop/capdrop/verify"
	"github.com/capdrop/capdrop/workload"
)

// truthImage builds the ground-truth image: busybox, the truth.sh workload
// as /truth, a web root, and /data/other owned by uid 1000.
func truthImage(t *testing.T) string {
	t.Helper()
	abs, err := filepath.Abs("testdata/truth.sh")
	if err != nil {
		t.Fatal(err)
	}
	return dockertest.Image(t, map[string]string{"/truth": abs},
		`RUN ["/bin/busybox", "sh", "-c", "mkdir -p /www /data /mnt && echo hello > /www/index.html && touch /data/other && chown 1000:1000 /data/other"]`)
}

// opCaps is the capability each truth.sh operation needs.
var opCaps = map[string]capset.Cap{
	"chown": capset.CHOWN, "dac": capset.DAC_OVERRIDE, "fowner": capset.FOWNER, "mknod": capset.MKNOD,
	"chroot": capset.SYS_CHROOT, "ping": capset.NET_RAW, "bind80": capset.NET_BIND_SERVICE,
	"netadmin": capset.NET_ADMIN, "nice": capset.SYS_NICE, "mount": capset.SYS_ADMIN,
}

// leftovers returns the IDs of the containers of session s that still
// exist. Only this session's: other packages' tests verify at the same
// time, and their containers are theirs to remove.
func leftovers(t *testing.T, s *verify.Session) []string {
	t.Helper()
	out := dockertest.Docker(t, "ps", "-aq", "--filter", "label="+verify.LabelSession+"="+s.ID)
	return strings.Fields(out)
}

func newSession(t *testing.T) *verify.Session {
	t.Helper()
	c, err := engine.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	s := verify.NewSession(c, map[string]string{dockertest.Label: "1"})
	// When the test ends, pass or fail, none of the session's containers
	// may be left.
	t.Cleanup(func() {
		for _, id := range leftovers(t, s) {
			t.Errorf("container %s left behind", id)
			dockertest.Remove(id)
		}
	})
	return s
}

// runWorkload reads docker run arguments as capdrop verify does.
func runWorkload(t *testing.T, args ...string) workload.Workload {
	t.Helper()
	c := runargs.FromArgv(append([]string{"docker", "run"}, args...), runargs.Quote)
	if c == nil {
		t.Fatalf("not a run command: %q", args)
	}
	w, errs := c.Workload("arguments", workload.RunLine)
	if len(errs) > 0 {
		t.Fatalf("%q: %v", args, errs)
	}
	return w
}

// runTarget is the target docker run arguments describe.
func runTarget(t *testing.T, args []string) (*verify.Target, error) {
	return verify.NewTarget(runWorkload(t, args...), "run", runargs.Join(args))
}

// imageTarget runs an image with its own configuration and, when given,
// another command.
func imageTarget(img string, cmd []string) (*verify.Target, error) {
	w := workload.Workload{Image: img, Runtime: workload.Docker}
	if len(cmd) > 0 {
		w.Run.Command = &cmd
	}
	return verify.NewTarget(w, "image", "image "+img)
}

// configured is the starting set verify plans for a workload on this
// engine when no set is given.
func configured(t *testing.T, s *verify.Session, w workload.Workload) capset.Set {
	t.Helper()
	p, err := verify.Prepare(testContext(t), verify.Options{Engine: s.Engine, Workload: w, Kind: "run"})
	if err != nil {
		t.Fatal(err)
	}
	return p.Start
}

// dockerAll is every capability a Docker release gives a privileged
// container (merge's rules: 20.10 knows fewer than 23).
func dockerAll(rel merge.Version) capset.Set {
	w := workload.Workload{Runtime: workload.Docker, Privileged: true}
	return merge.Compute(w, merge.Options{Versions: map[workload.Runtime]merge.Version{workload.Docker: rel}}).Sets.Bounding
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// groundTruth is the workload the minimization test uses: four operations
// needing capabilities of Docker's default set and two needing extras.
var groundTruth = []string{"chown", "mknod", "chroot", "bind80", "netadmin", "nice"}

func truthArgs(img string, ops ...string) []string {
	return append([]string{"--sysctl", "net.ipv4.ip_unprivileged_port_start=1024", img, "/truth"}, ops...)
}

func setOf(ops ...string) capset.Set {
	var s capset.Set
	for _, op := range ops {
		s = s.With(opCaps[op])
	}
	return s
}

// TestVerifyGroundTruth: the ground-truth workload passes with exactly its
// set, and fails, with the failing operation in the evidence, when any one
// capability of it is missing.
func TestVerifyGroundTruth(t *testing.T) {
	dockertest.Require(t)
	ctx := testContext(t)
	s := newSession(t)
	tg, err := runTarget(t, truthArgs(truthImage(t), groundTruth...))
	if err != nil {
		t.Fatal(err)
	}
	r := &verify.Runner{Session: s, Target: tg}
	need := setOf(groundTruth...)

	res, err := r.Verify(ctx, need, "test", 0)
	if err != nil {
		t.Fatal(err)
	}
	run := res.Runs[0]
	if !res.Passed || run.ExitCode == nil || *run.ExitCode != 0 || !strings.Contains(run.Logs, "ok bind80") {
		t.Fatalf("the needed set fails: %+v", run)
	}
	if strings.Join(res.Set, ",") != need.String() || res.Mask != need.Hex() {
		t.Errorf("result set %v mask %s, want %v", res.Set, res.Mask, need)
	}

	for _, op := range groundTruth {
		less := need.Without(opCaps[op])
		res, err := r.Verify(ctx, less, "test", 0)
		if err != nil {
			t.Fatal(err)
		}
		run := res.Runs[0]
		if res.Passed || run.Passed || run.Result != "fail" {
			t.Errorf("without %v the workload passes: %+v", opCaps[op], run)
			continue
		}
		if run.ExitCode == nil || *run.ExitCode != 1 || !strings.Contains(run.Reason, "exited with code 1, want 0") {
			t.Errorf("without %v: exit %v, reason %q", opCaps[op], run.ExitCode, run.Reason)
		}
		if !strings.Contains(run.Logs, "FAILED "+op) || strings.Count(run.Logs, "FAILED") != 1 {
			t.Errorf("without %v the evidence should show exactly %s failing:\n%s", opCaps[op], op, run.Logs)
		}
	}
}

// TestMinimizeGroundTruth: starting from Docker's 14 defaults plus the two
// extras, minimization finds exactly the ground-truth set, in far fewer runs
// than trying every subset.
func TestMinimizeGroundTruth(t *testing.T) {
	dockertest.Require(t)
	ctx := testContext(t)
	s := newSession(t)
	tg, err := runTarget(t, truthArgs(truthImage(t), groundTruth...))
	if err != nil {
		t.Fatal(err)
	}
	var live []verify.Trial
	r := &verify.Runner{Session: s, Target: tg, OnRun: func(run verify.Trial) { live = append(live, run) }}
	start := knowledge.MustDefault(knowledge.Docker).With(capset.NET_ADMIN).With(capset.SYS_NICE)
	res, err := r.Minimize(ctx, start, "test", verify.MinimizeOptions{Retries: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := setOf(groundTruth...)
	if strings.Join(res.Set, ",") != want.String() {
		t.Fatalf("minimized to %v, want %v\n%s", res.Set, want, res.Message)
	}
	if !res.Passed || !res.OneMinimal || len(res.Flaky) != 0 {
		t.Errorf("passed %v, 1-minimal %v, flaky %v", res.Passed, res.OneMinimal, res.Flaky)
	}
	if len(res.Runs) != res.Stats.Runs || len(live) != len(res.Runs) {
		t.Errorf("%d runs reported, stats say %d, %d seen live", len(res.Runs), res.Stats.Runs, len(live))
	}
	// Retries 1: the start set twice; the search; then the final set and its
	// six boundary sets until each has run twice.
	if res.Stats.Start != 2 {
		t.Errorf("start set ran %d times, want 2", res.Stats.Start)
	}
	allSubsets := 1 << start.Len()
	if res.Stats.Runs > 40 || float64(allSubsets) != res.Stats.AllSubsets {
		t.Errorf("%d runs for %d capabilities (all subsets %v): want at most 40", res.Stats.Runs, start.Len(), res.Stats.AllSubsets)
	}
	for i, run := range res.Runs {
		if run.N != i+1 || run.Container == "" || run.DurationMS <= 0 || len(run.Caps) != run.Set.Len() {
			t.Errorf("run %d incomplete: %+v", i+1, run)
		}
	}
	if got := strings.Join(res.Removed, ","); got != start.Minus(want).String() {
		t.Errorf("removed %s", got)
	}
	t.Logf("minimized %d → %d capabilities in %d runs (%d start, %d search, %d confirm; %d predicted, %d cached); every subset: %d",
		start.Len(), want.Len(), res.Stats.Runs, res.Stats.Start, res.Stats.Search, res.Stats.Confirm, res.Stats.Predicted, res.Stats.Cached, allSubsets)
}

// TestTrialKeepsConfiguration: a trial created from docker run arguments
// keeps the environment, sysctls, bind mounts, working directory, hostname,
// user and labels, drops the host port, name and restart policy, and the
// kernel gives its process exactly the candidate set.
func TestTrialKeepsConfiguration(t *testing.T) {
	dockertest.Require(t)
	ctx := testContext(t)
	s := newSession(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	envFile := filepath.Join(dir, "env")
	if err := os.WriteFile(envFile, []byte("FROM_FILE=yes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := truthImage(t)
	name := fmt.Sprintf("capdrop-verify-test-%d", time.Now().UnixNano())
	script := `echo "A=$A F=$FROM_FILE"; grep -E '^Cap(Eff|Bnd)' /proc/self/status; cat /proc/sys/net/ipv4/ip_unprivileged_port_start; pwd; hostname; id -u; cat /data/f`
	args := []string{"-d", "--name", name, "-e", "A=1", "--env-file", envFile,
		"--sysctl", "net.ipv4.ip_unprivileged_port_start=1024", "-v", dir + ":/data:ro", "-w", "/data",
		"--hostname", "h1", "-u", "0", "-p", "127.0.0.1:18089:8080", "--restart", "always",
		"--cap-add", "SYS_ADMIN", "--label", "mine=yes", img, "sh", "-c", script}
	tg, err := runTarget(t, args)
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := dockertest.DockerErr("ps", "-aq", "--filter", "name="+name); out != "" {
		t.Errorf("a container named %s exists: the user's --name must not be used", name)
	}
	if got := configured(t, s, runWorkload(t, args...)); got != knowledge.MustDefault(knowledge.Docker).With(capset.SYS_ADMIN) {
		t.Errorf("configured set %v", got)
	}
	notes := strings.Join(tg.Notes, "\n")
	for _, want := range []string{"published ports left out", "restart policy always left out"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}

	set := capset.Of(capset.CHOWN, capset.NET_RAW)
	r := &verify.Runner{Session: s, Target: tg}
	res, err := r.Verify(ctx, set, "test", 0)
	if err != nil {
		t.Fatal(err)
	}
	logs := res.Runs[0].Logs
	for _, want := range []string{
		"A=1 F=yes", "CapEff:\t" + set.Hex(), "CapBnd:\t" + set.Hex(), "\n1024\n", "\n/data\n", "\nh1\n", "\n0\n", "from the host",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("trial output lacks %q:\n%s", want, logs)
		}
	}
	if !res.Passed {
		t.Errorf("trial failed: %+v", res.Runs[0])
	}
}

// TestChecks judges real containers with each kind of check, passing and
// failing, and looks at the evidence.
func TestChecks(t *testing.T) {
	dockertest.Require(t)
	ctx := testContext(t)
	s := newSession(t)
	img := truthImage(t)
	image := func(cmd ...string) *verify.Target {
		tg, err := imageTarget(img, cmd)
		if err != nil {
			t.Fatal(err)
		}
		return tg
	}
	web := image("httpd", "-f", "-p", "8080", "-h", "/www")
	bind80, err := runTarget(t, []string{"--sysctl", "net.ipv4.ip_unprivileged_port_start=1024", img, "httpd", "-f", "-p", "80", "-h", "/www"})
	if err != nil {
		t.Fatal(err)
	}
	http := func(s string) *verify.HTTPProbe {
		p, err := verify.ParseHTTPProbe(s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name   string
		target *verify.Target
		set    capset.Set
		check  verify.Check
		pass   bool
		exit   int    // expected exit code, -1 for none (still running)
		reason string // in Run.Reason
		probe  string // in Run.Probe
	}{
		{"http pass", web, 0, verify.Check{HTTP: http("8080/index.html")}, true, -1, "check passed", "200 OK"},
		{"http 404", web, 0, verify.Check{HTTP: http(":8080/missing")}, false, -1, "did not pass within 3s", "404 Not Found"},
		{"http server cannot bind", bind80, 0, verify.Check{HTTP: http("/")}, false, 1, "exited with code 1", ""},
		{"http server binds with the capability", bind80, capset.Of(capset.NET_BIND_SERVICE), verify.Check{HTTP: http("80/")}, true, -1, "check passed", "200 OK"},
		{"tcp pass", web, 0, verify.Check{TCP: 8080}, true, -1, "check passed", "connected"},
		{"tcp refused", web, 0, verify.Check{TCP: 8081}, false, -1, "did not pass", "connection refused"},
		{"exec pass", web, 0, verify.Check{Exec: []string{"cat", "/www/index.html"}}, true, -1, "check passed", "exited 0: hello"},
		{"exec needs the capability too", web, 0, verify.Check{Exec: []string{"chroot", "/", "true"}}, false, -1, "did not pass", "exited 1"},
		{"exec with the capability", web, capset.Of(capset.SYS_CHROOT), verify.Check{Exec: []string{"chroot", "/", "true"}}, true, -1, "check passed", "exited 0"},
		{"running pass", image("sleep", "60"), 0, verify.Check{Running: time.Second}, true, -1, "still running after 1s", ""},
		{"running exits", image("sh", "-c", "exit 3"), 0, verify.Check{Running: 10 * time.Second}, false, 3, "exited with code 3 after", ""},
		{"exit code", image("sh", "-c", "exit 3"), 0, verify.Check{ExitCode: 3}, true, 3, "exited with code 3", ""},
		{"exit timeout", image("sleep", "60"), 0, verify.Check{}, false, -1, "still running after 3s (the timeout), want exit code 0", ""},
		{"does not start", image("/nonexistent"), 0, verify.Check{}, false, -1, "did not start", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Cases that must run into the timeout get 3s; the others a
			// generous bound, so a loaded machine cannot fail them.
			timeout := 60 * time.Second
			if strings.Contains(tc.reason, "within 3s") || strings.Contains(tc.reason, "after 3s") || tc.name == "tcp refused" || strings.HasPrefix(tc.name, "exec needs") {
				timeout = 3 * time.Second
			}
			r := &verify.Runner{Session: s, Target: tc.target, Check: tc.check, Timeout: timeout}
			run, err := r.Trial(ctx, tc.set, verify.PhaseVerify)
			if err != nil {
				t.Fatal(err)
			}
			if run.Passed != tc.pass || !strings.Contains(run.Reason, tc.reason) || !strings.Contains(run.Probe, tc.probe) {
				t.Errorf("passed %v reason %q probe %q; want %v, %q, %q\nlogs:\n%s", run.Passed, run.Reason, run.Probe, tc.pass, tc.reason, tc.probe, run.Logs)
			}
			switch {
			case tc.exit < 0 && run.ExitCode != nil:
				t.Errorf("exit code %d, want none (it was stopped)", *run.ExitCode)
			case tc.exit >= 0 && (run.ExitCode == nil || *run.ExitCode != tc.exit):
				t.Errorf("exit code %v, want %d", run.ExitCode, tc.exit)
			}
		})
	}
}

// TestTrialCancel: Ctrl-C during a trial stops it, and its container is
// removed all the same.
func TestTrialCancel(t *testing.T) {
	dockertest.Require(t)
	s := newSession(t)
	tg, err := imageTarget(truthImage(t), []string{"sleep", "60"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(1500*time.Millisecond, cancel)
	r := &verify.Runner{Session: s, Target: tg, Check: verify.Check{Running: 30 * time.Second}}
	_, err = r.Minimize(ctx, capset.Of(capset.CHOWN, capset.KILL), "test", verify.MinimizeOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if n, err := s.Cleanup(context.Background()); err != nil || n != 0 {
		t.Errorf("session cleanup found %d containers (%v): the trial should have removed its own", n, err)
	}
}

// TestEngineRefusal: a capability the engine does not know is an error (no
// verdict), not a failed run.
func TestEngineRefusal(t *testing.T) {
	dockertest.Require(t)
	ctx := testContext(t)
	s := newSession(t)
	v, err := s.Engine.ServerVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rel, err := merge.ParseVersion(v.Version); err == nil && dockerAll(rel).Has(capset.BPF) {
		t.Skipf("Docker %s knows CAP_BPF", v.Version)
	}
	tg, err := imageTarget(truthImage(t), []string{"true"})
	if err != nil {
		t.Fatal(err)
	}
	r := &verify.Runner{Session: s, Target: tg}
	_, err = r.Trial(ctx, capset.Of(capset.BPF), verify.PhaseVerify)
	var ae *engine.APIError
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "CAP_BPF") || len(r.Runs()) != 0 {
		t.Errorf("err %v, runs %d", err, len(r.Runs()))
	}
}

// TestPrivilegedArgs: a privileged configuration's trials are not privileged:
// they get exactly the candidate set and Docker's masked /proc paths back.
func TestPrivilegedArgs(t *testing.T) {
	dockertest.Require(t)
	ctx := testContext(t)
	s := newSession(t)
	args := []string{"--privileged", truthImage(t), "sh", "-c", "grep CapBnd /proc/self/status; grep -c ' /proc/keys ' /proc/self/mountinfo; ls /dev | wc -l"}
	tg, err := runTarget(t, args)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := s.Engine.ServerVersion(ctx)
	rel, _ := merge.ParseVersion(v.Version)
	if got := configured(t, s, runWorkload(t, args...)); got != dockerAll(rel) || !tg.Privileged {
		t.Errorf("configured set %v, privileged %v", got, tg.Privileged)
	}
	if !strings.Contains(strings.Join(tg.Notes, "\n"), "privileged replaced") {
		t.Errorf("notes %q", tg.Notes)
	}
	r := &verify.Runner{Session: s, Target: tg}
	run, err := r.Trial(ctx, capset.Of(capset.KILL), verify.PhaseVerify)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(run.Logs)
	if len(lines) != 4 || lines[1] != capset.Of(capset.KILL).Hex() || lines[2] != "1" {
		t.Errorf("trial of a privileged configuration:\n%s", run.Logs)
	}
}

// TestComposeTrial: a compose service's trial gets the service's command,
// environment, sysctls, relative bind mount and working directory, and the
// kernel gives it exactly the candidate set.
func TestComposeTrial(t *testing.T) {
	dockertest.Require(t)
	ctx := testContext(t)
	s := newSession(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data", "f"), []byte("bound\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	compose := `services:
  app:
    image: ${IMG}
    command: sh -c 'echo "M=$$MODE"; grep CapBnd /proc/self/status; cat /proc/sys/net/ipv4/ip_unprivileged_port_start; pwd; cat f; /truth chown'
    environment:
      MODE: ${MODE:-compose}
    sysctls:
      - net.ipv4.ip_unprivileged_port_start=1024
    working_dir: /data
    volumes:
      - ./data:/data:ro
    ports: ["8080:80"]
    cap_drop: [ALL]
    cap_add: [CHOWN]
`
	path := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(path, []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	ws, errs := source.Parse(path, []byte(compose), source.Options{Env: map[string]string{"IMG": truthImage(t)}})
	if len(errs) > 0 || len(ws) != 1 {
		t.Fatalf("%v %v", ws, errs)
	}
	tg, err := verify.NewTarget(ws[0], "compose", path)
	if err != nil {
		t.Fatal(err)
	}
	if got := configured(t, s, ws[0]); got != capset.Of(capset.CHOWN) {
		t.Errorf("configured set %v", got)
	}
	r := &verify.Runner{Session: s, Target: tg}
	for _, tc := range []struct {
		set  capset.Set
		pass bool
	}{{capset.Of(capset.CHOWN, capset.NET_RAW), true}, {capset.Of(capset.NET_RAW), false}} {
		res, err := r.Verify(ctx, tc.set, "test", 0)
		if err != nil {
			t.Fatal(err)
		}
		logs := res.Runs[0].Logs
		for _, want := range []string{"M=compose", "CapBnd:\t" + tc.set.Hex(), "\n1024\n", "\n/data\n", "\nbound\n"} {
			if !strings.Contains(logs, want) {
				t.Errorf("set %v: output lacks %q:\n%s", tc.set, want, logs)
			}
		}
		if res.Passed != tc.pass {
			t.Errorf("set %v: passed %v, want %v\n%s", tc.set, res.Passed, tc.pass, logs)
		}
	}
}
