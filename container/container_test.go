package container

import (
	"strings"
	"testing"

	"github.com/capdrop/capdrop/procfs"
	"github.com/capdrop/capdrop/workload"
)

const (
	id1 = "cad7007695e0339eeadb56c10366455c52ab31ff7b8ad357ccb99f6526583f9a"
	id2 = "9ec39b91f3d70e1beff50a308f77067065ea6be0d91a3378375056cd4422cf3d"
	pod = "74c13223-5a00-11e9-b385-42010a80018d"
	// The same pod UID as the systemd driver writes it in slice names.
	podUnderscores = "74c13223_5a00_11e9_b385_42010a80018d"
)

func TestFromPath(t *testing.T) {
	for _, tc := range []struct {
		name, path string
		want       Ref // zero: not a container
	}{
		// Docker
		{"docker cgroupfs", "/docker/" + id1, Ref{workload.Docker, id1, ""}},
		{"docker systemd", "/system.slice/docker-" + id1 + ".scope", Ref{workload.Docker, id1, ""}},
		{"docker systemd without .scope", "/system.slice/docker-" + id1, Ref{workload.Docker, id1, ""}},
		{"docker rootless systemd", "/user.slice/user-1000.slice/user@1000.service/user.slice/docker-" + id1 + ".scope", Ref{workload.Docker, id1, ""}},
		{"docker rootless cgroupfs", "/user.slice/user-1000.slice/user@1000.service/docker.service/docker/" + id1, Ref{workload.Docker, id1, ""}},
		{"docker in docker: outermost wins", "/docker/" + id1 + "/docker/" + id2, Ref{workload.Docker, id1, ""}},
		{"docker under kubernetes (dockershim, systemd)", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + podUnderscores + ".slice/docker-" + id1 + ".scope", Ref{workload.Docker, id1, pod}},
		// containerd CRI
		{"containerd cgroupfs burstable", "/kubepods/burstable/pod" + pod + "/" + id1, Ref{workload.Containerd, id1, pod}},
		{"containerd cgroupfs guaranteed", "/kubepods/pod" + pod + "/" + id1, Ref{workload.Containerd, id1, pod}},
		{"containerd cgroupfs besteffort", "/kubepods/besteffort/pod" + pod + "/" + id1, Ref{workload.Containerd, id1, pod}},
		{"containerd systemd burstable", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + podUnderscores + ".slice/cri-containerd-" + id1 + ".scope", Ref{workload.Containerd, id1, pod}},
		{"containerd systemd guaranteed", "/kubepods.slice/kubepods-pod" + podUnderscores + ".slice/cri-containerd-" + id1 + ".scope", Ref{workload.Containerd, id1, pod}},
		{"containerd kind node (nested kubelet)", "/docker/" + id2 + "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod" + podUnderscores + ".slice/cri-containerd-" + id1 + ".scope", Ref{workload.Docker, id2, ""}},
		{"containerd k3s cgroupfs", "/kubepods/besteffort/pod" + pod + "/" + id1, Ref{workload.Containerd, id1, pod}},
		// CRI-O
		{"crio systemd", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + podUnderscores + ".slice/crio-" + id1 + ".scope", Ref{workload.CRIO, id1, pod}},
		{"crio cgroupfs", "/kubepods/burstable/pod" + pod + "/crio-" + id1, Ref{workload.CRIO, id1, pod}},
		{"crio conmon is not the container", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + podUnderscores + ".slice/crio-conmon-" + id1 + ".scope", Ref{}},
		{"crio without pod", "/system.slice/crio-" + id1 + ".scope", Ref{workload.CRIO, id1, ""}},
		// Podman
		{"podman root systemd", "/machine.slice/libpod-" + id1 + ".scope", Ref{workload.Podman, id1, ""}},
		{"podman root systemd, split cgroup", "/machine.slice/libpod-" + id1 + ".scope/container", Ref{workload.Podman, id1, ""}},
		{"podman pod", "/machine.slice/machine-libpod_pod_" + id2 + ".slice/libpod-" + id1 + ".scope", Ref{workload.Podman, id1, ""}},
		{"podman cgroupfs", "/libpod_parent/libpod-" + id1, Ref{workload.Podman, id1, ""}},
		{"podman rootless", "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + id1 + ".scope", Ref{workload.Podman, id1, ""}},
		{"podman rootless app.slice", "/user.slice/user-1000.slice/user@1000.service/app.slice/libpod-" + id1 + ".scope/container", Ref{workload.Podman, id1, ""}},
		{"podman conmon is not the container", "/machine.slice/libpod-conmon-" + id1 + ".scope", Ref{}},
		{"podman rootless conmon", "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-conmon-" + id1 + ".scope", Ref{}},
		// Not containers
		{"root", "/", Ref{}},
		{"empty", "", Ref{}},
		{"systemd service", "/system.slice/docker.service", Ref{}},
		{"user session", "/user.slice/user-0.slice/session-3.scope", Ref{}},
		{"init scope", "/init.scope", Ref{}},
		{"kubelet pod slice itself", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + podUnderscores + ".slice", Ref{}},
		{"short id", "/docker/" + id1[:12], Ref{}},
		{"upper-case id", "/docker/" + strings.ToUpper(id1), Ref{}},
		{"id too long", "/system.slice/docker-" + id1 + "0.scope", Ref{}},
		{"bare id outside docker and kubepods", "/" + id1, Ref{}},
		{"bare id under another parent", "/process_api/" + id1, Ref{}},
		{"docker-compose scope is not an id", "/system.slice/docker-compose.scope", Ref{}},
		{"pod segment outside kubepods", "/pod" + pod + "/" + id1, Ref{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := FromPath(tc.path)
			if ok != (tc.want != Ref{}) || got != tc.want {
				t.Errorf("FromPath(%q) = %+v, %v; want %+v", tc.path, got, ok, tc.want)
			}
		})
	}
}

func TestPodUIDMalformed(t *testing.T) {
	// A pod slice whose UID is not a UUID gives the container but no pod.
	got, ok := FromPath("/kubepods.slice/kubepods-podnotauid.slice/cri-containerd-" + id1 + ".scope")
	if !ok || got.PodUID != "" || got.ID != id1 {
		t.Errorf("got %+v %v", got, ok)
	}
}

func TestFromCgroups(t *testing.T) {
	parse := func(text string) []procfs.Cgroup {
		cg, err := procfs.ParseCgroup(strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		return cg
	}
	for _, tc := range []struct {
		name, file string
		want       Ref
	}{
		{"v1 and v2 hybrid, this machine", `9:name=systemd:/docker/` + id1 + `
8:pids:/docker/` + id1 + `
4:memory:/process_api/5b513e52d271d9700247037ee8f2e418
1:cpu:/docker/` + id1 + `
0::/docker/` + id1 + `
`, Ref{workload.Docker, id1, ""}},
		{"pure v2 systemd", "0::/system.slice/docker-" + id1 + ".scope\n", Ref{workload.Docker, id1, ""}},
		{"v1 only, centos", `10:devices:/system.slice/docker-` + id1 + `.scope
2:cpuacct,cpu:/system.slice/docker-` + id1 + `.scope
1:name=systemd:/system.slice/docker-` + id1 + `.scope
`, Ref{workload.Docker, id1, ""}},
		{"v2 line wins over v1", `1:name=systemd:/docker/` + id2 + `
0::/system.slice/docker-` + id1 + `.scope
`, Ref{workload.Docker, id1, ""}},
		{"v2 root falls back to v1", `1:name=systemd:/docker/` + id2 + `
0::/
`, Ref{workload.Docker, id2, ""}},
		{"host process", "0::/init.scope\n", Ref{}},
		{"host process, hybrid", "9:name=systemd:/\n4:memory:/process_api/5b513e52d271d9700247037ee8f2e418\n0::/\n", Ref{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := FromCgroups(parse(tc.file))
			if ok != (tc.want != Ref{}) || got != tc.want {
				t.Errorf("got %+v, %v; want %+v", got, ok, tc.want)
			}
		})
	}
}

func TestShortID(t *testing.T) {
	if got := (Ref{ID: id1}).ShortID(); got != "cad7007695e0" {
		t.Errorf("ShortID = %q", got)
	}
}

func FuzzFromPath(f *testing.F) {
	f.Add("/docker/" + id1)
	f.Add("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + podUnderscores + ".slice/cri-containerd-" + id1 + ".scope")
	f.Add("/kubepods/burstable/pod" + pod + "/" + id1)
	f.Add("/machine.slice/libpod-conmon-" + id1 + ".scope")
	f.Add("/kubepods-pod/pod")
	f.Fuzz(func(t *testing.T, path string) {
		r, ok := FromPath(path)
		if !ok {
			if r != (Ref{}) {
				t.Fatalf("not ok but %+v", r)
			}
			return
		}
		if !isID(r.ID) || !strings.Contains(path, r.ID) {
			t.Fatalf("ID %q is not a container ID from %q", r.ID, path)
		}
		switch r.Runtime {
		case workload.Docker, workload.Containerd, workload.CRIO, workload.Podman:
		default:
			t.Fatalf("runtime %q", r.Runtime)
		}
		if r.PodUID != "" && !isUUID(r.PodUID) {
			t.Fatalf("pod UID %q", r.PodUID)
		}
		if strings.Contains(path, "conmon-"+r.ID) && !strings.Contains(strings.ReplaceAll(path, "conmon-"+r.ID, ""), r.ID) {
			t.Fatalf("attributed a conmon scope: %q", path)
		}
	})
}
