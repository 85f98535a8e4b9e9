package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/engine"
)

// DefaultTimeout bounds one trial when Runner.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// startTimeout bounds creating and starting a trial's container, which
// does not count against the check's timeout.
const startTimeout = 2 * time.Minute

// DefaultLogLines is how many lines of a trial's output a Run keeps.
const DefaultLogLines = 20

// Run is one trial: a container created with one candidate set, started,
// judged and removed, with the evidence.
type Trial struct {
	N     int        `json:"n"`
	Phase Phase      `json:"phase"`
	Set   capset.Set `json:"-"`
	// Caps is Set as canonical names.
	Caps   []string `json:"set"`
	Passed bool     `json:"passed"`
	// Result is "pass" or "fail".
	Result string `json:"result"`
	// Reason says in one line why it passed or failed.
	Reason   string        `json:"reason"`
	Duration time.Duration `json:"-"`
	// DurationMS is the wall time from create to removal.
	DurationMS int64  `json:"duration_ms"`
	Container  string `json:"container"`
	// ExitCode is the container's exit code when it exited by itself, null
	// when it was still running at the end of the check (capdrop stopped it)
	// or never started.
	ExitCode *int `json:"exit_code"`
	// Probe is the last probe's evidence (HTTP status, exec exit code and
	// output, TCP connect result).
	Probe string `json:"probe,omitempty"`
	// Logs is the tail of the container's output.
	Logs string `json:"logs_tail"`
	// Escalations list the processes that ran more privileged (uid 0, gid
	// 0, group 0) than under the starting set: the run failed for them
	// even when the check passed (see creds.go).
	Escalations []string `json:"escalations,omitempty"`
	// Credentials says when the processes' credentials could not be read.
	Credentials string `json:"credentials,omitempty"`
	// Processes are the container's processes as they were judged.
	Processes []ProcCreds `json:"processes,omitempty"`
	// CredentialsFrom says how the processes were seen: the kernel's
	// process events, or samples (see creds.go).
	CredentialsFrom string `json:"credentials_from,omitempty"`
}

// Runner runs trials of one target with one check.
type Runner struct {
	Session *Session
	Target  *Target
	Check   Check
	// Timeout bounds each trial (DefaultTimeout when zero).
	Timeout time.Duration
	// LogLines is how many lines of output each Run keeps (DefaultLogLines
	// when zero).
	LogLines int
	// OnRun, when set, is called after each trial (for live progress).
	OnRun func(Trial)

	runs []Trial
	base int // runs before the current Verify or Minimize, which numbers its own from 1
	// creds is what the passing runs of the starting set showed of the
	// processes' credentials: candidates are compared with it.
	creds *CredRecord
}

// Runs returns the trials so far.
func (r *Runner) Runs() []Trial { return r.runs }

// Validate reports a check the target cannot support before anything runs.
func (r *Runner) Validate() error {
	if r.Check.needsAddress() {
		switch m := r.Target.networkMode(); {
		case m == "none":
			return errors.New("the container has no network (--network none): HTTP and TCP checks cannot reach it; use --check-exec")
		case strings.HasPrefix(m, "container:"):
			return errors.New("the container shares another container's network: give --check-http a whole URL, or use --check-exec")
		}
	}
	return nil
}

func (r *Runner) timeout() time.Duration {
	t := r.Timeout
	if t <= 0 {
		t = DefaultTimeout
	}
	if r.Check.Running > 0 && t < r.Check.Running+5*time.Second {
		t = r.Check.Running + 5*time.Second
	}
	return t
}

// Oracle returns r.Trial as an Oracle for Minimize and VerifySet.
func (r *Runner) Oracle() Oracle {
	return func(ctx context.Context, s capset.Set, phase Phase) (bool, error) {
		run, err := r.Trial(ctx, s, phase)
		return run.Passed, err
	}
}

// Trial runs the target once with exactly set and judges it. The container
// is removed before Trial returns, whatever happens, also when ctx is
// cancelled. An error means no verdict (the engine refused to create the
// container, or ctx ended); a container that fails to start or fails the
// check is a failed Run, not an error.
func (r *Runner) Trial(ctx context.Context, set capset.Set, phase Phase) (Trial, error) {
	run := Trial{N: len(r.runs) + 1 - r.base, Phase: phase, Set: set, Caps: set.Names(), Container: r.Session.nextName("run")}
	began := time.Now()
	err := r.trial(ctx, &run)
	if rmErr := r.Session.remove(ctx, run.Container); rmErr != nil && err == nil {
		err = fmt.Errorf("remove trial container %s: %w", run.Container, rmErr)
	}
	if err != nil {
		return run, err
	}
	run.Duration = time.Since(began)
	run.DurationMS = run.Duration.Milliseconds()
	run.Result = "fail"
	if run.Passed {
		run.Result = "pass"
	}
	r.runs = append(r.runs, run)
	if r.OnRun != nil {
		r.OnRun(run)
	}
	return run, nil
}

func (r *Runner) trial(ctx context.Context, run *Trial) error {
	eng := r.Session.Engine
	body := r.Target.Body(run.Set, r.Session.labels())
	// Created even when ctx ends meanwhile, so the container's removal
	// (by name, in Trial) never races a create the engine finishes later.
	cctx, ccancel := cleanupContext(ctx)
	cr, err := eng.ContainerCreate(cctx, run.Container, body)
	ccancel()
	if err != nil {
		return fmt.Errorf("create a container with %s: %w", setWords(run.Set), err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// The wait is registered before the start so no exit is missed; it
	// lives as long as the trial.
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	wait, err := eng.ContainerWait(wctx, cr.ID, "next-exit")
	if err != nil {
		return orCtx(ctx, err)
	}
	sctx, scancel := context.WithTimeout(ctx, startTimeout)
	err = eng.ContainerStart(sctx, cr.ID)
	scancel()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ae *engine.APIError
		if !errors.As(err, &ae) {
			return err
		}
		run.Reason = "did not start: " + ae.Message
		r.collect(ctx, cr.ID, run, false)
		return nil
	}

	// The processes' credentials are watched while it runs.
	var watch *credWatch
	if ct, err := eng.ContainerInspect(ctx, cr.ID); err == nil && ct.State.Pid > 0 {
		watch = watchCreds(ct.State.Pid)
	}
	// The check's time starts once the container runs.
	tctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	exited, code, err := r.judge(ctx, tctx, cr.ID, wait, run)
	if watch != nil {
		rec, werr := watch.Stop()
		if err == nil {
			r.judgeCreds(run, rec, werr)
		}
	} else if err == nil {
		run.Credentials = "not read: the container had exited before its processes could be found"
	}
	if err != nil {
		return err
	}
	if exited {
		run.ExitCode = &code
	}
	r.collect(ctx, cr.ID, run, !exited)
	return nil
}

// judge waits for the check's verdict. It returns whether the container
// exited by itself and with which code.
func (r *Runner) judge(ctx, tctx context.Context, id string, wait <-chan engine.WaitResult, run *Trial) (exited bool, code int, err error) {
	began := time.Now()
	limit := r.timeout()
	// waitExit interprets what the wait channel delivered.
	waitExit := func(w engine.WaitResult) (bool, int, error) {
		if w.Err != nil || w.StatusCode < 0 {
			if ctx.Err() != nil {
				return false, 0, ctx.Err()
			}
			if tctx.Err() != nil {
				return false, 0, nil // our timeout, not an exit
			}
			return false, 0, w.Err
		}
		return true, w.StatusCode, nil
	}
	chk := r.Check
	if !chk.probes() && chk.Running == 0 {
		select {
		case w := <-wait:
			exited, code, err = waitExit(w)
		case <-tctx.Done():
		}
		if err != nil {
			return false, 0, err
		}
		if !exited {
			if ctx.Err() != nil {
				return false, 0, ctx.Err()
			}
			run.Reason = fmt.Sprintf("still running after %s (the timeout), want exit code %d", limit, chk.ExitCode)
			return false, 0, nil
		}
		run.Passed = code == chk.ExitCode
		if run.Passed {
			run.Reason = fmt.Sprintf("exited with code %d", code)
		} else {
			run.Reason = fmt.Sprintf("exited with code %d, want %d", code, chk.ExitCode)
		}
		return true, code, nil
	}

	if chk.Running > 0 {
		timer := time.NewTimer(chk.Running)
		defer timer.Stop()
		select {
		case w := <-wait:
			if exited, code, err = waitExit(w); err != nil {
				return false, 0, err
			}
			if exited {
				run.Reason = fmt.Sprintf("exited with code %d after %s, want still running after %s", code, round(time.Since(began)), chk.Running)
				return true, code, nil
			}
		case <-timer.C:
		case <-ctx.Done():
			return false, 0, ctx.Err()
		}
		if !chk.probes() {
			run.Passed = true
			run.Reason = "still running after " + chk.Running.String()
			return false, 0, nil
		}
	}

	ip := ""
	if chk.needsAddress() {
		if ip, err = r.address(tctx, id); err != nil {
			return false, 0, orCtx(ctx, err)
		}
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, ev := chk.probeOnce(tctx, r.Session.Engine, id, ip)
		if ctx.Err() != nil {
			return false, 0, ctx.Err()
		}
		// A probe cut short by the timeout says less than the one before.
		if tctx.Err() == nil || run.Probe == "" {
			run.Probe = ev
		}
		if ok {
			run.Passed = true
			run.Reason = fmt.Sprintf("check passed after %s", round(time.Since(began)))
			return false, 0, nil
		}
		select {
		case w := <-wait:
			if exited, code, err = waitExit(w); err != nil {
				return false, 0, err
			}
			if exited {
				run.Reason = fmt.Sprintf("exited with code %d after %s before the check passed", code, round(time.Since(began)))
				return true, code, nil
			}
			run.Reason = fmt.Sprintf("the check did not pass within %s (the timeout)", limit)
			return false, 0, nil
		case <-tctx.Done():
			if ctx.Err() != nil {
				return false, 0, ctx.Err()
			}
			run.Reason = fmt.Sprintf("the check did not pass within %s (the timeout)", limit)
			return false, 0, nil
		case <-tick.C:
		}
	}
}

// address returns the container's IP address as the host reaches it.
func (r *Runner) address(ctx context.Context, id string) (string, error) {
	if r.Target.networkMode() == "host" {
		return "127.0.0.1", nil
	}
	ct, err := r.Session.Engine.ContainerInspect(ctx, id)
	if err != nil {
		return "", err
	}
	if !ct.State.Running {
		return "", nil // it exited already; the wait reports how
	}
	var ns struct {
		NetworkSettings struct {
			IPAddress string `json:"IPAddress"`
			Networks  map[string]struct {
				IPAddress string `json:"IPAddress"`
			} `json:"Networks"`
		} `json:"NetworkSettings"`
	}
	if err := json.Unmarshal(ct.Raw, &ns); err != nil {
		return "", fmt.Errorf("read the trial container's address: %w", err)
	}
	if ip := ns.NetworkSettings.IPAddress; ip != "" {
		return ip, nil
	}
	for _, n := range ns.NetworkSettings.Networks {
		if n.IPAddress != "" {
			return n.IPAddress, nil
		}
	}
	return "", errors.New("the trial container has no IP address; HTTP and TCP checks cannot reach it")
}

// collect stops the container if it still runs and reads the tail of its
// output into run.
func (r *Runner) collect(ctx context.Context, id string, run *Trial, stop bool) {
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	eng := r.Session.Engine
	if stop {
		_ = eng.ContainerKill(cctx, id, "KILL")
	}
	n := r.LogLines
	if n <= 0 {
		n = DefaultLogLines
	}
	logs, err := eng.ContainerLogs(cctx, id, strconv.Itoa(n))
	if err != nil {
		run.Logs = "(no logs: " + err.Error() + ")"
		return
	}
	run.Logs = lastLines(logs, n, 4096)
}

func orCtx(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func round(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }

// setWords names a set for messages.
func setWords(s capset.Set) string {
	if s.IsEmpty() {
		return "no capabilities"
	}
	return s.String()
}
