//go:build linux

package profile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/engine"
	"github.com/capdrop/capdrop/procfs"
	"github.com/capdrop/capdrop/source/runargs"
	"github.com/capdrop/capdrop/trace"
	"github.com/capdrop/capdrop/workload"
)

// session is one tracer and the target it is narrowed to.
type session struct {
	tr      *trace.Tracer
	opts    Options
	started time.Time
	target  uint32
	targetC chan liveTarget
}

// liveTarget is what the live view counts: a mount namespace and, when
// known, the cgroup the workload exec'd in (mount-namespace numbers are
// reused; see Target.Cgroup).
type liveTarget struct {
	mntns  uint32
	cgroup uint64
}

func (t liveTarget) has(k trace.Key) bool { return covers(t.mntns, t.cgroup, k) }

func open(opts Options, to trace.Options) (*session, error) {
	to.Mechanisms = opts.Mechanisms
	to.MaxKeys = opts.MaxKeys
	tr, err := trace.Open(to)
	if err != nil {
		return nil, err
	}
	s := &session{tr: tr, opts: opts, started: time.Now(), target: to.TargetMntNS,
		targetC: make(chan liveTarget, 1)}
	go s.watch(to.TargetMntNS)
	return s, nil
}

// watch follows the event stream: roots (for findRoot) and first-seen keys
// (for the live view).
func (s *session) watch(initial uint32) {
	var (
		target  = liveTarget{mntns: initial}
		pending []trace.Key
		seen    capset.Set
		kinds   int
	)
	report := func(k trace.Key) {
		kinds++
		if !k.Denied && k.Flags&(trace.OtherCred|trace.NoAudit|trace.VMProbe|trace.SameID|trace.NoSetgidBit|trace.CapsetInheritable) == 0 && !seen.Has(k.Cap) {
			seen = seen.With(k.Cap)
		}
		if s.opts.Live != nil {
			s.opts.Live(seen, kinds)
		}
	}
	for {
		select {
		case t := <-s.targetC:
			target = t
			for _, k := range pending {
				if target.has(k) {
					report(k)
				}
			}
			pending = nil
		case ev, ok := <-s.tr.Events():
			if !ok {
				return
			}
			if ev.Key == nil {
				continue
			}
			switch {
			case target.mntns == 0:
				pending = append(pending, *ev.Key)
			case target.has(*ev.Key):
				report(*ev.Key)
			}
		}
	}
}

// findRoot waits until a root matching match appears (from the roots map,
// which loses nothing the ring buffer might), or gone says the workload
// ended without one.
func (s *session) findRoot(ctx context.Context, match func(trace.Root) bool, gone func() bool) (trace.Root, error) {
	for {
		// Ask whether the workload ended before reading the roots: a root
		// is recorded at its exec, before any exit, so a workload that
		// ended by now has its root in this read. (The other order lost
		// workloads that exec'd and exited between the two steps.)
		ended := gone()
		roots, err := s.tr.Roots()
		if err != nil {
			return trace.Root{}, err
		}
		for _, r := range roots {
			if match(r) {
				return r, nil
			}
		}
		if ended {
			return trace.Root{}, errors.New("the workload ended before its first exec was seen")
		}
		select {
		case <-ctx.Done():
			return trace.Root{}, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (s *session) setTarget(mntns uint32, cgroup uint64) error {
	s.target = mntns
	s.targetC <- liveTarget{mntns, cgroup}
	return s.tr.SetTarget(mntns)
}

// finish reads the tracer's maps, closes it and builds the profile.
func (s *session) finish(t Target) (*Profile, error) {
	defer s.tr.Close()
	recs, err := s.tr.Records()
	if err != nil {
		return nil, err
	}
	c, err := s.tr.Counters()
	if err != nil {
		return nil, err
	}
	gains, err := s.tr.Gains()
	if err != nil {
		return nil, err
	}
	t.MntNS = s.target
	return Build(t, recs, Info{
		Mechanism:        s.tr.Mechanism(),
		VMProbeDetection: s.tr.VMProbeDetection(),
		Kernel:           kernelRelease(),
		Gains:            gains,
		Counters:         c,
		Started:          s.started,
		Duration:         time.Since(s.started),
	}), nil
}

func kernelRelease() string {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return "unknown"
	}
	var b []byte
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}

func durationC(d time.Duration) <-chan time.Time {
	if d <= 0 {
		return nil
	}
	return time.After(d)
}

// effective is this process's effective capability set, as the kernel
// reports it.
func effective() (capset.Set, error) {
	st, err := procfs.ReadStatus("", os.Getpid())
	if err != nil {
		return 0, err
	}
	return st.Sets.Effective, nil
}

// Command runs argv on the host in its own mount namespace (a private copy
// of the caller's: mounts it makes stay inside) and profiles it and its
// descendants from its exec to its exit. When the context ends or Duration
// passes, the command gets SIGTERM, then SIGKILL after five seconds.
func Command(ctx context.Context, argv []string, opts Options) (*Profile, error) {
	if len(argv) == 0 {
		return nil, errors.New("no command to profile")
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return nil, err
	}
	// Asked before anything starts: without it the command could not
	// start (fork/exec: operation not permitted).
	if eff, err := effective(); err == nil && !eff.Has(capset.SYS_ADMIN) {
		return nil, &PrivilegeError{Missing: capset.Of(capset.SYS_ADMIN),
			Why: "profile -- CMD runs the command in a private mount namespace, by which the tracer tells its processes from everyone else's, and creating one needs CAP_SYS_ADMIN (which also covers the tracer); run as root, or grant CAP_SYS_ADMIN. --docker needs only CAP_BPF and CAP_PERFMON"}
	}
	s, err := open(opts, trace.Options{FollowNewMntNS: true})
	if err != nil {
		return nil, err
	}
	defer s.tr.Close()
	cmd := exec.Command(path, argv[1:]...)
	cmd.Args = argv
	cmd.Stdin, cmd.Stdout, cmd.Stderr = opts.Stdin, opts.Stdout, opts.Stderr
	// The workload dies with the profiler: SIGKILL reaches it when
	// capdrop is killed, even by SIGKILL, which no cleanup code sees.
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	exited := make(chan error, 1)
	go func() {
		// The parent-death signal fires when the thread that forked the
		// command exits, not the process: keep this thread until the
		// command is gone.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		exited <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	pid := cmd.Process.Pid
	var waitErr error
	done := false
	gone := func() bool {
		if done {
			return true
		}
		select {
		case waitErr = <-exited:
			done = true
		default:
		}
		return done
	}
	root, err := s.findRoot(ctx, func(r trace.Root) bool { return int(r.PID) == pid }, gone)
	if err != nil {
		cmd.Process.Kill()
		if !done {
			<-exited
		}
		return nil, fmt.Errorf("profile %s: %w", argv[0], err)
	}
	if err := s.setTarget(root.MntNS, root.Cgroup); err != nil {
		return nil, err
	}
	if !done {
		select {
		case waitErr = <-exited:
		case <-ctx.Done():
			waitErr = stop(cmd, exited)
		case <-durationC(opts.Duration):
			waitErr = stop(cmd, exited)
		}
	}
	t := Target{Kind: "command", Command: argv, PID: pid, Cgroup: root.Cgroup}
	code := cmd.ProcessState.ExitCode()
	var ee *exec.ExitError
	if waitErr == nil || errors.As(waitErr, &ee) {
		t.ExitCode = &code
	}
	return s.finish(t)
}

func stop(cmd *exec.Cmd, exited <-chan error) error {
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		return err
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		return <-exited
	}
}

// Container profiles a running container until Duration passes, the
// context ends or the container stops. Every process in its mount
// namespace is followed from now on, and so is anything exec'd into it
// later (docker exec) from its exec.
func Container(ctx context.Context, eng engine.API, ref string, opts Options) (*Profile, error) {
	c, err := eng.ContainerInspect(ctx, ref)
	if err != nil {
		return nil, err
	}
	if !c.State.Running || c.State.Pid <= 0 {
		return nil, fmt.Errorf("container %s is not running (%s)", c.ShortName(), c.State.Status)
	}
	// Everything this mode needs is asked for up front: the tracer's
	// capabilities, and CAP_SYS_PTRACE to read the mount namespace of a
	// process holding capabilities capdrop does not.
	if self, err := procfs.ReadStatus("", os.Getpid()); err == nil {
		missing := trace.NeededPrivileges(self.Sets.Effective)
		if target, err := procfs.ReadStatus("", c.State.Pid); err == nil && !self.Sets.Effective.Has(capset.SYS_PTRACE) &&
			target.Sets.Permitted&^self.Sets.Permitted != 0 {
			missing = missing.With(capset.SYS_PTRACE)
		}
		if missing != 0 {
			return nil, &PrivilegeError{Missing: missing,
				Why: fmt.Sprintf("--container traces with CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN), and reads the mount namespace of the container's process %d, which holds capabilities capdrop does not, with CAP_SYS_PTRACE; run as root, or grant them", c.State.Pid)}
		}
	}
	mntns, err := trace.MntNS(c.State.Pid)
	if errors.Is(err, os.ErrPermission) {
		return nil, &PrivilegeError{Missing: capset.Of(capset.SYS_PTRACE),
			Why: fmt.Sprintf("reading the mount namespace of the container's process %d, which holds capabilities capdrop does not, needs CAP_SYS_PTRACE; run as root, or grant CAP_SYS_PTRACE besides CAP_BPF and CAP_PERFMON", c.State.Pid)}
	}
	if err != nil {
		return nil, err
	}
	wait, err := eng.ContainerWait(ctx, c.ID, "not-running")
	if err != nil {
		return nil, err
	}
	s, err := open(opts, trace.Options{TargetMntNS: mntns})
	if err != nil {
		return nil, err
	}
	defer s.tr.Close()
	s.targetC <- liveTarget{mntns: mntns}
	// Twice: a process forked by one not yet tracked during the first scan
	// is caught by the second (after it, fork tracking covers everything).
	for i := 0; i < 2; i++ {
		if err := trackNamespace(s.tr, mntns); err != nil {
			return nil, err
		}
	}
	t := Target{Kind: "container", ContainerID: c.ID, ContainerName: c.ShortName(), Image: c.Config.Image, PID: c.State.Pid}
	select {
	case r := <-wait:
		code := r.StatusCode
		t.ExitCode = &code
	case <-ctx.Done():
	case <-durationC(opts.Duration):
	}
	return s.finish(t)
}

// trackNamespace follows every process whose mount namespace is mntns,
// but a runtime's init (runc:[…]) in the middle of joining it.
func trackNamespace(tr *trace.Tracer, mntns uint32) error {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ns, err := trace.MntNS(pid)
		if err != nil || ns != mntns {
			continue
		}
		// A runtime's init joining the container (docker exec) is caught
		// at its exec of the command instead; its own checks, made with
		// the runtime's capabilities, are not the container's.
		if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.HasPrefix(string(comm), "runc:[") {
			continue
		}
		if err := tr.Track(pid, mntns); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// DockerLabel marks the containers Docker mode creates.
const DockerLabel = "io.capdrop.profile"

// Docker creates the container w configures (engine.FromWorkload: the
// same request verify builds), starts it through the engine API and
// profiles it from its first exec — the runtime's init (runc:[2:INIT]) is
// not counted — until it exits, Duration passes or the context ends (then
// it is killed). The container is always removed. Its logs go to
// opts.Stderr.
func Docker(ctx context.Context, eng engine.API, w workload.Workload, opts Options) (*Profile, error) {
	req, err := engine.FromWorkload(w)
	if err != nil {
		return nil, err
	}
	if req.Labels == nil {
		req.Labels = map[string]string{}
	}
	req.Labels[DockerLabel] = "1"
	req.HostConfig.AutoRemove = false
	s, err := open(opts, trace.Options{FollowNewMntNS: true})
	if err != nil {
		return nil, err
	}
	defer s.tr.Close()

	// Created even when ctx ends meanwhile: a create the engine finishes
	// after capdrop stopped waiting would leave a container nobody knows.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	created, err := eng.ContainerCreate(cctx, "", req)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("create the container: %w", err)
	}
	id := created.ID
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		eng.ContainerRemove(rctx, id, true)
	}()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := eng.ContainerInspect(ctx, id)
	if err != nil {
		return nil, err
	}
	wait, err := eng.ContainerWait(ctx, id, "next-exit")
	if err != nil {
		return nil, err
	}
	if err := eng.ContainerStart(ctx, id); err != nil {
		return nil, err
	}
	var result *engine.WaitResult
	gone := func() bool {
		if result != nil {
			return true
		}
		select {
		case r := <-wait:
			result = &r
		default:
		}
		return result != nil
	}
	root, err := s.findRoot(ctx, func(r trace.Root) bool { return strings.Contains(r.CgroupName, id) }, gone)
	if err != nil {
		// No root seen carrying the container's cgroup: fall back to its
		// process, while it lives.
		ci, ierr := eng.ContainerInspect(ctx, id)
		if ierr != nil || ci.State.Pid <= 0 {
			return nil, fmt.Errorf("container %s: %w", short(id), err)
		}
		ns, nerr := trace.MntNS(ci.State.Pid)
		if nerr != nil {
			return nil, fmt.Errorf("container %s: %w", short(id), err)
		}
		root.MntNS, root.PID = ns, uint32(ci.State.Pid)
	}
	if err := s.setTarget(root.MntNS, root.Cgroup); err != nil {
		return nil, err
	}
	if result == nil {
		select {
		case r := <-wait:
			result = &r
		case <-ctx.Done():
		case <-durationC(opts.Duration):
		}
	}
	t := Target{Kind: "docker", Command: dockerCommand(w), ContainerID: id, ContainerName: c.ShortName(), Image: c.Config.Image, PID: int(root.PID), Cgroup: root.Cgroup}
	if result != nil && result.Err == nil {
		code := result.StatusCode
		t.ExitCode = &code
	}
	p, err := s.finish(t)
	if opts.Stderr != nil {
		lctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if logs, lerr := eng.ContainerLogs(lctx, id, "all"); lerr == nil {
			io.WriteString(opts.Stderr, logs)
		}
		cancel()
	}
	return p, err
}

// dockerCommand is the docker run arguments a workload was read from
// (its run line without "docker run"), for the profile document.
func dockerCommand(w workload.Workload) []string {
	words, err := runargs.Split(w.Attrs["command"])
	if err == nil && len(words) >= 2 && words[1] == "run" {
		return words[2:]
	}
	if w.Run.Command == nil {
		return []string{w.Image}
	}
	return append([]string{w.Image}, *w.Run.Command...)
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
