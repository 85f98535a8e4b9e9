package agent_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/capdrop/capdrop/agent"
	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/trace"
)

// liveResolver answers for the cgroups that still exist, as a node's
// hierarchy would.
type liveResolver map[uint64]string

func (l liveResolver) Resolve(id uint64, name string) string {
	p := l[id]
	if filepath.Base(p) != name {
		return ""
	}
	return p
}

// TestReportUnnamed: a container no Pod names is listed with its cgroup,
// path, Pod UID, command, checks and times, its path found while it lived;
// one of another runtime (outside kubepods) and a sandbox whose only checks
// are the overcommit probe's are counted apart.
func TestReportUnnamed(t *testing.T) {
	idDocker, idPause := strings.Repeat("c", 64), strings.Repeat("e", 64)
	const uid = "0a1b2c3d-0000-4000-8000-00000000000f"
	f := scenario()
	f.root(500, 15, idDocker, trace.TagInit, "/usr/sbin/sshd")
	f.check(15, trace.TagInit, capset.SYS_CHROOT, "sshd", 4)
	f.root(600, 16, idPause, trace.TagInit, "/pause")
	// The sandbox's runtime maps memory: the kernel's overcommit probe.
	f.records = append(f.records, trace.Record{Key: trace.Key{Cgroup: 16, Syscall: 9, Cap: capset.SYS_ADMIN, Denied: true,
		Flags: trace.VMProbe, Comm: "pause", Tag: trace.TagInit}, Count: 16})
	res := liveResolver{
		14: "/kubepods/besteffort/pod" + uid + "/" + idOther,
		15: "/docker/" + idDocker,
		16: "/kubepods/besteffort/pod" + uid + "/" + idPause,
	}
	a := newAgent(t, f, &agent.MemoryStore{})
	a.ResolveCgroups(res)
	now := t0.Add(time.Minute)
	agent.SetClock(a, func() time.Time { return now })
	a.SetPods([]*corev1.Pod{pod()})
	if err := a.Poll(); err != nil {
		t.Fatal(err)
	}
	// The containers end: their cgroups are gone.
	delete(res, 14)
	delete(res, 15)
	now = now.Add(10 * time.Second)
	r, err := a.Report()
	if err != nil {
		t.Fatal(err)
	}
	if r.Unnamed != 0 || r.NamingPending != 1 || !r.PodWatch.Synced {
		t.Fatalf("%ds after its exec, with the watch up: unnamed %d, pending %d, watch %+v; want it pending", 10, r.Unnamed, r.NamingPending, r.PodWatch)
	}
	now = now.Add(agent.NamingGrace)
	r, err = a.Report()
	if err != nil {
		t.Fatal(err)
	}
	if r.Unnamed != 1 || len(r.UnnamedContainers) != 1 || r.OtherContainers != 1 || r.NoiseOnly != 1 {
		t.Fatalf("unnamed %d %+v, other %d, noise only %d: want nginx's container only, Docker's apart, the sandbox (the overcommit probe only) apart",
			r.Unnamed, r.UnnamedContainers, r.OtherContainers, r.NoiseOnly)
	}
	u := r.UnnamedContainers[0]
	if u.Cgroup != 14 || u.ID != idOther || u.CgroupPath != "/kubepods/besteffort/pod"+uid+"/"+idOther || u.PodUID != uid {
		t.Errorf("unnamed container %+v: want cgroup 14, its ID, the path found while it lived and its Pod's UID", u)
	}
	if !slices.Equal(u.Command, []string{"nginx"}) || u.Checks != 1 || !slices.Equal(u.Capabilities, []string{"CAP_NET_BIND_SERVICE"}) {
		t.Errorf("unnamed container %+v: want command nginx, 1 check of CAP_NET_BIND_SERVICE", u)
	}
	if !u.FirstSeen.Equal(t0.Add(time.Minute)) || !u.LastSeen.Equal(t0.Add(70*time.Second)) || u.TimesUnknown || r.NamingPending != 0 {
		t.Errorf("unnamed container seen %s to %s (unknown %v): want its exec's poll to its check's reading", u.FirstSeen, u.LastSeen, u.TimesUnknown)
	}
	// Its checks grow later: LastSeen follows.
	f.records = slices.DeleteFunc(f.records, func(r trace.Record) bool { return r.Cgroup == 14 })
	f.check(14, trace.TagInit, capset.NET_BIND_SERVICE, "nginx", 3)
	now = now.Add(time.Minute)
	if r, err = a.Report(); err != nil {
		t.Fatal(err)
	}
	if u := r.UnnamedContainers[0]; u.Checks != 3 || !u.LastSeen.Equal(now) {
		t.Errorf("after growing: %+v, want 3 checks, last seen %s", u, now)
	}
}

// TestReportUnnamedWithoutPaths: where the hierarchy cannot be read (an
// agent in a Pod without the node's), a container no Pod names counts, its
// path and Pod unknown: it may be a Pod's.
func TestReportUnnamedWithoutPaths(t *testing.T) {
	f := scenario()
	f.gains = append(f.gains, trace.Gain{Cgroup: 14, Tag: trace.TagInit, Source: trace.GainExec, Comm: "nginx", Caps: capset.Of(capset.SETUID), Count: 1})
	a := newAgent(t, f, &agent.MemoryStore{})
	a.ResolveCgroups(agent.DirResolver{Root: t.TempDir()})
	now := t0
	agent.SetClock(a, func() time.Time { return now })
	a.SetPods([]*corev1.Pod{pod()})
	// The watch breaks: a container that starts now is unnamed at once.
	a.PodWatchFailed(errors.New(`pods is forbidden: User "system:serviceaccount:capdrop:capdrop-agent" cannot watch resource "pods"`))
	now = now.Add(time.Second)
	r, err := a.Report()
	if err != nil {
		t.Fatal(err)
	}
	if r.Unnamed != 1 || len(r.UnnamedContainers) != 1 || r.OtherContainers != 0 {
		t.Fatalf("unnamed %d %+v, other %d: want nginx's container", r.Unnamed, r.UnnamedContainers, r.OtherContainers)
	}
	if u := r.UnnamedContainers[0]; u.CgroupPath != "" || u.PodUID != "" || !slices.Equal(u.Capabilities, []string{"CAP_SETUID", "CAP_NET_BIND_SERVICE"}) {
		t.Errorf("unnamed container %+v: want no path, no Pod, the capability checked and the one gained", u)
	}
	if w := r.PodWatch; w.Synced || !w.Since.Equal(t0) || !strings.Contains(w.Error, "cannot watch") {
		t.Errorf("pod watch %+v: want broken since %s, saying why", w, t0)
	}
	// Listed again: synced from then on.
	now = now.Add(time.Second)
	a.SetPods([]*corev1.Pod{pod()})
	if r, err = a.Report(); err != nil {
		t.Fatal(err)
	}
	if w := r.PodWatch; !w.Synced || !w.Since.Equal(now) || w.Error != "" || r.Unnamed != 1 {
		t.Errorf("pod watch %+v, unnamed %d: want synced since %s, the container still unnamed (it started while the watch was down)", w, r.Unnamed, now)
	}
}

// TestReportUnnamedTakenOver: checks an earlier agent counted have no
// time: the container's times are its execs', and say so.
func TestReportUnnamedTakenOver(t *testing.T) {
	f := scenario()
	store := &agent.MemoryStore{}
	a, err := agent.New(f, store, agent.Info{Node: "n1", TracingSince: t0, Started: t0.Add(time.Hour), Pinned: true})
	if err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Hour + time.Minute)
	agent.SetClock(a, func() time.Time { return now })
	a.SetPods([]*corev1.Pod{pod()})
	if err := a.Poll(); err != nil {
		t.Fatal(err)
	}
	now = now.Add(agent.NamingGrace)
	r, err := a.Report()
	if err != nil {
		t.Fatal(err)
	}
	if len(r.UnnamedContainers) != 1 || !r.UnnamedContainers[0].TimesUnknown {
		t.Fatalf("unnamed %+v: want nginx's container, its checks' times unknown", r.UnnamedContainers)
	}
	// A check after the takeover is timed.
	f.records = slices.DeleteFunc(f.records, func(r trace.Record) bool { return r.Cgroup == 14 })
	f.check(14, trace.TagInit, capset.NET_BIND_SERVICE, "nginx", 2)
	now = now.Add(time.Minute)
	if r, err = a.Report(); err != nil {
		t.Fatal(err)
	}
	if u := r.UnnamedContainers[0]; u.TimesUnknown || !u.LastSeen.Equal(now) {
		t.Errorf("after a new check: %+v, want it timed at %s", u, now)
	}
}

// TestDirResolver: the resolver finds a cgroup by name and inode in a real
// directory tree, at depth, and not a directory of the same name and
// another inode.
func TestDirResolver(t *testing.T) {
	root := t.TempDir()
	id := strings.Repeat("b", 64)
	want := filepath.Join(root, "kubepods", "burstable", "pod1234", id)
	decoy := filepath.Join(root, "docker", id)
	for _, d := range []string{want, decoy} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	st, err := os.Stat(want)
	if err != nil {
		t.Fatal(err)
	}
	ino := inodeOf(t, st)
	r := agent.DirResolver{Root: root}
	if got := r.Resolve(ino, id); got != "/kubepods/burstable/pod1234/"+id {
		t.Errorf("resolve = %q, want the kubepods one", got)
	}
	if got := r.Resolve(ino+12345, id); got != "" {
		t.Errorf("resolve of another inode = %q, want none", got)
	}
	if got := (agent.DirResolver{Root: root, MaxDepth: 2}).Resolve(ino, id); got != "" {
		t.Errorf("resolve beyond the depth = %q, want none", got)
	}
}

func TestKubeletPath(t *testing.T) {
	for _, c := range []struct {
		path    string
		kubelet bool
		uid     string
	}{
		{"/kubepods/besteffort/pod0a1b2c3d-0000-4000-8000-00000000000f/" + idOther, true, "0a1b2c3d-0000-4000-8000-00000000000f"},
		{"/kubepods/pod0a1b2c3d-0000-4000-8000-00000000000f/" + idOther, true, "0a1b2c3d-0000-4000-8000-00000000000f"},
		{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0a1b2c3d_0000_4000_8000_00000000000f.slice/cri-containerd-" + idOther + ".scope", true, "0a1b2c3d-0000-4000-8000-00000000000f"},
		{"/kubelet/kubepods/besteffort/pod0a1b2c3d-0000-4000-8000-00000000000f/" + idOther, true, "0a1b2c3d-0000-4000-8000-00000000000f"},
		{"/docker/" + idOther, false, ""},
		{"/system.slice/docker-" + idOther + ".scope", false, ""},
		{"/podman/pod0a1b2c3d-0000-4000-8000-00000000000f/" + idOther, false, ""},
	} {
		k, uid := agent.KubeletPath(c.path)
		if k != c.kubelet || uid != c.uid {
			t.Errorf("KubeletPath(%q) = %v %q, want %v %q", c.path, k, uid, c.kubelet, c.uid)
		}
	}
}

// FuzzKubeletPath: any path, no panic; a Pod UID only under kubepods, in
// the UUID form the API server gives (dashes, never the systemd driver's
// underscores).
func FuzzKubeletPath(f *testing.F) {
	f.Add("/kubepods/besteffort/pod0a1b2c3d-0000-4000-8000-00000000000f/" + idOther)
	f.Add("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0a1b2c3d_0000_4000_8000_00000000000f.slice/cri-containerd-" + idOther + ".scope")
	f.Add("/docker/" + idOther)
	f.Add("")
	f.Fuzz(func(t *testing.T, path string) {
		k, uid := agent.KubeletPath(path)
		if uid != "" && (!k || strings.Contains(uid, "_") || !strings.Contains(path, "pod")) {
			t.Errorf("KubeletPath(%q) = %v %q", path, k, uid)
		}
	})
}

// TestReportUnnamedByParent: without the hierarchy's paths (the agent's own
// Pod does not mount it), the name of the cgroup's parent the tracer read
// at the container's first exec tells a kubelet's container (in its Pod's
// cgroup, whose UID it gives) from Docker's, which is counted apart — on a
// node running Docker beside the kubelet, Docker's containers made every
// profile partial.
func TestReportUnnamedByParent(t *testing.T) {
	idDocker := strings.Repeat("c", 64)
	f := scenario()
	const uid = "0a1b2c3d-0000-4000-8000-00000000000f"
	r := f.roots[400]
	r.CgroupParent = "pod" + uid
	f.roots[400] = r
	f.root(500, 15, idDocker, trace.TagInit, "/usr/sbin/sshd")
	r = f.roots[500]
	r.CgroupParent = "docker"
	f.roots[500] = r
	f.check(15, trace.TagInit, capset.SYS_CHROOT, "sshd", 1)
	f.root(600, 16, strings.Repeat("6", 64), trace.TagInit, "/usr/sbin/chronyd")
	r = f.roots[600]
	r.CgroupParent = "kubepods-burstable-pod" + strings.ReplaceAll(uid, "-", "_") + ".slice"
	f.roots[600] = r
	f.check(16, trace.TagInit, capset.SYS_TIME, "chronyd", 1)
	a := newAgent(t, f, &agent.MemoryStore{})
	a.ResolveCgroups(agent.DirResolver{Root: t.TempDir()})
	agent.SetClock(a, func() time.Time { return t0 })
	a.SetPods([]*corev1.Pod{pod()})
	a.PodWatchFailed(errors.New("watch closed"))
	rep, err := a.Report()
	if err != nil {
		t.Fatal(err)
	}
	if rep.Unnamed != 2 || len(rep.UnnamedContainers) != 2 || rep.OtherContainers != 1 {
		t.Fatalf("unnamed %d %+v, other %d: want the two in Pod cgroups unnamed, Docker's apart", rep.Unnamed, rep.UnnamedContainers, rep.OtherContainers)
	}
	for _, u := range rep.UnnamedContainers {
		if u.ID == idDocker || u.PodUID != uid || u.CgroupPath != "" || !strings.Contains(u.CgroupParent, "pod") {
			t.Errorf("unnamed container %+v: want a kubelet's, in Pod %s by its parent's name", u, uid)
		}
	}
}

func TestKubeletParent(t *testing.T) {
	const uid = "0a1b2c3d-0000-4000-8000-00000000000f"
	for _, c := range []struct {
		parent  string
		kubelet bool
		uid     string
	}{
		{"pod" + uid, true, uid},
		{"kubepods-burstable-pod0a1b2c3d_0000_4000_8000_00000000000f.slice", true, uid},
		{"kubepods-pod0a1b2c3d_0000_4000_8000_00000000000f.slice", true, uid},
		{"docker", false, ""},
		{"system.slice", false, ""},
		{"libpod_parent", false, ""},
		{"besteffort", false, ""},
		{"", false, ""},
	} {
		k, got := agent.KubeletParent(c.parent)
		if k != c.kubelet || got != c.uid {
			t.Errorf("KubeletParent(%q) = %v %q, want %v %q", c.parent, k, got, c.kubelet, c.uid)
		}
	}
}
