//go:build linux

package needs

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/capdrop/capdrop/capset"
)

// Fixture names inside the fixtures directory.
const (
	fileOwned   = "owned-by-other"   // 0644 OtherID:OtherID
	filePrivate = "private-of-other" // 0600 OtherID:OtherID
	fileGroup   = "group-of-other"   // 0755 root:OtherID
	fileSetuid  = "setuid-other"     // a copy of the helper, 04755 OtherID:OtherID
)

var ops = []Op{
	{Name: "chown", Cap: capset.CHOWN, HostSafe: true, Does: "creates a file and chowns it to uid/gid 1234", run: opChown},
	{Name: "fowner", Cap: capset.FOWNER, HostSafe: true, Does: "chmods a file owned by uid 1234", run: opFowner},
	{Name: "fsetid", Cap: capset.FSETID, HostSafe: true, Does: "sets the setgid bit on a file of group 1234 (the kernel clears it silently without FSETID)", run: opFsetid},
	{Name: "dac-override", Cap: capset.DAC_OVERRIDE, HostSafe: true, Does: "opens for writing a 0600 file owned by uid 1234", run: opDacOverride},
	{Name: "dac-read-search", Cap: capset.DAC_READ_SEARCH, HostSafe: true, Does: "opens for reading a 0600 file owned by uid 1234", run: opDacReadSearch},
	{Name: "setuid", Cap: capset.SETUID, HostSafe: true, Does: "setuid(1234) on a throw-away thread", run: opSetuid},
	{Name: "setgid", Cap: capset.SETGID, HostSafe: true, Does: "setgid(1234) on a throw-away thread", run: opSetgid},
	{Name: "kill", Cap: capset.KILL, HostSafe: true, Does: "signals (0) a process running as uid 1234 (the setuid fixture)", run: opKill},
	{Name: "bind", Cap: capset.NET_BIND_SERVICE, Sysctls: []string{"net.ipv4.ip_unprivileged_port_start=1024"}, Does: "binds TCP port 80 (with net.ipv4.ip_unprivileged_port_start=1024)", run: opBind},
	{Name: "raw", Cap: capset.NET_RAW, HostSafe: true, Does: "opens a raw ICMP socket", run: opRaw},
	{Name: "net-admin", Cap: capset.NET_ADMIN, HostSafe: true, Does: "sets the loopback MTU to its current value", run: opNetAdmin},
	{Name: "chroot", Cap: capset.SYS_CHROOT, HostSafe: true, Does: "chroot(\"/\")", run: opChroot},
	{Name: "mknod", Cap: capset.MKNOD, HostSafe: true, Does: "creates a character device node (1:3, like /dev/null) and removes it", run: opMknod},
	{Name: "setfcap", Cap: capset.SETFCAP, HostSafe: true, Does: "sets a security.capability xattr on a new file", run: opSetfcap},
	{Name: "mount", Cap: capset.SYS_ADMIN, Does: "mounts and unmounts a tmpfs (run it in its own mount namespace)", run: opMount},
	{Name: "nice", Cap: capset.SYS_NICE, HostSafe: true, Does: "lowers its own thread's nice value below 0", run: opNice},
	{Name: "mlock", Cap: capset.IPC_LOCK, HostSafe: true, Does: "locks a page with RLIMIT_MEMLOCK lowered to 0", run: opMlock},
}

func scratch(dir, name string) (string, error) {
	p := filepath.Join(os.TempDir(), fmt.Sprintf("capneeds-%s-%d", name, os.Getpid()))
	os.Remove(p)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return "", err
	}
	return p, f.Close()
}

func opChown(dir string) error {
	p, err := scratch(dir, "chown")
	if err != nil {
		return err
	}
	defer os.Remove(p)
	return os.Chown(p, OtherID, OtherID)
}

func opFowner(dir string) error {
	return os.Chmod(filepath.Join(dir, fileOwned), 0o644)
}

func opFsetid(dir string) error {
	p := filepath.Join(dir, fileGroup)
	if err := unix.Chmod(p, 0o2755); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_ISGID == 0 {
		return errors.New("the kernel cleared the setgid bit")
	}
	return unix.Chmod(p, 0o755)
}

func opDacOverride(dir string) error {
	f, err := os.OpenFile(filepath.Join(dir, filePrivate), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	return f.Close()
}

func opDacReadSearch(dir string) error {
	f, err := os.Open(filepath.Join(dir, filePrivate))
	if err != nil {
		return err
	}
	return f.Close()
}

// onThrowawayThread runs f on a locked OS thread that is never unlocked, so
// the Go runtime ends the thread afterwards and whatever f changed in the
// thread's credentials or priority dies with it. It must not be the main
// thread (the thread group leader), which /proc/PID/status and the
// kernel's process events describe: a goroutine started here was usually
// scheduled there, and sometimes elsewhere, so the helper ended as uid 1234
// in some runs and as root in others, and verify rightly judged a run
// where it stayed root as an escalation over a starting run where it had
// not. A program that runs these operations therefore locks its main
// goroutine to the main thread before (runtime.LockOSThread in main's
// init, or first in TestMain); if the goroutine lands on the main thread
// anyway, f is not run and an error says why.
func onThrowawayThread(f func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			done <- errors.New("the operation would run on the main thread and change the whole process: the main goroutine must hold it (runtime.LockOSThread in main's init or first in TestMain)")
			return
		}
		done <- f()
	}()
	return <-done
}

func opSetuid(string) error {
	return onThrowawayThread(func() error {
		if _, _, e := unix.RawSyscall(unix.SYS_SETUID, OtherID, 0, 0); e != 0 {
			return e
		}
		return nil
	})
}

func opSetgid(string) error {
	return onThrowawayThread(func() error {
		if _, _, e := unix.RawSyscall(unix.SYS_SETGID, OtherID, 0, 0); e != 0 {
			return e
		}
		return nil
	})
}

func opKill(dir string) error {
	return withOtherUIDProcess(dir, func(pid int) error { return unix.Kill(pid, 0) })
}

// BenchKill signals (0) a process of uid 1234 n times — a CAP_KILL check
// each time, in one of the cheapest syscalls that makes one: the worst case
// for a tracer's overhead per check. It returns the CPU time (user+system,
// which includes the BPF programs run in the syscall) per call, measured on
// the calling thread so that a busy machine's waiting does not count.
func BenchKill(dir string, n int) (time.Duration, error) {
	var per time.Duration
	err := withOtherUIDProcess(dir, func(pid int) error {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		before, err := threadCPU()
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			if err := unix.Kill(pid, 0); err != nil {
				return err
			}
		}
		after, err := threadCPU()
		if err != nil {
			return err
		}
		per = (after - before) / time.Duration(n)
		return nil
	})
	return per, err
}

func threadCPU() (time.Duration, error) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		return 0, err
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// withOtherUIDProcess runs f with the pid of a process running as uid 1234
// (the setuid fixture), which ends afterwards.
func withOtherUIDProcess(dir string, f func(pid int) error) error {
	cmd := exec.Command(filepath.Join(dir, fileSetuid), "sleeper")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	// Wait until the sleeper has dropped to uid 1234 entirely.
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err == nil && line != "ready\n" {
			err = fmt.Errorf("the setuid fixture said %q", line)
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			return fmt.Errorf("the setuid fixture did not become uid 1234 (is the fixtures directory on a nosuid mount?): %w", err)
		}
	case <-time.After(5 * time.Second):
		return errors.New("the setuid fixture did not become uid 1234 in 5s")
	}
	return f(cmd.Process.Pid)
}

// Sleeper is the setuid fixture's job: become uid OtherID entirely (it
// starts with euid OtherID, as a setuid binary), say "ready", and wait for
// stdin to close.
func Sleeper() error {
	if err := unix.Setresuid(OtherID, OtherID, OtherID); err != nil {
		return fmt.Errorf("setresuid: %w", err)
	}
	if os.Getuid() != OtherID {
		return fmt.Errorf("still uid %d", os.Getuid())
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

func opBind(string) error {
	l, err := net.Listen("tcp4", "0.0.0.0:80")
	if err != nil {
		return err
	}
	return l.Close()
}

func opRaw(string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP)
	if err != nil {
		return err
	}
	return unix.Close(fd)
}

func opNetAdmin(string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFMTU, ifr); err != nil {
		return fmt.Errorf("read the loopback MTU: %w", err)
	}
	return unix.IoctlIfreq(fd, unix.SIOCSIFMTU, ifr)
}

func opChroot(string) error { return unix.Chroot("/") }

func opMknod(dir string) error {
	p := filepath.Join(os.TempDir(), fmt.Sprintf("capneeds-node-%d", os.Getpid()))
	os.Remove(p)
	if err := unix.Mknod(p, unix.S_IFCHR|0o600, int(unix.Mkdev(1, 3))); err != nil {
		return err
	}
	return os.Remove(p)
}

func opSetfcap(dir string) error {
	p, err := scratch(dir, "setfcap")
	if err != nil {
		return err
	}
	defer os.Remove(p)
	// struct vfs_cap_data, revision 2: magic_etc, then {permitted,
	// inheritable} for the low and high 32 capabilities. Grants
	// CAP_NET_BIND_SERVICE, permitted only.
	var b bytes.Buffer
	for _, v := range []uint32{0x02000000, 1 << capset.NET_BIND_SERVICE, 0, 0, 0} {
		_ = binary.Write(&b, binary.LittleEndian, v)
	}
	return unix.Setxattr(p, "security.capability", b.Bytes(), 0)
}

func opMount(string) error {
	p := filepath.Join(os.TempDir(), fmt.Sprintf("capneeds-mnt-%d", os.Getpid()))
	if err := os.MkdirAll(p, 0o755); err != nil {
		return err
	}
	defer os.Remove(p)
	if err := unix.Mount("capneeds", p, "tmpfs", 0, "size=64k"); err != nil {
		return err
	}
	return unix.Unmount(p, 0)
}

func opNice(string) error {
	return onThrowawayThread(func() error {
		return unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), -1)
	})
}

func opMlock(string) error {
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &old); err != nil {
		return err
	}
	low := unix.Rlimit{Cur: 0, Max: old.Max}
	if err := unix.Setrlimit(unix.RLIMIT_MEMLOCK, &low); err != nil {
		return fmt.Errorf("lower RLIMIT_MEMLOCK: %w", err)
	}
	defer unix.Setrlimit(unix.RLIMIT_MEMLOCK, &old)
	page := make([]byte, os.Getpagesize())
	if err := unix.Mlock(page); err != nil {
		return err
	}
	return unix.Munlock(page)
}

// Prepare makes the fixtures in dir. It needs CHOWN, FOWNER and FSETID (run
// it as root with Docker's default set, e.g. in a Dockerfile RUN), and self
// is the path of the helper binary, copied as the setuid fixture.
func Prepare(dir, self string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	write := func(name string, data []byte, mode uint32, uid, gid int) error {
		p := filepath.Join(dir, name)
		os.Remove(p)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			return err
		}
		if err := os.Chown(p, uid, gid); err != nil {
			return err
		}
		return unix.Chmod(p, mode)
	}
	bin, err := os.ReadFile(self)
	if err != nil {
		return fmt.Errorf("read the helper to copy it: %w", err)
	}
	steps := []error{
		write(fileOwned, []byte("capneeds\n"), 0o644, OtherID, OtherID),
		write(filePrivate, []byte("capneeds\n"), 0o600, OtherID, OtherID),
		write(fileGroup, []byte("capneeds\n"), 0o755, 0, OtherID),
		write(fileSetuid, bin, 0o4755, OtherID, OtherID),
	}
	return errors.Join(steps...)
}

// Describe returns "name CAP_X does" lines for every operation.
func Describe() string {
	var b strings.Builder
	for _, o := range All() {
		fmt.Fprintf(&b, "%-16s %-22s %s\n", o.Name, o.Cap.Name(), o.Does)
	}
	return b.String()
}
