package launch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/procfs"
)

// The tests in this file start real processes and read what the kernel
// reports for them in /proc/self/status (through the probe helper, a static
// binary printing its own status). They need root; they skip otherwise.

// shared is a world-readable directory (nobody must be able to execute the
// probe) holding the probe binary.
var shared, probePath string

func TestMain(m *testing.M) {
	Init() // the tests start commands through this binary
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if os.Geteuid() != 0 {
		return m.Run() // the tests needing the probe skip without root
	}
	dir, err := os.MkdirTemp("", "capdrop-launch-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	shared = dir
	probePath = filepath.Join(dir, "probe")
	build := exec.Command("go", "build", "-o", probePath, "./internal/probe")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build the probe: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: switching users and dropping the bounding set need CAP_SETUID, CAP_SETGID and CAP_SETPCAP")
	}
}

// callerStatus is the test process's own status, read from /proc like any
// other process's: the independent source of the expectations.
func callerStatus(t *testing.T) *procfs.Status {
	t.Helper()
	st, err := procfs.ReadStatus("", os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// observed is what a probe reported about itself.
type observed struct {
	*procfs.Status
	Groups []int
}

func parseObserved(t *testing.T, out []byte) observed {
	t.Helper()
	st, err := procfs.ParseStatus(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("probe output: %v\n%s", err, out)
	}
	o := observed{Status: st, Groups: []int{}}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Groups:"); ok {
			for _, f := range strings.Fields(v) {
				n, err := strconv.Atoi(f)
				if err != nil {
					t.Fatalf("Groups line %q", sc.Text())
				}
				o.Groups = append(o.Groups, n)
			}
		}
	}
	slices.Sort(o.Groups)
	return o
}

// launch prepares and runs req, returning the command's stdout, stderr
// and exit.
func launch(t *testing.T, req Request) (*Plan, []byte, []byte, Exit) {
	t.Helper()
	p, err := Prepare(req)
	if err != nil {
		t.Fatalf("Prepare(%+v): %v", req, err)
	}
	var stdout, stderr bytes.Buffer
	proc, err := p.Start(Options{Stdout: &stdout, Stderr: &stderr})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	exit, err := proc.Wait()
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return p, stdout.Bytes(), stderr.Bytes(), exit
}

type expect struct {
	sets   capset.Sets
	uid    int
	gid    int
	groups []int
	nnp    bool
}

func TestMatrix(t *testing.T) {
	requireRoot(t)
	caller := callerStatus(t)
	bnd := caller.Sets.Bounding // here: everything but CAP_SYS_RESOURCE (this test machine's sandbox withholds it)
	nobody := lookupUser(t, "nobody")
	acct := writeAccounts(t)

	nbs := capset.Of(capset.NET_BIND_SERVICE)
	two := capset.Of(capset.NET_BIND_SERVICE, capset.NET_RAW)
	some := capset.Of(capset.SYS_ADMIN, capset.NET_RAW, capset.MKNOD)
	only := func(s capset.Set) capset.Sets { // non-root: everything usable through ambient
		return capset.Sets{Inheritable: s, Permitted: s, Effective: s, Bounding: s, Ambient: s}
	}
	rootGets := func(s capset.Set) capset.Sets { // root: bounding = permitted = effective
		return capset.Sets{Permitted: s, Effective: s, Bounding: s}
	}
	root := expect{uid: 0, gid: 0, groups: callerGroups(t)}
	asRoot := func(s capset.Sets, nnp bool) expect { e := root; e.sets, e.nnp = s, nnp; return e }
	asNobody := func(s capset.Sets, nnp bool) expect { e := nobody; e.sets, e.nnp = s, nnp; return e }

	for _, c := range []struct {
		name string
		req  Request
		want expect
	}{
		{"root/no flags", Request{}, asRoot(rootGets(bnd), false)},
		{"root/drop all", Request{DropAll: true}, asRoot(capset.Sets{}, false)},
		{"root/drop all add one", Request{DropAll: true, Add: nbs}, asRoot(rootGets(nbs), false)},
		{"root/drop all add two", Request{DropAll: true, Add: two}, asRoot(rootGets(two), false)},
		{"root/drop some", Request{Drop: some}, asRoot(rootGets(bnd.Minus(some)), false)},
		{"root/drop some add back one", Request{Drop: some, Add: capset.Of(capset.NET_RAW)}, asRoot(rootGets(bnd.Minus(some).With(capset.NET_RAW)), false)},
		{"root/no-new-privs drop all add kill", Request{DropAll: true, Add: capset.Of(capset.KILL), NoNewPrivs: true}, asRoot(rootGets(capset.Of(capset.KILL)), true)},
		{"root/explicit user root", Request{User: "root", DropAll: true, Add: nbs}, expect{sets: rootGets(nbs), groups: []int{0}}},
		{"nobody/no flags", Request{User: "nobody"}, asNobody(capset.Sets{Bounding: bnd}, false)},
		{"nobody/drop all", Request{User: "nobody", DropAll: true}, asNobody(capset.Sets{}, false)},
		{"nobody/drop all add one", Request{User: "nobody", DropAll: true, Add: nbs}, asNobody(only(nbs), false)},
		{"nobody/drop all add two no-new-privs", Request{User: "nobody", DropAll: true, Add: two, NoNewPrivs: true}, asNobody(only(two), true)},
		{"nobody/drop some add one", Request{User: "nobody", Drop: some, Add: capset.Of(capset.NET_ADMIN)},
			asNobody(capset.Sets{Inheritable: capset.Of(capset.NET_ADMIN), Permitted: capset.Of(capset.NET_ADMIN), Effective: capset.Of(capset.NET_ADMIN),
				Bounding: bnd.Minus(some), Ambient: capset.Of(capset.NET_ADMIN)}, false)},
		{"nobody/add all drop one", Request{User: "nobody", AddAll: true, Drop: capset.Of(capset.SYS_ADMIN)}, asNobody(only(bnd.Without(capset.SYS_ADMIN)), false)},
		{"user with groups/numeric uid:gid", Request{User: "4242:4242", DropAll: true, Add: nbs, PasswdFile: acct.passwd, GroupFile: acct.group},
			expect{sets: only(nbs), uid: 4242, gid: 4242, groups: []int{4242, 4243, 4244}}},
		{"user with groups/other primary group", Request{User: "capdroptest:4250", PasswdFile: acct.passwd, GroupFile: acct.group},
			expect{sets: capset.Sets{Bounding: bnd}, uid: 4242, gid: 4250, groups: []int{4243, 4244, 4250}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.req.Args = []string{probePath, "status"}
			plan, out, stderr, exit := launch(t, c.req)
			if exit.Status() != 0 {
				t.Fatalf("probe: %v\n%s", exit, stderr)
			}
			got := parseObserved(t, out)
			if got.Sets != c.want.sets {
				t.Errorf("kernel reports\n  %+v\nwant\n  %+v", got.Sets.Hex(), c.want.sets.Hex())
			}
			if got.Sets != plan.Sets {
				t.Errorf("the plan (--print) said %+v, the kernel reports %+v", plan.Sets.Hex(), got.Sets.Hex())
			}
			if got.NoNewPrivs != c.want.nnp || plan.NoNewPrivs != c.want.nnp {
				t.Errorf("NoNewPrivs: kernel %v, plan %v, want %v", got.NoNewPrivs, plan.NoNewPrivs, c.want.nnp)
			}
			wantUID, wantGID := [4]int{c.want.uid, c.want.uid, c.want.uid, c.want.uid}, [4]int{c.want.gid, c.want.gid, c.want.gid, c.want.gid}
			if got.UID != wantUID || got.GID != wantGID || !reflect.DeepEqual(got.Groups, c.want.groups) {
				t.Errorf("ids: uid %v gid %v groups %v, want uid %v gid %v groups %v", got.UID, got.GID, got.Groups, wantUID, wantGID, c.want.groups)
			}
			if plan.User.UID != c.want.uid || plan.User.GID != c.want.gid || !reflect.DeepEqual(plan.User.Groups, c.want.groups) {
				t.Errorf("the plan said uid %d gid %d groups %v", plan.User.UID, plan.User.GID, plan.User.Groups)
			}
		})
	}
}

// lookupUser resolves a user through os/user, an implementation
// independent of launch's own passwd reader.
func lookupUser(t *testing.T, name string) expect {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	ids, err := u.GroupIds()
	if err != nil {
		t.Fatal(err)
	}
	var groups []int
	for _, s := range ids {
		n, _ := strconv.Atoi(s)
		groups = append(groups, n)
	}
	slices.Sort(groups)
	return expect{uid: uid, gid: gid, groups: slices.Compact(groups)}
}

func callerGroups(t *testing.T) []int {
	g, err := unix.Getgroups()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(g)
	if g == nil {
		g = []int{}
	}
	return g
}

type accountFiles struct{ passwd, group string }

// writeAccounts writes passwd and group files with a user in several
// groups, so the supplementary groups are visible in the kernel.
func writeAccounts(t *testing.T) accountFiles {
	dir := t.TempDir()
	a := accountFiles{filepath.Join(dir, "passwd"), filepath.Join(dir, "group")}
	must(t, os.WriteFile(a.passwd, []byte("root:x:0:0:root:/root:/bin/sh\ncapdroptest:x:4242:4242::/home/capdroptest:/bin/sh\n"), 0o644))
	must(t, os.WriteFile(a.group, []byte("root:x:0:\ncapdroptest:x:4242:\nalpha:x:4243:other,capdroptest\nbeta:x:4244:capdroptest\ngamma:x:4245:other\nprimary:x:4250:\n"), 0o644))
	return a
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestCallerUntouched checks the launcher's own threads keep their sets
// while it starts commands that drop everything and switch users.
func TestCallerUntouched(t *testing.T) {
	requireRoot(t)
	before := allThreads(t)
	for _, req := range []Request{
		{DropAll: true, NoNewPrivs: true},
		{User: "nobody", DropAll: true, Add: capset.Of(capset.NET_BIND_SERVICE)},
	} {
		req.Args = []string{probePath, "status"}
		launch(t, req)
	}
	after := allThreads(t)
	for tid, sets := range after {
		if want, ok := before[tid]; ok && sets != want {
			t.Errorf("thread %d: sets changed from %+v to %+v", tid, want.Hex(), sets.Hex())
		}
	}
	caller := callerStatus(t)
	if caller.NoNewPrivs || caller.UID != [4]int{0, 0, 0, 0} {
		t.Errorf("the launcher's own no_new_privs %v, uids %v", caller.NoNewPrivs, caller.UID)
	}
	for tid, sets := range after {
		if sets != caller.Sets {
			t.Errorf("thread %d has %+v, the process %+v", tid, sets.Hex(), caller.Sets.Hex())
		}
	}
}

func allThreads(t *testing.T) map[int]capset.Sets {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]capset.Sets{}
	for _, e := range entries {
		tid, _ := strconv.Atoi(e.Name())
		st, err := procfs.ReadTaskStatus("", os.Getpid(), tid)
		if err != nil {
			continue // the thread exited meanwhile
		}
		out[tid] = st.Sets
	}
	if len(out) < 2 {
		t.Fatalf("only %d threads: the test proves nothing about a multi-threaded launcher", len(out))
	}
	return out
}

// suidDir returns a directory on a file system mounted without nosuid.
func suidDir(t *testing.T) string {
	t.Helper()
	for _, dir := range []string{shared, "/var/tmp", "/root"} {
		if mountAllowsSetuid(t, dir) {
			d, err := os.MkdirTemp(dir, "suid-")
			must(t, err)
			must(t, os.Chmod(d, 0o755))
			t.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	t.Skip("no writable file system without nosuid here (checked the temp dir, /var/tmp, /root)")
	return ""
}

// mountAllowsSetuid reads /proc/self/mountinfo for the mount holding dir.
func mountAllowsSetuid(t *testing.T, dir string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	must(t, err)
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return false
	}
	best, opts := "", ""
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		mp := f[4]
		if (real == mp || strings.HasPrefix(real, strings.TrimSuffix(mp, "/")+"/")) && len(mp) >= len(best) {
			best, opts = mp, f[5]
		}
	}
	return best != "" && !slices.Contains(strings.Split(opts, ","), "nosuid")
}

// setuidCopy copies src into dir as a set-user-ID-root executable.
func setuidCopy(t *testing.T, src, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	must(t, err)
	dst := filepath.Join(dir, name)
	must(t, os.WriteFile(dst, b, 0o755))
	must(t, os.Chown(dst, 0, 0))
	must(t, os.Chmod(dst, 0o755|os.ModeSetuid))
	return dst
}

func TestSetuidBinaryCannotRegain(t *testing.T) {
	requireRoot(t)
	suid := setuidCopy(t, probePath, suidDir(t), "probe-suid")
	bnd := callerStatus(t).Sets.Bounding
	for _, c := range []struct {
		name     string
		req      Request
		wantEUID int
		want     capset.Sets
	}{
		// The control: a set-user-ID-root binary run by nobody without a
		// reduced bounding set gets root's capabilities back. If this did
		// not happen, the other cases would prove nothing.
		{"control: nobody keeps the bounding set", Request{User: "nobody"}, 0, capset.Sets{Permitted: bnd, Effective: bnd, Bounding: bnd}},
		{"nobody drop all", Request{User: "nobody", DropAll: true}, 0, capset.Sets{}},
		{"root drop all", Request{DropAll: true}, 0, capset.Sets{}},
		{"nobody drop all add one", Request{User: "nobody", DropAll: true, Add: capset.Of(capset.NET_BIND_SERVICE)}, 0,
			// Executing a set-user-ID file clears the ambient set; what is
			// left is what the bounding set allows.
			capset.Sets{Inheritable: capset.Of(capset.NET_BIND_SERVICE), Permitted: capset.Of(capset.NET_BIND_SERVICE),
				Effective: capset.Of(capset.NET_BIND_SERVICE), Bounding: capset.Of(capset.NET_BIND_SERVICE)}},
		{"nobody no-new-privs: the set-user-ID bit is ignored", Request{User: "nobody", NoNewPrivs: true}, 65534, capset.Sets{Bounding: bnd}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.req.Args = []string{suid, "status"}
			_, out, stderr, exit := launch(t, c.req)
			if exit.Status() != 0 {
				t.Fatalf("probe: %v\n%s", exit, stderr)
			}
			got := parseObserved(t, out)
			if got.UID[1] != c.wantEUID {
				t.Errorf("euid %d, want %d", got.UID[1], c.wantEUID)
			}
			if got.Sets != c.want {
				t.Errorf("the set-user-ID probe holds\n  %+v\nwant\n  %+v", got.Sets.Hex(), c.want.Hex())
			}
		})
	}
}

func TestExitAndSignals(t *testing.T) {
	requireRoot(t)
	_, _, _, exit := launch(t, Request{User: "nobody", DropAll: true, Args: []string{probePath, "exit", "7"}})
	if exit != (Exit{Code: 7}) || exit.Status() != 7 {
		t.Errorf("exit 7: got %v status %d", exit, exit.Status())
	}
	_, _, _, exit = launch(t, Request{DropAll: true, Args: []string{probePath, "kill", "9"}})
	if exit.Signal != syscall.SIGKILL || exit.Status() != 137 {
		t.Errorf("killed by SIGKILL: got %v status %d", exit, exit.Status())
	}

	// A signal sent to the Process reaches the command.
	p, err := Prepare(Request{User: "nobody", DropAll: true, Args: []string{probePath, "wait"}})
	must(t, err)
	pr, pw := io.Pipe()
	proc, err := p.Start(Options{Stdout: pw})
	must(t, err)
	line, err := bufio.NewReader(pr).ReadString('\n')
	must(t, err)
	if line != fmt.Sprintf("ready %d\n", proc.Pid) {
		t.Fatalf("probe said %q; its pid is %d", line, proc.Pid)
	}
	go io.Copy(io.Discard, pr)
	must(t, proc.Signal(syscall.SIGUSR1))
	exit, err = proc.Wait()
	must(t, err)
	if exit.Code != 100+int(syscall.SIGUSR1) {
		t.Errorf("after SIGUSR1: %v", exit)
	}
	pw.Close()
}

func TestStartErrors(t *testing.T) {
	requireRoot(t)
	noexec := filepath.Join(shared, "not-executable")
	must(t, os.WriteFile(noexec, []byte("#!/bin/sh\n"), 0o644))
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"capdrop-no-such-command"}, 127, "capdrop-no-such-command: command not found in PATH"},
		{[]string{"/nonexistent/cmd"}, 127, "/nonexistent/cmd: no such file or directory"},
		{[]string{noexec}, 126, noexec + ": permission denied"},
	} {
		p, err := Prepare(Request{User: "nobody", DropAll: true, Args: c.args})
		must(t, err)
		_, err = p.Start(Options{})
		var se *StartError
		if !errors.As(err, &se) || se.Code != c.code || se.Stage != "exec" || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%v: err %v (%#v), want exec failure %d saying %q", c.args, err, se, c.code, c.msg)
		}
	}
}

func TestRefusals(t *testing.T) {
	requireRoot(t)
	caller := callerStatus(t)
	missing := capset.Supported().Minus(caller.Sets.Bounding).Minus(caller.Sets.Permitted.Intersect(caller.Sets.Bounding))
	if missing.IsEmpty() {
		t.Skip("root holds every capability of this kernel: nothing to refuse adding (this machine lacks CAP_SYS_RESOURCE; real hosts often do not)")
	}
	c := missing.Caps()[0]
	_, err := Prepare(Request{DropAll: true, Add: capset.Of(c), Args: []string{"true"}})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "cannot add "+c.Name()) {
		t.Errorf("adding %s which root lacks: %v", c, err)
	}
	_, err = Prepare(Request{User: "no-such-user-capdrop", Args: []string{"true"}})
	if !errors.Is(err, ErrUnknownUser) || !strings.Contains(err.Error(), `no user "no-such-user-capdrop"`) {
		t.Errorf("unknown user: %v", err)
	}
}

func TestEnvironmentAndDescriptors(t *testing.T) {
	requireRoot(t)
	// A descriptor without close-on-exec, as a launcher inherits them
	// from its own caller.
	secret := filepath.Join(t.TempDir(), "secret")
	must(t, os.WriteFile(secret, nil, 0o600))
	fd, err := unix.Open(secret, unix.O_RDONLY, 0)
	must(t, err)
	defer unix.Close(fd)
	must(t, unix.Dup2(fd, 100))
	defer unix.Close(100)
	_, out, _, _ := launch(t, Request{User: "nobody", Args: []string{probePath, "fds"}})
	fds := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(fds) < 3 || !strings.HasPrefix(fds[0], "0 ") || !strings.HasPrefix(fds[2], "2 ") {
		t.Fatalf("probe fds: %q", out)
	}
	for _, line := range fds {
		// The probe's own Go runtime opens cgroup files; anything of the
		// launcher's is a leak.
		if strings.Contains(line, secret) || strings.Contains(line, "socket:") {
			t.Errorf("the command inherited %q", line)
		}
	}

	env := []string{"PATH=/usr/bin:/bin", "HOME=/root", "SECRET_TOKEN=x", "LC_ALL=C.UTF-8", "TERM=dumb"}
	_, out, _, _ = launch(t, Request{User: "nobody", Env: env, Args: []string{probePath, "env"}})
	nobody, _ := user.Lookup("nobody")
	want := []string{"HOME=" + nobody.HomeDir, "LC_ALL=C.UTF-8", "LOGNAME=nobody", "PATH=/usr/bin:/bin", "SHELL=/usr/sbin/nologin", "TERM=dumb", "USER=nobody"}
	if got := strings.Fields(string(out)); !reflect.DeepEqual(got, want) {
		t.Errorf("clean environment = %q\nwant %q", got, want)
	}
	_, out, _, _ = launch(t, Request{User: "nobody", Env: env, KeepEnv: true, Args: []string{probePath, "env"}})
	if got := strings.Fields(string(out)); !reflect.DeepEqual(got, env) {
		t.Errorf("kept environment = %q, want %q", got, env)
	}
}

// TestInitRefusesSetuid runs a set-user-ID-root copy of this test binary
// (which contains the init) as nobody, started the way the launcher starts
// its init, with a request to become root with every capability. The init
// must refuse: a user-controlled argv[0] and descriptor must not make a
// privileged capdrop binary act for its caller.
func TestInitRefusesSetuid(t *testing.T) {
	requireRoot(t)
	self, err := os.Executable()
	must(t, err)
	suid := setuidCopy(t, self, suidDir(t), "capdrop-suid")
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	must(t, err)
	local, remote := os.NewFile(uintptr(fds[0]), "local"), os.NewFile(uintptr(fds[1]), "remote")
	defer local.Close()
	spec := initSpec{Bounding: capset.Upto(40), Permitted: capset.Upto(40), Effective: capset.Upto(40), SetIDs: true,
		Groups: []int{0}, Args: []string{probePath, "status"}}
	b, _ := json.Marshal(spec)
	local.Write(b)
	unix.Shutdown(fds[0], unix.SHUT_WR)

	var stdout, stderr bytes.Buffer
	cmd := &exec.Cmd{Path: suid, Args: []string{initArg0}, Env: []string{}, Stdout: &stdout, Stderr: &stderr, ExtraFiles: []*os.File{remote},
		SysProcAttr: &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}}
	err = cmd.Run()
	remote.Close()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 125 {
		t.Errorf("the set-user-ID init: %v, want exit 125", err)
	}
	if !strings.Contains(stderr.String(), "refuses to act for its caller") || strings.Contains(stdout.String(), "CapEff") {
		t.Errorf("stdout %q stderr %q", stdout.String(), stderr.String())
	}
	// It told the descriptor nothing either.
	local.SetReadDeadline(time.Now().Add(5 * time.Second))
	if reply, _ := io.ReadAll(local); len(reply) != 0 {
		t.Errorf("the refusing init wrote %q to the descriptor it was given", reply)
	}

	// The same binary run normally as the init, without the launcher's
	// socket, explains itself instead of doing anything.
	cmd = &exec.Cmd{Path: self, Args: []string{initArg0}, Env: []string{}}
	out, err := cmd.CombinedOutput()
	if !errors.As(err, &ee) || ee.ExitCode() != 125 || !strings.Contains(string(out), "without the launcher's socket") {
		t.Errorf("init without a socket: %v %q", err, out)
	}
}
