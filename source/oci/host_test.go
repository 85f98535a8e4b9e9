package oci

import (
	"os"
	"testing"

	"github.com/capdrop/capdrop/source/internal/wltest"
)

// The fixtures are what the tools wrote: `runc spec` (runc 1.1), and the
// config.json and `docker inspect` of one container Docker 20.10 ran with
// --pid=host --net=host --ipc=host -v /:/host:ro --mount
// type=bind,src=/etc,dst=/e,readonly --device /dev/fuse --security-opt
// seccomp=unconfined --security-opt apparmor=unconfined.
func TestHost(t *testing.T) {
	const state = "/var/lib/docker/containers/93d332ffbf8aa8763a95b122afe85571d8ee7677945802b8f92ea4fdd0214349"
	for file, want := range map[string]string{
		"runc-spec.json": "cgroup=host@138:17 other:proc>/proc@54:3 tmpfs:tmpfs>/dev,nosuid,strictatime,mode=755,size=65536k@59:3 " +
			"other:devpts>/dev/pts,nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5@70:3 tmpfs:shm>/dev/shm,nosuid,noexec,nodev,mode=1777,size=65536k@83:3 " +
			"other:mqueue>/dev/mqueue,nosuid,noexec,nodev@95:3 other:sysfs>/sys,ro,nosuid,noexec,nodev@105:3 " +
			"other:cgroup>/sys/fs/cgroup,ro,nosuid,noexec,nodev,relatime@116:3 opt=seccomp=unconfined@129:11",
		// Docker joins the host's network namespace by its own path, and
		// binds the container's resolv.conf, hostname and hosts from its
		// state directory into every container: not host access.
		"docker-host-config.json": "pid=host@1:2625 net=/var/run/docker/netns/default@1:2668 ipc=host@1:2625 cgroup=host@1:2625 " +
			"other:proc>/proc,nosuid,noexec,nodev@1:383 tmpfs:tmpfs>/dev,nosuid,strictatime,mode=755,size=65536k@1:475 " +
			"other:devpts>/dev/pts,nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5@1:590 other:sysfs>/sys,ro,nosuid,noexec,nodev@1:731 " +
			"other:cgroup>/sys/fs/cgroup,ro,nosuid,noexec,nodev@1:829 other:mqueue>/dev/mqueue,nosuid,noexec,nodev@1:939 " +
			"bind:/etc>/e,ro,rprivate@1:1041 bind:/>/host,ro,rslave@1:1128 " +
			"volume:" + state + "/resolv.conf>/etc/resolv.conf,rprivate,engine-managed@1:1213 " +
			"volume:" + state + "/hostname>/etc/hostname,rprivate,engine-managed@1:1408 " +
			"volume:" + state + "/hosts>/etc/hosts,rprivate,engine-managed@1:1597 " +
			"bind:/dev/shm>/dev/shm,rprivate@1:1780 dev=/dev/fuse@1:2728 opt=seccomp=unconfined@1:1892",
		"docker-host-inspect.json": "pid=host@67:24 net=host@44:28 ipc=host@63:24 cgroup=host@57:29 bind:/>/host,ro@37:17 bind:/etc>/e,ro@123:17 " +
			"dev=/dev/fuse:/dev/fuse:rwm@102:17 opt=seccomp=unconfined@72:17 opt=apparmor=unconfined@73:17 opt=label=disable@74:17",
	} {
		data, err := os.ReadFile("testdata/" + file)
		if err != nil {
			t.Fatal(err)
		}
		ws, errs := Parse(file, data)
		if len(errs) > 0 || len(ws) != 1 {
			t.Fatalf("%s: %d workloads, errors %v", file, len(ws), errs)
		}
		if got := wltest.Host(ws[0].Host); got != want {
			t.Errorf("%s\n got %s\nwant %s", file, got, want)
		}
	}
}
