//go:build linux && (amd64 || arm64)

package agent_test

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/capdrop/capdrop/agent"
	"github.com/capdrop/capdrop/trace"
)

// TestUnnamedOnTheKernel runs two containers no Pod names through the
// node's tracer, each in a cgroup of its own named like a container ID:
// one laid out as the kubelet lays out a Pod's container
// (…/kubepods/besteffort/pod<UID>/<ID>), one as Docker does
// (…/docker/<ID>). Both end, their cgroups removed, before the Report: the
// kubelet's is listed unnamed with the path the agent found while it
// lived, its Pod's UID, its CAP_CHOWN check (among the Go runtime's);
// Docker's is counted apart, not unnamed. Without the hierarchy ("parents":
// the deployed agent's Pod does not mount it) the same, told by the name of
// each cgroup's parent the tracer read at its first exec.
func TestUnnamedOnTheKernel(t *testing.T) {
	t.Run("paths", func(t *testing.T) { testUnnamedOnTheKernel(t, true) })
	t.Run("parents", func(t *testing.T) { testUnnamedOnTheKernel(t, false) })
}

func testUnnamedOnTheKernel(t *testing.T, paths bool) {
	tr := nodeTracer(t, trace.Options{})
	base := cgroupBase(t)
	c := &clock{t: time.Now()}
	a, err := agent.New(tr, &agent.MemoryStore{}, agent.Info{Node: "n1", TracingSince: c.t})
	if err != nil {
		t.Fatal(err)
	}
	agent.SetClock(a, c.now)
	if paths {
		a.ResolveCgroups(agent.DirResolver{Root: base})
	}
	a.SetPods(nil) // the watch is up, and no Pod names them

	b := make([]byte, 4)
	_, _ = rand.Read(b)
	top := filepath.Join(base, "capdrop-test-"+hex.EncodeToString(b))
	const uid = "4f1e8a52-2b9c-4d0e-9a7f-0c3b5d6e7f80"
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	run := func(parent string) (dir string, id string, cg uint64) {
		t.Helper()
		id = strings.Repeat(hex.EncodeToString(b), 8)[:56] + "00000000"
		if strings.Contains(parent, "docker") {
			id = id[:56] + "11111111"
		}
		dir = filepath.Join(parent, id)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			for d := dir; d != base && strings.HasPrefix(d, top); d = filepath.Dir(d) {
				_ = os.Remove(d)
			}
		})
		var st unix.Stat_t
		if err := unix.Stat(dir, &st); err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(self, "-test.run=^$")
		cmd.Env = append(os.Environ(), containerEnv+"="+dir+" "+f)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("container in %s: %v\n%s", dir, err, out)
		}
		return dir, id, st.Ino
	}
	kubeDir, kubeID, kubeCg := run(filepath.Join(top, "kubepods", "besteffort", "pod"+uid))
	dockerDir, _, dockerCg := run(filepath.Join(top, "docker"))
	if err := a.Poll(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{kubeDir, dockerDir} {
		if err := os.Remove(d); err != nil {
			t.Fatal(err)
		}
	}
	c.t = c.t.Add(agent.NamingGrace)
	r, err := a.Report()
	if err != nil {
		t.Fatal(err)
	}
	var kube *agent.UnnamedContainer
	for i, u := range r.UnnamedContainers {
		switch u.Cgroup {
		case kubeCg:
			kube = &r.UnnamedContainers[i]
		case dockerCg:
			t.Errorf("Docker's container is unnamed: %+v", u)
		}
	}
	if kube == nil {
		t.Fatalf("the kubelet's container (cgroup %d) is not unnamed: %+v", kubeCg, r.UnnamedContainers)
	}
	wantPath, wantParent := strings.TrimPrefix(kubeDir, base), "pod"+uid
	if !paths {
		wantPath = ""
	}
	if kube.CgroupParent != wantParent {
		t.Errorf("unnamed %+v: want its cgroup's parent %s", *kube, wantParent)
	}
	if kube.ID != kubeID || kube.CgroupPath != wantPath || kube.PodUID != uid || kube.Checks == 0 || !slices.Contains(kube.Capabilities, "CAP_CHOWN") {
		t.Errorf("unnamed %+v: want ID %s, path %s, Pod %s, its CAP_CHOWN check", *kube, kubeID, wantPath, uid)
	}
	if r.OtherContainers < 1 {
		t.Errorf("other containers %d: want Docker's counted apart", r.OtherContainers)
	}
}
