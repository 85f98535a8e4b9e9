package quadlet

import (
	"os"
	"testing"

	"github.com/capdrop/capdrop/source/internal/wltest"
)

func TestHost(t *testing.T) {
	data, err := os.ReadFile("testdata/agent.container")
	if err != nil {
		t.Fatal(err)
	}
	ws, errs := Parse("agent.container", data)
	if len(errs) > 0 || len(ws) != 1 {
		t.Fatalf("%d workloads, errors %v", len(ws), errs)
	}
	want := "pid=host@18:18 net=host@8:9 ipc=host@19:9 user=host@17:8 " +
		"bind:/run/podman/podman.sock>/var/run/docker.sock,ro@9:8 volume:agent-data.volume>/data@10:8 " +
		"bind:~/.config/agent>/etc/agent,Z@11:8 bind:/proc>/host/proc,ro@12:7 " +
		"dev=/dev/dri@13:11 dev=/dev/kmsg@19:23 " +
		"opt=label=disable@14:22 opt=seccomp=unconfined@15:16 opt=unmask=ALL@16:8"
	if got := wltest.Host(ws[0].Host); got != want {
		t.Errorf("\n got %s\nwant %s", got, want)
	}
}
