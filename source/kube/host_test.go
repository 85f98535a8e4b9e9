package kube

import (
	"os"
	"testing"

	"github.com/capdrop/capdrop/source/internal/wltest"
)

func TestHost(t *testing.T) {
	data, err := os.ReadFile("testdata/host.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, errs := Parse("host.yaml", data, false, "")
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	// The sidecar's own seccomp annotation wins over the pod's field, as
	// in the kubelet (container field, container annotation, pod field,
	// pod annotation).
	want := map[string]string{
		"DaemonSet/node-exporter/node-exporter": "pid=host@17:16 net=host@18:20 bind:/proc>/host/proc,ro@25:15 bind:/sys>/host/sys,ro@26:15 bind:/>/host/root,ro@27:15",
		"DaemonSet/agent/loader":                "bind:/boot>/host/boot,ro@56:15 bind:/lib/modules>/host/lib/modules@59:15",
		"DaemonSet/agent/agent": "bind:/var/run/docker.sock>/host/var/run/docker.sock,type=Socket@67:15 bind:/proc>/host/proc,ro@68:15 " +
			"volume:config>/etc/falco@69:15 bind:/etc/falco>/host/etc/falco,ro@70:15 opt=apparmor=unconfined@47:63 opt=label=type:spc_t@65:21",
		"Pod/debug/shell":    "user=host@89:14 opt=systempaths=unconfined@98:20 opt=seccomp=unconfined@91:28 opt=apparmor=unconfined@93:13",
		"Pod/debug/confined": "user=host@89:14",
		"Pod/debug/sidecar":  "user=host@89:14 opt=apparmor=unconfined@93:13",
	}
	for _, w := range got {
		if h := wltest.Host(w.Host); h != want[w.Name] {
			t.Errorf("%s:\n got %s\nwant %s", w.Name, h, want[w.Name])
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d containers", len(got))
	}
}
