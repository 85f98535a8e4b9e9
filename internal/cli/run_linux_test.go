package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/procfs"
	"github.com/capdrop/capdrop/report"
)

func requireRootRun(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: capdrop run switches users and drops the bounding set")
	}
}

func TestRunDryRunJSON(t *testing.T) {
	requireRootRun(t)
	self, err := procfs.ReadStatus("", os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runMain(t, "run", "--dry-run", "-o", "json", "--user", "nobody", "--no-new-privs",
		"--cap-drop", "ALL", "--cap-add", "cap_net_bind_service", "--cap-add", "Chown", "--", "sh", "-c", "exit 3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got report.LaunchPlan
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	two := capset.Of(capset.CHOWN, capset.NET_BIND_SERVICE).Names()
	want := capset.SetNames{Effective: two, Permitted: two, Inheritable: two, Bounding: two, Ambient: two}
	if !reflect.DeepEqual(got.Sets, want) || !got.NoNewPrivs || got.User.UID != 65534 || !got.User.Switched ||
		!reflect.DeepEqual(got.Command, []string{"sh", "-c", "exit 3"}) {
		t.Errorf("plan: %+v", got)
	}
	// Without --user, root keeps its identity; dropping some keeps the rest.
	stdout, _, _ = runMain(t, "run", "--dry-run", "-o", "json", "--cap-drop", "sys_admin", "--", "true")
	got = report.LaunchPlan{}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	rest := self.Sets.Bounding.Without(capset.SYS_ADMIN).Hex()
	if got.User.Switched || got.Hex.Bounding != rest || got.Hex.Effective != rest || got.Hex.Ambient != capset.Empty.Hex() {
		t.Errorf("drop some: %+v", got)
	}
}

// TestRunPrintMatchesKernel runs a command through Main with --print and
// checks that what it printed is what the kernel then reports.
func TestRunPrintMatchesKernel(t *testing.T) {
	requireRootRun(t)
	env := e2e(t)
	stdout, stderr, code := runMain(t, "run", "--print", "-o", "json", "--user", "nobody", "--cap-drop", "all",
		"--cap-add", "net_bind_service", "--", env.probe, "status")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var plan report.LaunchPlan
	if err := json.Unmarshal([]byte(stderr), &plan); err != nil {
		t.Fatalf("--print: %v\n%s", err, stderr)
	}
	st, err := procfs.ParseStatus(strings.NewReader(stdout))
	if err != nil {
		t.Fatal(err)
	}
	if st.Sets.Hex() != plan.Hex || st.NoNewPrivs != plan.NoNewPrivs || st.UID[0] != plan.User.UID {
		t.Errorf("--print said %+v, the kernel reports %+v", plan.Hex, st.Sets.Hex())
	}
}

// e2eEnv are the binaries the end-to-end tests run: the real capdrop and
// the probe, in a directory every user can read.
type e2eEnv struct{ dir, capdrop, probe string }

func e2e(t *testing.T) e2eEnv {
	t.Helper()
	dir, err := os.MkdirTemp("", "capdrop-run-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	env := e2eEnv{dir: dir, capdrop: filepath.Join(dir, "capdrop"), probe: filepath.Join(dir, "probe")}
	for out, pkg := range map[string]string{env.capdrop: "../../cmd/capdrop", env.probe: "../../launch/internal/probe"} {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
	}
	return env
}

// result is how a process ended and what it wrote.
type result struct {
	stdout, stderr string
	code           int
}

func run(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%v: %v", cmd.Args, err)
	}
	return result{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
}

func asNobody(cmd *exec.Cmd) *exec.Cmd {
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
	return cmd
}

func status(t *testing.T, out string) *procfs.Status {
	t.Helper()
	st, err := procfs.ParseStatus(strings.NewReader(out))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return st
}

func TestRunEndToEnd(t *testing.T) {
	requireRootRun(t)
	env := e2e(t)
	self, err := procfs.ReadStatus("", os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	capdrop := func(args ...string) *exec.Cmd { return exec.Command(env.capdrop, append([]string{"run"}, args...)...) }

	t.Run("exit statuses", func(t *testing.T) {
		noexec := filepath.Join(env.dir, "noexec")
		os.WriteFile(noexec, []byte("#!/bin/sh\n"), 0o644)
		for _, c := range []struct {
			args []string
			code int
			msg  string
		}{
			{[]string{"--cap-drop", "all", "--", env.probe, "exit", "0"}, 0, ""},
			{[]string{"--user", "nobody", "--", env.probe, "exit", "7"}, 7, ""},
			{[]string{"--", env.probe, "kill", "9"}, 128 + 9, ""},
			{[]string{"--", env.probe, "kill", "15"}, 128 + 15, ""},
			{[]string{"--", "capdrop-no-such-command"}, 127, "capdrop-no-such-command: command not found"},
			{[]string{"--user", "nobody", "--", noexec}, 126, noexec + ": permission denied"},
			{[]string{"--user", "no-such-user-capdrop", "--", "true"}, 125, `capdrop: unknown user or group: no user "no-such-user-capdrop" in /etc/passwd`},
			{[]string{"--user", "4321", "--", "true"}, 125, "give it as --user 4321:GID"},
		} {
			r := run(t, capdrop(c.args...))
			if r.code != c.code || !strings.Contains(r.stderr, c.msg) {
				t.Errorf("%q: exit %d stderr %q, want %d %q", c.args, r.code, r.stderr, c.code, c.msg)
			}
		}
	})

	t.Run("a capability the caller lacks is refused", func(t *testing.T) {
		missing := capset.Supported().Minus(self.Sets.Bounding)
		if missing.IsEmpty() {
			t.Skip("root holds every capability of this kernel (this machine lacks CAP_SYS_RESOURCE; real hosts often do not)")
		}
		c := missing.Caps()[0]
		r := run(t, capdrop("--cap-drop", "all", "--cap-add", c.Short(), "--", env.probe, "status"))
		if r.code != ExitRunFailed || !strings.Contains(r.stderr, "cannot add "+c.Name()+": the caller does not hold it") || r.stdout != "" {
			t.Errorf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("net_bind_service for nobody in a network namespace of its own", func(t *testing.T) {
		if _, err := exec.LookPath("unshare"); err != nil {
			t.Skip("unshare (util-linux) is not installed")
		}
		const sysctl = "/proc/sys/net/ipv4/ip_unprivileged_port_start"
		hostBefore, _ := os.ReadFile(sysctl)
		hostNS, _ := os.Readlink("/proc/self/ns/net")
		inNetns := func(args ...string) result {
			script := `echo 1024 > ` + sysctl + ` && exec "$@"`
			return run(t, exec.Command("unshare", append([]string{"--net", "--", "sh", "-c", script, "sh", env.capdrop, "run"}, args...)...))
		}
		with := inNetns("--user", "nobody", "--cap-drop", "all", "--cap-add", "net_bind_service", "--", env.probe, "bind", "80")
		without := inNetns("--user", "nobody", "--cap-drop", "all", "--", env.probe, "bind", "80")
		for _, r := range []result{with, without} {
			if !strings.HasPrefix(r.stdout, "ip_unprivileged_port_start=1024 netns=net:[") || strings.Contains(r.stdout, hostNS) {
				t.Fatalf("not in a fresh namespace with the sysctl at 1024: %q %q", r.stdout, r.stderr)
			}
		}
		if with.code != 0 || !strings.Contains(with.stdout, "bound [::]:80") {
			t.Errorf("with net_bind_service: exit %d %q %q", with.code, with.stdout, with.stderr)
		}
		if without.code != 13 || !strings.Contains(without.stdout, "permission denied") {
			t.Errorf("without it: exit %d %q %q", without.code, without.stdout, without.stderr)
		}
		if hostAfter, _ := os.ReadFile(sysctl); !bytes.Equal(hostBefore, hostAfter) {
			t.Errorf("the host's %s changed from %q to %q", sysctl, hostBefore, hostAfter)
		}
	})

	t.Run("signals are forwarded once", func(t *testing.T) {
		for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR2} {
			cmd := capdrop("--user", "nobody", "--cap-drop", "all", "--", env.probe, "count")
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // no controlling terminal
			out := startReady(t, cmd)
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			rest, _ := io.ReadAll(out.r)
			cmd.Wait()
			if want := fmt.Sprintf("got %v 1\n", sig); string(rest) != want || cmd.ProcessState.ExitCode() != 100+int(sig) {
				t.Errorf("%v: the command said %q, want %q; capdrop exit %d", sig, rest, want, cmd.ProcessState.ExitCode())
			}
		}
	})

	t.Run("a terminal's interrupt reaches the command once", func(t *testing.T) {
		// capdrop is the foreground of a terminal, as in an interactive
		// shell. ^C makes the terminal signal the whole process group,
		// the command included; capdrop must not add a second SIGINT.
		// Signals do not queue, so a duplicate cannot be counted
		// reliably; instead, step 2 shows capdrop does not forward a
		// SIGINT while it is in the foreground (the documented price: a
		// kill -INT aimed at capdrop alone does not reach the command).
		start := func() (*exec.Cmd, *os.File, *lockedBuffer, chan struct{}) {
			master, slave := openPTY(t)
			cmd := capdrop("--cap-drop", "all", "--", env.probe, "wait")
			cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			slave.Close()
			out := &lockedBuffer{}
			done := make(chan struct{})
			go func() { io.Copy(out, master); close(done) }()
			waitFor(t, func() bool { return strings.Contains(out.String(), "ready") }, "the command to start")
			return cmd, master, out, done
		}
		// 1. ^C reaches the command.
		cmd, master, out, done := start()
		master.Write([]byte{3}) // ^C
		cmd.Wait()
		<-done
		if !strings.Contains(out.String(), "got interrupt") || cmd.ProcessState.ExitCode() != 100+int(syscall.SIGINT) {
			t.Errorf("^C: terminal shows %q; capdrop exit %d", out.String(), cmd.ProcessState.ExitCode())
		}
		// 2. A SIGINT to capdrop alone is not relayed; SIGTERM is.
		cmd, _, out, done = start()
		cmd.Process.Signal(syscall.SIGINT)
		time.Sleep(500 * time.Millisecond) // a relayed SIGINT would arrive first
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		<-done
		if !strings.Contains(out.String(), "got terminated") || cmd.ProcessState.ExitCode() != 100+int(syscall.SIGTERM) {
			t.Errorf("SIGINT then SIGTERM to a foreground capdrop: terminal shows %q; capdrop exit %d", out.String(), cmd.ProcessState.ExitCode())
		}
	})

	t.Run("a killed capdrop takes the command with it", func(t *testing.T) {
		cmd := capdrop("--user", "nobody", "--cap-drop", "all", "--", env.probe, "wait")
		out := startReady(t, cmd)
		child, err := procfs.ReadStatus("", out.pid)
		if err != nil || child.PPid != cmd.Process.Pid {
			t.Fatalf("command %d: %v, parent %d, want capdrop %d", out.pid, err, child.PPid, cmd.Process.Pid)
		}
		cmd.Process.Kill()
		cmd.Wait()
		waitFor(t, func() bool { return gone(out.pid) }, fmt.Sprintf("command %d to die with capdrop", out.pid))
	})

	t.Run("a caller without capabilities", func(t *testing.T) {
		for _, c := range []struct {
			args []string
			msg  string
		}{
			{[]string{"--cap-drop", "all", "--", env.probe, "status"}, "needs CAP_SETPCAP, which the caller lacks"},
			{[]string{"--cap-add", "net_raw", "--", env.probe, "status"}, "cannot add CAP_NET_RAW: the caller does not hold it"},
			{[]string{"--user", "root", "--", env.probe, "status"}, "cannot switch to user root: that needs CAP_SETGID, CAP_SETUID"},
		} {
			if r := run(t, asNobody(capdrop(c.args...))); r.code != ExitRunFailed || !strings.Contains(r.stderr, c.msg) || r.stdout != "" {
				t.Errorf("%q as nobody: exit %d stdout %q stderr %q", c.args, r.code, r.stdout, r.stderr)
			}
		}
		r := run(t, asNobody(capdrop("--no-new-privs", "--", env.probe, "status")))
		st := status(t, r.stdout)
		if r.code != 0 || !st.NoNewPrivs || st.UID[0] != 65534 || st.Sets.Bounding != self.Sets.Bounding || st.Sets.Effective != 0 {
			t.Errorf("--no-new-privs as nobody: exit %d %s %+v", r.code, r.stderr, st)
		}
	})

	t.Run("a non-root caller's ambient capabilities carry over unless dropped", func(t *testing.T) {
		// The outer capdrop makes nobody hold NET_BIND_SERVICE as ambient,
		// as systemd's AmbientCapabilities= would; the inner one is that
		// non-root caller.
		outer := []string{"--user", "nobody", "--cap-add", "net_bind_service", "--", env.capdrop, "run"}
		r := run(t, capdrop(append(outer, "--no-new-privs", "--", env.probe, "status")...))
		nbs := capset.Of(capset.NET_BIND_SERVICE)
		if st := status(t, r.stdout); r.code != 0 || st.Sets != (capset.Sets{Inheritable: nbs, Permitted: nbs, Effective: nbs, Bounding: self.Sets.Bounding, Ambient: nbs}) || !st.NoNewPrivs {
			t.Errorf("kept: exit %d %s %+v", r.code, r.stderr, st.Sets.Hex())
		}
		r = run(t, capdrop(append(outer, "--cap-drop", "net_bind_service", "--", env.probe, "status")...))
		if r.code != ExitRunFailed || !strings.Contains(r.stderr, "cannot drop CAP_NET_BIND_SERVICE from the bounding set: that needs CAP_SETPCAP") {
			t.Errorf("drop without CAP_SETPCAP: exit %d %q", r.code, r.stderr)
		}
	})

	t.Run("a set-user-ID capdrop refuses to run anything", func(t *testing.T) {
		suid := filepath.Join(env.dir, "capdrop-suid")
		b, _ := os.ReadFile(env.capdrop)
		os.WriteFile(suid, b, 0o755)
		if err := os.Chmod(suid, 0o755|os.ModeSetuid); err != nil {
			t.Fatal(err)
		}
		r := run(t, asNobody(exec.Command(suid, "run", "--", env.probe, "status")))
		if r.code != ExitRunFailed || !strings.Contains(r.stderr, "refuses to launch anything with privileges it gained itself") || r.stdout != "" {
			t.Errorf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("the setpriv and capsh equivalents in docs/run.md", func(t *testing.T) {
		for _, tool := range []string{"setpriv", "capsh"} {
			if _, err := exec.LookPath(tool); err != nil {
				t.Skipf("%s is not installed (util-linux, libcap2-bin)", tool)
			}
		}
		sets := func(cmd *exec.Cmd) capset.Sets {
			r := run(t, cmd)
			if r.code != 0 {
				t.Fatalf("%q: exit %d %s", cmd.Args, r.code, r.stderr)
			}
			return status(t, r.stdout).Sets
		}
		nbs := capset.Of(capset.NET_BIND_SERVICE)
		// Root keeping one capability.
		ours := sets(capdrop("--cap-drop", "all", "--cap-add", "net_bind_service", "--", env.probe, "status"))
		theirs := sets(exec.Command("setpriv", "--bounding-set=-all,+net_bind_service", "--inh-caps=-all", "--", env.probe, "status"))
		if ours != theirs || ours != (capset.Sets{Permitted: nbs, Effective: nbs, Bounding: nbs}) {
			t.Errorf("root: capdrop %+v, setpriv %+v", ours.Hex(), theirs.Hex())
		}
		// nobody with one capability.
		ours = sets(capdrop("--user", "nobody", "--cap-drop", "all", "--cap-add", "net_bind_service", "--", env.probe, "status"))
		theirs = sets(exec.Command("setpriv", "--reuid=nobody", "--regid=nogroup", "--init-groups", "--inh-caps=-all,+net_bind_service",
			"--ambient-caps=-all,+net_bind_service", "--bounding-set=-all,+net_bind_service", "--", env.probe, "status"))
		if ours != theirs || ours != (capset.Sets{Inheritable: nbs, Permitted: nbs, Effective: nbs, Bounding: nbs, Ambient: nbs}) {
			t.Errorf("nobody: capdrop %+v, setpriv %+v", ours.Hex(), theirs.Hex())
		}
		// The pitfalls the documentation warns about.
		forgotInh := sets(exec.Command("setpriv", "--reuid=nobody", "--regid=nogroup", "--init-groups",
			"--ambient-caps=+net_bind_service", "--bounding-set=-all,+net_bind_service", "--", env.probe, "status"))
		if forgotInh.Effective != 0 || forgotInh.Ambient != 0 {
			t.Errorf("setpriv without --inh-caps: %+v (the documentation says the command silently gets nothing)", forgotInh.Hex())
		}
		if r := run(t, exec.Command("setpriv", "--reuid=nobody", "--", env.probe, "status")); status(t, r.stdout).GID[0] != 0 {
			t.Errorf("setpriv --reuid alone: %s (the documentation says it keeps gid 0)", r.stdout)
		}
		capsh := sets(exec.Command("capsh", "--caps=cap_net_bind_service+eip cap_setpcap,cap_setuid,cap_setgid+ep", "--keep=1",
			"--user=nobody", "--addamb=cap_net_bind_service", "--", "-c", env.probe+" status"))
		if capsh.Ambient != nbs || capsh.Effective != nbs || capsh.Bounding != self.Sets.Bounding {
			t.Errorf("capsh recipe: %+v (the documentation says it leaves the bounding set whole)", capsh.Hex())
		}
	})
}

// lockedBuffer is a bytes.Buffer one goroutine writes while another reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// readyOut is a started command's stdout after its "ready PID" line.
type readyOut struct {
	r   *bufio.Reader
	pid int
}

// startReady starts cmd and reads the probe's "ready PID" line.
func startReady(t *testing.T, cmd *exec.Cmd) readyOut {
	t.Helper()
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(pipe)
	line, err := r.ReadString('\n')
	var pid int
	if _, serr := fmt.Sscanf(line, "ready %d\n", &pid); err != nil || serr != nil {
		cmd.Process.Kill()
		t.Fatalf("probe said %q: %v", line, err)
	}
	return readyOut{r, pid}
}

// waitFor polls cond for up to 20 seconds; it is a wait, not a timing check.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("gave up waiting for %s", what)
}

// gone reports whether pid no longer runs (exited, or a zombie waiting
// for whoever inherited it).
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || len(s) < i+3 || s[i+2] == 'Z' || s[i+2] == 'X'
}

// openPTY opens a pseudo-terminal pair.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}
