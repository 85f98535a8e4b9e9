package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/capdrop/capdrop/internal/vmtest"
)

const (
	testsDir   = "/tests"
	reportPath = "/run/vmtest-report"
)

type mount struct{ source, target, fstype string }

// mounts are what the tracer and its tests expect of a normal system.
var mounts = []mount{
	{"proc", "/proc", "proc"},
	{"sysfs", "/sys", "sysfs"},
	{"devtmpfs", "/dev", "devtmpfs"},
	{"tmpfs", "/tmp", "tmpfs"},
	{"tmpfs", "/run", "tmpfs"},
	{"debugfs", "/sys/kernel/debug", "debugfs"},
	{"tracefs", "/sys/kernel/tracing", "tracefs"},
	{"bpf", "/sys/fs/bpf", "bpf"},
	{"securityfs", "/sys/kernel/security", "securityfs"},
	{"cgroup2", "/sys/fs/cgroup", "cgroup2"},
}

func main() {
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "vmtest init: not process 1; this is the /init of a kernel-matrix guest, refusing to run")
		os.Exit(2)
	}
	fmt.Println("\n" + run())
	unix.Sync()
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		fmt.Fprintf(os.Stderr, "vmtest init: power off: %v\n", err)
	}
	// Returning kills init: the kernel panics, panic=-1 reboots it, and
	// qemu's -no-reboot ends the guest either way.
}

// run does the guest's work and returns its result line.
func run() string {
	var (
		fields []vmtest.Field
		pass   = true
	)
	fail := func(key, value string) {
		pass = false
		fields = append(fields, vmtest.Field{Key: key, Value: strings.Join(strings.Fields(value), "_")})
	}

	for _, m := range mounts {
		if err := os.MkdirAll(m.target, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			fail("mount", m.target+":"+err.Error())
			continue
		}
		if err := unix.Mount(m.source, m.target, m.fstype, 0, ""); err != nil {
			fail("mount", m.target+":"+err.Error())
		}
	}
	kernel := "unknown"
	var uts unix.Utsname
	if err := unix.Uname(&uts); err == nil {
		kernel = unix.ByteSliceToString(uts.Release[:])
	}
	params := cmdlineParams()
	nonce := params["nonce"]
	if nonce == "" {
		nonce = "-"
	}

	env := []string{"PATH=/bin", "HOME=/tmp", "TMPDIR=/tmp", vmtest.EnvGuest + "=1", vmtest.EnvReport + "=" + reportPath}
	for k, v := range params {
		env = append(env, vmtest.ParamEnv(k)+"="+v)
	}
	sort.Strings(env)
	// kmatrix.env=NAME=VALUE sets a variable as it is, for tests with
	// their own conventions.
	env = append(env, envParams()...)

	bins, _ := filepath.Glob(filepath.Join(testsDir, "*.test"))
	sort.Strings(bins)
	if len(bins) == 0 {
		fail("error", "no test binaries in "+testsDir)
	}
	passed, skipped := 0, 0
	for _, bin := range bins {
		out, err := runTest(bin, params["testtimeout"], env)
		passed += len(out.Passed)
		name := strings.TrimSuffix(filepath.Base(bin), ".test")
		switch {
		case err != nil:
			problem := out.Problem()
			if problem == "" {
				problem = err.Error()
			}
			fail("fail", name+":"+problem)
		case out.Problem() != "":
			fail("fail", name+":"+out.Problem())
		}
		skipped += len(out.Skipped)
	}

	if f, err := os.Open(reportPath); err == nil {
		reported, perr := vmtest.ParseReport(f)
		f.Close()
		fields = append(reported, fields...)
		if perr != nil {
			fail("error", perr.Error())
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		fail("error", err.Error())
	}
	fields = append(fields, vmtest.Field{Key: "tests", Value: fmt.Sprint(passed)})
	if skipped > 0 {
		fields = append(fields, vmtest.Field{Key: "skipped", Value: fmt.Sprint(skipped)})
	}
	return vmtest.ResultLine(nonce, pass, kernel, fields)
}

// cmdlineParams returns the kernel parameters kmatrix.NAME=VALUE by NAME.
func cmdlineParams() map[string]string {
	params := map[string]string{}
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return params
	}
	for _, word := range strings.Fields(string(b)) {
		kv, ok := strings.CutPrefix(word, vmtest.ParamPrefix)
		if !ok {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		params[k] = v
	}
	return params
}

// envParams returns the values of every kmatrix.env= parameter.
func envParams() []string {
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return nil
	}
	var env []string
	for _, word := range strings.Fields(string(b)) {
		if kv, ok := strings.CutPrefix(word, vmtest.ParamPrefix+"env="); ok && strings.Contains(kv, "=") {
			env = append(env, kv)
		}
	}
	return env
}

// runTest runs one test binary verbosely, copying its output to the
// console, and returns what the output says.
func runTest(bin, timeout string, env []string) (*vmtest.Outcome, error) {
	args := []string{"-test.v", "-test.count=1"}
	if timeout != "" {
		args = append(args, "-test.timeout="+timeout)
	}
	more, err := readArgs(strings.TrimSuffix(bin, ".test") + ".args")
	if err != nil {
		return &vmtest.Outcome{}, err
	}
	args = append(args, more...)
	fmt.Printf("vmtest init: %s %s\n", bin, strings.Join(args, " "))

	pr, pw, err := os.Pipe()
	if err != nil {
		return &vmtest.Outcome{}, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = "/tmp"
	cmd.Env = env
	cmd.Stdout = pw
	cmd.Stderr = pw
	err = cmd.Start()
	pw.Close()
	out := &vmtest.Outcome{}
	if err != nil {
		pr.Close()
		return out, err
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		io.Copy(os.Stdout, pr) // a line longer than the buffer: keep showing it
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// The output ends when every holder of the pipe is gone: a process the
	// test left behind may hold it forever, so stop reading soon after the
	// test itself exits.
	var drain <-chan time.Time
	for lines != nil {
		select {
		case line, ok := <-lines:
			if !ok {
				lines = nil
				break
			}
			fmt.Println(line)
			out.Scan(line)
		case err = <-exited:
			drain = time.After(5 * time.Second)
		case <-drain:
			fmt.Printf("vmtest init: %s exited; a process it left behind still holds its output\n", bin)
			lines = nil
		}
	}
	if drain == nil {
		err = <-exited
	}
	pr.Close()
	return out, err
}

// readArgs reads a .args file: one argument a line, '#' starts a comment.
func readArgs(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var args []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			args = append(args, line)
		}
	}
	return args, nil
}
