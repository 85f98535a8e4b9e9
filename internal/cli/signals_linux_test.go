package cli

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/capdrop/capdrop/internal/dockertest"
)

// TestSignals stops every verb of the real binary with SIGINT or SIGTERM
// at a random point and checks what a user relies on: it stops promptly,
// its exit status says it was interrupted (130, 143; for run, its
// command's status, which the forwarded signal decided; 0 only when it had
// already finished), and it leaves no container, BPF program, temporary
// file or process behind.
func TestSignals(t *testing.T) {
	dockertest.Require(t) // root, an engine, bpftool
	if _, err := exec.LookPath("bpftool"); err != nil {
		t.Fatal("bpftool not installed (scripts/test-env)")
	}
	bin := dockertest.BuildStatic(t, "github.com/capdrop/capdrop/cmd/capdrop")
	img := verifyImage(t)
	label := fmt.Sprintf("capdrop-signal-test=%d", os.Getpid())

	// An audit that takes a while: many compose files.
	big := t.TempDir()
	for i := range 3000 {
		if err := os.WriteFile(filepath.Join(big, fmt.Sprintf("compose-%04d.yaml", i)), []byte("services:\n  web:\n    image: x\n    cap_add: [NET_ADMIN]\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fixDir := t.TempDir()
	compose := filepath.Join(fixDir, "compose.yaml")
	reportDir := t.TempDir()
	// runlabel runs the image's own RUN label: a container that answers
	// SIGINT and SIGTERM (relayed by the docker CLI) as a shell would.
	labelled := labelImage(t, `RUN="docker run --rm --label `+label+` --label `+dockertest.Label+`=1 IMAGE sh -c 'trap \"exit 130\" INT; trap \"exit 143\" TERM; while :; do sleep 1; done'"`)

	verbs := []struct {
		name string
		args []string
		// before runs before each try (fresh input for fix).
		before func()
	}{
		{name: "caps", args: []string{"caps"}},
		{name: "explain", args: []string{"explain", "sys_admin"}},
		{name: "decode", args: []string{"decode", "a80425fb"}},
		{name: "encode", args: []string{"encode", "chown,setuid"}},
		{name: "version", args: []string{"version"}},
		{name: "audit", args: []string{"audit", "--fail-on", "never", big}},
		// JSON spools its findings to a temporary file.
		{name: "audit -o json", args: []string{"audit", "--fail-on", "never", "-o", "json", big}},
		{name: "report", args: []string{"report", "--format", "html", "-o", filepath.Join(reportDir, "r.html"), big}},
		{name: "runlabel", args: []string{"runlabel", labelled}},
		{name: "ps", args: []string{"ps", "-a"}},
		{name: "fix", args: []string{"fix", compose, "--service", "web", "--cap-add", "chown", "--write"}, before: func() {
			if err := os.WriteFile(compose, []byte("services:\n  web:\n    image: x\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "profile", args: []string{"profile", "--", "sleep", "60"}},
		{name: "profile --docker", args: []string{"profile", "--docker", "--", "--label", label, "--label", dockertest.Label + "=1", img, "sleep", "60"}},
		{name: "verify", args: []string{"verify", "--check-running", "60s", "--", "--label", label, "--label", dockertest.Label + "=1", img, "sleep", "600"}},
		{name: "run", args: []string{"run", "--", "sleep", "60"}},
	}
	for _, v := range verbs {
		for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
			t.Run(v.name+"/"+sig.String(), func(t *testing.T) {
				if v.before != nil {
					v.before()
				}
				tmp := t.TempDir()
				cmd := exec.Command(bin, v.args...)
				cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "NO_COLOR=1")
				cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
				var out strings.Builder
				cmd.Stdout, cmd.Stderr = &out, &out
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				pgid := cmd.Process.Pid
				defer syscall.Kill(-pgid, syscall.SIGKILL)
				done := make(chan error, 1)
				go func() { done <- cmd.Wait() }()

				// A random point: anywhere in the first 1.5 s, which for the
				// long verbs is mid-way (containers started, programs loaded).
				delay := time.Duration(rand.IntN(1500)) * time.Millisecond
				var progs map[int]string
				var finished, waited bool
				select {
				case <-done:
					finished, waited = true, true
				case <-time.After(delay):
					progs = progsOf(t, pgid)
					// An error: Wait has already reaped it.
					finished = cmd.Process.Signal(sig) != nil
				}
				// Wait's end is received in every case before its state is
				// read (the race detector saw the read unordered after a
				// signal that came too late).
				if !waited {
					select {
					case <-done:
					case <-time.After(90 * time.Second):
						t.Fatalf("still running 90 s after %s (sent after %s)\n%s", sig, delay, out.String())
					}
				}
				st := cmd.ProcessState.Sys().(syscall.WaitStatus)
				want := 128 + int(sig)
				switch {
				case finished && st.ExitStatus() == 0:
				case finished:
					t.Errorf("finished before the signal with status %d\n%s", st.ExitStatus(), out.String())
				case st.Signaled() && st.Signal() == sig:
					// The signal came before capdrop could catch it: the
					// shell reports 128+N all the same.
				case st.ExitStatus() != want:
					t.Errorf("%s after %s: exit status %d, want %d\n%s", sig, delay, st.ExitStatus(), want, out.String())
				}

				// Nothing left: processes, containers, BPF programs, files.
				if err := syscall.Kill(-pgid, 0); !errors.Is(err, syscall.ESRCH) {
					ps, _ := exec.Command("ps", "-o", "pid,args", "-g", fmt.Sprint(pgid)).CombinedOutput()
					t.Errorf("processes left in capdrop's group:\n%s", ps)
				}
				deadline := time.Now().Add(10 * time.Second)
				for {
					ids := strings.Fields(dockertest.Docker(t, "ps", "-aq", "--filter", "label="+label))
					var left []string
					var all []bpftoolProg
					bpftool(t, &all, "prog", "show")
					for _, p := range all {
						if name, ok := progs[p.ID]; ok {
							left = append(left, "BPF program "+name)
						}
					}
					left = append(left, ids...)
					if len(left) == 0 {
						break
					}
					if time.Now().After(deadline) {
						t.Errorf("left behind: %v", left)
						for _, id := range ids {
							dockertest.Remove(id)
						}
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				if ents, _ := os.ReadDir(tmp); len(ents) > 0 {
					t.Errorf("temporary files left: %v", ents)
				}
				if ents, _ := os.ReadDir(reportDir); len(ents) > 1 || (len(ents) == 1 && ents[0].Name() != "r.html") {
					t.Errorf("report left files beside its output: %v", ents)
				}
				if v.name == "fix" {
					if ents, _ := os.ReadDir(fixDir); len(ents) != 1 {
						t.Errorf("fix left files beside its target: %v", ents)
					}
				}
			})
		}
	}
}

// TestProfileSIGKILLTakesTheWorkload: capdrop profile -- CMD killed with
// SIGKILL (which no cleanup sees) does not leave its command running.
func TestProfileSIGKILLTakesTheWorkload(t *testing.T) {
	dockertest.Require(t)
	bin := dockertest.BuildStatic(t, "github.com/capdrop/capdrop/cmd/capdrop")
	marker := fmt.Sprintf("%d", 100000+rand.IntN(800000))
	cmd := exec.Command(bin, "profile", "--", "sleep", marker)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	sleeping := func() []string {
		out, _ := exec.Command("pgrep", "-f", "^sleep "+marker+"$").Output()
		return strings.Fields(string(out))
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(sleeping()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the workload never started")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil { // capdrop only, not its group
		t.Fatal(err)
	}
	cmd.Wait()
	deadline = time.Now().Add(10 * time.Second)
	for len(sleeping()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the workload outlived capdrop: pids %v", sleeping())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRunlabelInterruptEndsContainers: a runlabel interrupted at any point
// of its docker CLI's life leaves no container running, even when the
// container's init ignores the signal (a shell as PID 1 with no trap: the
// docker CLI relays SIGTERM, nothing happens, and both waited forever) or
// the CLI is cut short between the engine's create and start. Each delay
// is tried with SIGTERM and SIGINT; capdrop says what it stopped and exits
// 143/130.
func TestRunlabelInterruptEndsContainers(t *testing.T) {
	dockertest.Require(t)
	bin := dockertest.BuildStatic(t, "github.com/capdrop/capdrop/cmd/capdrop")
	label := fmt.Sprintf("capdrop-rl-signal-test=%d", os.Getpid())
	img := labelImage(t, `RUN="docker run --rm --label `+label+` --label `+dockertest.Label+`=1 IMAGE sh -c 'while :; do sleep 1; done'"`)
	left := func() []string {
		return strings.Fields(dockertest.Docker(t, "ps", "-aq", "--filter", "label="+label))
	}
	for _, delay := range []time.Duration{100 * time.Millisecond, 300 * time.Millisecond, 500 * time.Millisecond, 3 * time.Second} {
		for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
			t.Run(fmt.Sprintf("%s/%s", sig, delay), func(t *testing.T) {
				cmd := exec.Command(bin, "runlabel", img)
				cmd.Env = append(os.Environ(), "NO_COLOR=1")
				cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
				var out strings.Builder
				cmd.Stdout, cmd.Stderr = &out, &out
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				done := make(chan error, 1)
				go func() { done <- cmd.Wait() }()
				time.Sleep(delay)
				if err := cmd.Process.Signal(sig); err != nil {
					t.Fatalf("capdrop ended before the signal: %v\n%s", err, out.String())
				}
				select {
				case <-done:
				case <-time.After(90 * time.Second):
					t.Fatalf("still running 90 s after %s\n%s", sig, out.String())
				}
				st := cmd.ProcessState.Sys().(syscall.WaitStatus)
				if !(st.Signaled() && st.Signal() == sig) && st.ExitStatus() != 128+int(sig) {
					t.Errorf("exit status %d, want %d\n%s", st.ExitStatus(), 128+int(sig), out.String())
				}
				if err := syscall.Kill(-cmd.Process.Pid, 0); !errors.Is(err, syscall.ESRCH) {
					t.Errorf("processes left in capdrop's group (the docker CLI?)\n%s", out.String())
				}
				// The engine removes a --rm container after it stops.
				deadline := time.Now().Add(15 * time.Second)
				for ids := left(); len(ids) > 0; ids = left() {
					if time.Now().After(deadline) {
						t.Errorf("containers left behind: %v\n%s", ids, out.String())
						for _, id := range ids {
							dockertest.Remove(id)
						}
						break
					}
					time.Sleep(200 * time.Millisecond)
				}
				// The shell as PID 1 ignores SIGTERM (busybox's answers
				// SIGINT): once the container runs, only capdrop's stop
				// ends it.
				if sig == syscall.SIGTERM && delay >= time.Second && !strings.Contains(out.String(), "stopped container(s) still running") {
					t.Errorf("capdrop did not say it stopped the container its command left running:\n%s", out.String())
				}
			})
		}
	}
}
