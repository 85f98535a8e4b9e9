package compose

import (
	"testing"

	"github.com/capdrop/capdrop/source/internal/wltest"
)

func TestHost(t *testing.T) {
	got, errs := Parse("host.yml", read(t, "host.yml"), Options{Env: map[string]string{}})
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	want := map[string]string{
		"node-exporter": "pid=host@10:10 net=host@11:19 bind:/>/host,ro,rslave@5:5",
		"cadvisor": "bind:/>/rootfs,ro@20:9 bind:/var/run>/var/run,ro@21:9 bind:/sys>/sys,ro@22:9 " +
			"bind:/var/lib/docker/>/var/lib/docker,ro@23:9 bind:/dev/disk/>/dev/disk,ro@24:9 dev=/dev/kmsg@18:9",
		"proxy": "bind:/var/run/docker.sock>/var/run/docker.sock,ro@31:9 volume:compose_certs>/letsencrypt@35:9 " +
			"bind:./traefik.yml>/etc/traefik/traefik.yml,ro@38:9 opt=apparmor:unconfined@29:9",
		// extends: the runner's own tmpfs replaces the proxy's volume at
		// /letsencrypt; security options and devices add up.
		"runner": "ipc=host@42:10 uts=host@43:10 user=host@44:18 cgroup=host@45:13 " +
			"bind:/var/run/docker.sock>/var/run/docker.sock,ro@31:9 tmpfs:>/letsencrypt@55:9 " +
			"bind:./traefik.yml>/etc/traefik/traefik.yml,ro@38:9 bind:./config>/etc/gitlab-runner@54:9 " +
			"dev=/dev/fuse@47:9 opt=apparmor:unconfined@29:9 opt=seccomp=unconfined@51:9 opt=label=disable@52:9",
		"db": "volume:compose_pgdata>/var/lib/postgresql/data@60:9 volume:>/var/lib/postgresql/data2@61:9",
	}
	for _, w := range got {
		if h := wltest.Host(w.Host); h != want[w.Name] {
			t.Errorf("%s:\n got %s\nwant %s", w.Name, h, want[w.Name])
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d services", len(got))
	}
}
