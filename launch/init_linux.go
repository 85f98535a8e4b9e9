package launch

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/capdrop/capdrop/capset"
)

// initArg0 is the argv[0] the launcher gives the re-executed binary; ps
// shows it for the instant before the command's exec.
const initArg0 = "capdrop:[init]"

// initFD is where the init finds its socket to the launcher.
const initFD = 3

// Init must be the first thing main (and the TestMain of tests that start
// commands) calls in every program that uses Plan.Start: Start re-executes
// the running binary as the init, and Init is where that binary becomes it.
// In the init it applies the launcher's plan and execs the command, never
// returning; in any other process it returns at once.
func Init() {
	hooked.Store(true)
	if len(os.Args) != 1 || os.Args[0] != initArg0 {
		return
	}
	// Locking the thread keeps the rest of the init, and the execve, on
	// this one thread: capabilities belong to threads.
	runtime.LockOSThread()
	os.Exit(runInit())
}

// initFailure is what the init reports to the launcher.
type initFailure struct {
	Stage   string `json:"stage"`
	Errno   int    `json:"errno,omitempty"`
	Message string `json:"message"`
	Code    int    `json:"code"` // the exit status the launcher should return
}

// runInit applies the spec from the launcher and execs the command; it
// returns only on failure, with the exit status.
func runInit() (code int) {
	conn := os.NewFile(initFD, "capdrop-init")
	fail := func(stage string, err error) int {
		f := initFailure{Stage: stage, Message: err.Error(), Code: exitCodeFor(stage, err)}
		var errno syscall.Errno
		if errors.As(err, &errno) {
			f.Errno = int(errno)
		}
		if b, jerr := json.Marshal(f); conn == nil || jerr != nil || writeAll(conn, b) != nil {
			fmt.Fprintf(os.Stderr, "capdrop init: %s: %v\n", stage, err)
		}
		return f.Code
	}
	defer func() {
		if r := recover(); r != nil {
			code = fail("init", fmt.Errorf("panic: %v", r))
		}
	}()
	if secureExec() {
		conn = nil // a descriptor someone else chose: do not talk to it
		return fail("init", errors.New("this capdrop binary runs set-user-ID, set-group-ID or with file capabilities; its init refuses to act for its caller"))
	}
	var st unix.Stat_t
	if err := unix.Fstat(initFD, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		conn = nil
		return fail("init", errors.New("started as capdrop's init without the launcher's socket on fd 3"))
	}
	var spec initSpec
	if err := decodeSpec(conn, &spec); err != nil {
		return fail("request", err)
	}
	if stage, err := apply(&spec); err != nil {
		return fail(stage, err)
	}
	return fail("exec", execvp(spec.Args, spec.Env))
}

func writeAll(f *os.File, b []byte) error {
	_, err := f.Write(b)
	return err
}

// decodeSpec reads one JSON spec and checks what JSON cannot express.
func decodeSpec(r io.Reader, s *initSpec) error {
	dec := json.NewDecoder(io.LimitReader(r, 64<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(s); err != nil {
		return fmt.Errorf("decode the launcher's request: %w", err)
	}
	if len(s.Args) == 0 || s.Args[0] == "" {
		return errors.New("the launcher's request has no command")
	}
	for _, v := range append(append([]string{}, s.Args...), s.Env...) {
		if strings.IndexByte(v, 0) >= 0 {
			return fmt.Errorf("argument or environment entry %q contains a NUL byte", v)
		}
	}
	if s.SetIDs {
		for _, id := range append([]int{s.UID, s.GID}, s.Groups...) {
			if id < 0 || int64(id) >= 1<<32-1 {
				return fmt.Errorf("id %d out of range", id)
			}
		}
	}
	return nil
}

// apply changes the calling (locked) thread's credentials to the spec, in
// runc's order, and checks the result. It returns the failing stage.
func apply(s *initSpec) (string, error) {
	self, err := readThread()
	if err != nil {
		return "read", err
	}
	last, err := lastCap()
	if err != nil {
		return "read", err
	}
	// 1. Bounding set, while CAP_SETPCAP is still effective.
	for c := capset.Cap(0); c <= last; c++ {
		if self.Sets.Bounding.Has(c) && !s.Bounding.Has(c) {
			if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
				return "bounding", fmt.Errorf("prctl(PR_CAPBSET_DROP, %s): %w", c, err)
			}
		}
	}
	// 2–4. Identity. KEEPCAPS keeps the permitted set across the switch
	// away from uid 0; effective and ambient are cleared by it anyway and
	// set again below.
	if s.SetIDs {
		if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
			return "keepcaps", fmt.Errorf("prctl(PR_SET_KEEPCAPS): %w", err)
		}
		if err := unix.Setgroups(s.Groups); err != nil {
			return "setgroups", fmt.Errorf("setgroups %v: %w", s.Groups, err)
		}
		if err := setresgid(s.GID); err != nil {
			return "setgid", fmt.Errorf("setresgid %d: %w", s.GID, err)
		}
		if err := setresuid(s.UID); err != nil {
			return "setuid", fmt.Errorf("setresuid %d: %w", s.UID, err)
		}
		if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
			return "keepcaps", fmt.Errorf("prctl(PR_SET_KEEPCAPS, 0): %w", err)
		}
	}
	// 5. Inheritable, permitted, effective.
	if err := capsetThread(s.Effective, s.Permitted, s.Inheritable); err != nil {
		return "capset", fmt.Errorf("capset effective=%s permitted=%s inheritable=%s: %w",
			s.Effective.Hex(), s.Permitted.Hex(), s.Inheritable.Hex(), err)
	}
	// 6. Ambient.
	if self.AmbientSupported {
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
			return "ambient", fmt.Errorf("prctl(PR_CAP_AMBIENT_CLEAR_ALL): %w", err)
		}
	}
	for _, c := range s.Ambient.Caps() {
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(c), 0, 0); err != nil {
			return "ambient", fmt.Errorf("prctl(PR_CAP_AMBIENT_RAISE, %s): %w", c, err)
		}
	}
	// 7. no_new_privs.
	if s.NoNewPrivs {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return "no_new_privs", fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
		}
	}
	// The parent-death signal is cleared by every credential change, so it
	// is armed last; a launcher that died before this point is noticed.
	if s.ParentPID > 0 {
		if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
			return "pdeathsig", fmt.Errorf("prctl(PR_SET_PDEATHSIG): %w", err)
		}
		if unix.Getppid() != s.ParentPID {
			return "pdeathsig", errors.New("the launcher exited before the command started")
		}
	}
	if err := closeExtraFDs(); err != nil {
		return "fds", err
	}
	// Check: the kernel must now report exactly the planned sets.
	got, _, err := threadSets()
	if err != nil {
		return "verify", err
	}
	want := capset.Sets{Inheritable: s.Inheritable, Permitted: s.Permitted, Effective: s.Effective, Bounding: s.Bounding, Ambient: s.Ambient}
	if got != want {
		return "verify", fmt.Errorf("the kernel reports %+v, not the planned %+v", got.Hex(), want.Hex())
	}
	return "", nil
}

// closeExtraFDs marks every descriptor above 2 close-on-exec, so the command
// inherits only its standard streams (and the launcher's socket closes when
// the exec succeeds).
func closeExtraFDs() error {
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err == nil {
		return nil
	}
	// Before Linux 5.11: walk the descriptor table.
	entries, err := os.ReadDir("/proc/thread-self/fd")
	if err != nil {
		return fmt.Errorf("list open descriptors: %w", err)
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			unix.CloseOnExec(fd)
		}
	}
	return nil
}

// execvp runs the command like execvp(3): a name without a slash is looked
// up in the command's own PATH; a file that is found but cannot be executed
// is remembered while the search goes on. Unlike execvp it does not hand
// files without a #! line to /bin/sh.
func execvp(args, env []string) error {
	name := args[0]
	if strings.Contains(name, "/") {
		return fmt.Errorf("%s: %w", name, syscall.Exec(name, args, env))
	}
	path, ok := lookEnv(env, "PATH")
	if !ok {
		path = DefaultPath
	}
	var denied error
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		err := syscall.Exec(filepath.Join(dir, name), args, env)
		switch {
		case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.ESTALE), errors.Is(err, syscall.ENODEV), errors.Is(err, syscall.ETIMEDOUT):
			continue
		case errors.Is(err, syscall.EACCES):
			// A file that is there but not executable counts; a directory
			// this user cannot search is just not where the command is.
			if _, serr := os.Stat(filepath.Join(dir, name)); serr == nil {
				denied = err
			}
			continue
		default:
			return fmt.Errorf("%s: %w", filepath.Join(dir, name), err)
		}
	}
	if denied != nil {
		return fmt.Errorf("%s: %w", name, denied)
	}
	return fmt.Errorf("%s: %w in PATH %s", name, errNotFound, path)
}

// errNotFound is a command that is nowhere in PATH.
var errNotFound = errors.New("command not found")

// exitCodeFor follows the shells and env(1): 127 for a command that was not
// found, 126 for one that cannot be executed, 125 for the launcher's own
// failure.
func exitCodeFor(stage string, err error) int {
	if stage == "exec" {
		if errors.Is(err, errNotFound) || errors.Is(err, syscall.ENOENT) {
			return 127
		}
		return 126
	}
	return 125
}
