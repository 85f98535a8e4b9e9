//go:build linux

package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/capdrop/capdrop/internal/dockertest"
)

type bpftoolProg struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

type bpftoolLink struct {
	ID     int `json:"id"`
	ProgID int `json:"prog_id"`
}

func bpftool(t *testing.T, out any, args ...string) {
	t.Helper()
	b, err := exec.Command("bpftool", append([]string{"-j"}, args...)...).Output()
	if err != nil {
		t.Fatalf("bpftool %s: %v", strings.Join(args, " "), err)
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		b = []byte("[]")
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("bpftool %s: %v\n%s", strings.Join(args, " "), err, b)
	}
}

// progsOf returns the IDs and names of the BPF programs process pid holds
// file descriptors of (fdinfo's prog_id), as bpftool lists them.
func progsOf(t *testing.T, pid int) map[int]string {
	ids := map[int]bool{}
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fdinfo", pid))
	for _, fd := range fds {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, fd.Name()))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "prog_id:"); ok {
				if id, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
					ids[id] = true
				}
			}
		}
	}
	var progs []bpftoolProg
	bpftool(t, &progs, "prog", "show")
	out := map[int]string{}
	for _, p := range progs {
		if ids[p.ID] {
			out[p.ID] = p.Name
		}
	}
	return out
}

// TestProfileSIGKILLLeavesNothing kills a profiling capdrop with SIGKILL
// (no chance to clean up) and checks with bpftool that none of its
// programs or links is left in the kernel: nothing is pinned, so the
// kernel drops them with the process's file descriptors.
func TestProfileSIGKILLLeavesNothing(t *testing.T) {
	dockertest.Require(t) // root
	if _, err := exec.LookPath("bpftool"); err != nil {
		t.Fatal("bpftool not installed (scripts/test-env)")
	}
	bin := dockertest.BuildStatic(t, "github.com/capdrop/capdrop/cmd/capdrop")
	cmd := exec.Command(bin, "profile", "--", "sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)

	var mine map[int]string
	deadline := time.Now().Add(30 * time.Second)
	for {
		mine = progsOf(t, cmd.Process.Pid)
		if len(mine) >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("capdrop (pid %d) loaded no programs: %v", cmd.Process.Pid, mine)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var links []bpftoolLink
	bpftool(t, &links, "link", "show")
	attached := 0
	for _, l := range links {
		if _, ok := mine[l.ProgID]; ok {
			attached++
		}
	}
	if attached < 4 {
		t.Fatalf("%d links to capdrop's programs %v, want the hook and 3 trackers", attached, mine)
	}

	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	// The kernel frees programs after an RCU grace period.
	deadline = time.Now().Add(10 * time.Second)
	for {
		var progs []bpftoolProg
		bpftool(t, &progs, "prog", "show")
		bpftool(t, &links, "link", "show")
		var left []string
		for _, p := range progs {
			if name, ok := mine[p.ID]; ok {
				left = append(left, "prog "+name)
			}
		}
		for _, l := range links {
			if name, ok := mine[l.ProgID]; ok {
				left = append(left, "link of "+name)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("10s after SIGKILL, still in the kernel: %v", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestProfileWithoutPrivilegesExits3 runs capdrop with CAP_BPF, CAP_PERFMON
// and CAP_SYS_ADMIN removed from its bounding set: it must refuse with exit
// code 3 and name what is missing.
func TestProfileWithoutPrivilegesExits3(t *testing.T) {
	dockertest.Require(t)
	bin := dockertest.BuildStatic(t, "github.com/capdrop/capdrop/cmd/capdrop")
	cmd := exec.Command("setpriv", "--bounding-set=-bpf,-perfmon,-sys_admin", "--inh-caps=-all",
		bin, "profile", "--", "true")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err == nil || !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("exit = %v, want 3\n%s", err, out)
	}
	for _, want := range []string{"CAP_BPF", "CAP_PERFMON"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("message does not name %s:\n%s", want, out)
		}
	}
}

// TestProfileSIGTERMStopsAndReports sends SIGTERM to a profiling capdrop:
// it stops the command, prints its report, detaches everything and exits
// 143, saying it was terminated.
func TestProfileSIGTERMStopsAndReports(t *testing.T) {
	dockertest.Require(t)
	bin := dockertest.BuildStatic(t, "github.com/capdrop/capdrop/cmd/capdrop")
	cmd := exec.Command(bin, "profile", "-o", "json", "--", "sleep", "60")
	var out strings.Builder
	cmd.Stdout = &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	var mine map[int]string
	deadline := time.Now().Add(30 * time.Second)
	for len(mine) < 4 {
		if time.Now().After(deadline) {
			t.Fatal("capdrop loaded no programs")
		}
		time.Sleep(50 * time.Millisecond)
		mine = progsOf(t, cmd.Process.Pid)
	}
	time.Sleep(200 * time.Millisecond) // let it find the command's root
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); cmd.ProcessState.ExitCode() != 143 {
		t.Fatalf("capdrop after SIGTERM: %v, want exit status 143", err)
	}
	var p struct {
		Target struct {
			Kind string `json:"kind"`
		} `json:"target"`
		Needed []string `json:"needed"`
	}
	if err := json.Unmarshal([]byte(out.String()), &p); err != nil || p.Target.Kind != "command" {
		t.Fatalf("no profile printed after SIGTERM (%v):\n%s", err, out.String())
	}
	var progs []bpftoolProg
	bpftool(t, &progs, "prog", "show")
	for _, pr := range progs {
		if _, ok := mine[pr.ID]; ok {
			// Freed after an RCU grace period; Close already ran.
			time.Sleep(time.Second)
			bpftool(t, &progs, "prog", "show")
			for _, pr := range progs {
				if _, ok := mine[pr.ID]; ok {
					t.Errorf("program %d (%s) still loaded after capdrop exited", pr.ID, pr.Name)
				}
			}
			break
		}
	}
}
