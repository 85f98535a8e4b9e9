package audit

import (
	"testing"

	"github.com/capdrop/capdrop/workload"
)

func TestMountRule(t *testing.T) {
	for _, tc := range []struct {
		src  string
		ro   bool
		want string
	}{
		{"/var/run/docker.sock", false, "CD030"},
		{"/var/run/docker.sock", true, "CD030"}, // connect ignores ro
		{"/run/containerd/containerd.sock", true, "CD030"},
		{"/run/user/1000/podman/podman.sock", true, "CD030"},
		{"/var/run", true, "CD030"},
		{"/", false, "CD030"}, // rbind: /run and its sockets come along
		{"/", true, "CD030"},
		{"//var/./run/../run/docker.sock", true, "CD030"},
		{"/etc", false, "CD031"},
		{"/etc/cron.d", false, "CD031"},
		{"/var/lib/kubelet/pods", false, "CD031"},
		{"/var", false, "CD030"}, // /var/run may be a directory, not the link to /run
		{"/var/lib", false, "CD031"},
		{"/root/.ssh", false, "CD031"},
		{"/home/alice", false, "CD031"},
		{"/home/alice/.bashrc", false, "CD031"},
		{"~", false, "CD031"},
		{"~/.kube", true, "CD032"},
		{"$HOME/.aws", true, "CD032"},
		{"/etc", true, "CD032"},
		{"/etc/shadow", true, "CD032"},
		{"/etc/kubernetes/pki", true, "CD032"},
		{"/proc", true, "CD032"},
		{"/sys", true, "CD032"},
		{"/dev/sda", true, "CD032"},
		{"/var/lib/docker/containers", true, "CD032"},
		{"/etc/localtime", true, "CD034"},
		{"/etc/ssl/certs", true, "CD034"},
		{"/sys/fs/cgroup", true, "CD034"},
		{"/dev/log", false, "CD033"},
		{"/home/alice/src/app", false, "CD033"},
		{"/srv/data", false, "CD033"},
		{"./data", false, "CD033"},
		{"$PWD", false, "CD033"},
		{"/srv/data", true, "CD034"},
		{"../config", true, "CD034"},
	} {
		m := workload.Mount{Type: "bind", Source: tc.src, Target: "/x", ReadOnly: tc.ro}
		if got := mountRule(m); got != tc.want {
			t.Errorf("%s (ro %v): %s, want %s", tc.src, tc.ro, got, tc.want)
		}
	}
}

func TestSecOptRule(t *testing.T) {
	for opt, want := range map[string]string{
		"seccomp=unconfined": "CD042", "seccomp:unconfined": "CD042", "seccomp=/p.json": "",
		"apparmor=unconfined": "CD043", "apparmor:unconfined": "CD043", "apparmor=docker-default": "",
		"label=disable": "CD044", "label:disable": "CD044", "label=type:spc_t": "CD044", "label=level:s0:c1": "",
		"systempaths=unconfined": "CD045", "unmask=ALL": "CD045", "unmask=/proc/acpi:/sys/firmware": "CD045", "unmask=/sys/firmware": "",
		"mask=/proc/foo": "",
	} {
		if got := secOptRule(opt); got != want {
			t.Errorf("%s: %q, want %q", opt, got, want)
		}
	}
}

func TestLabelRewrite(t *testing.T) {
	w := workload.Workload{Attrs: map[string]string{"label": "INSTALL=x",
		"command": `docker run --rm --privileged -v /:/host --volume=/etc:/etc:ro --net host -e "A=b c" IMAGE sh -c 'echo --pid=host'`}}
	got, ok := labelRewrite(w, []labelOption{privilegedOption,
		{long: []string{"volume"}, short: 'v', match: sameMount(workload.Mount{Source: "/", Target: "/host"})},
		{long: []string{"network", "net"}, match: func(v string) bool { return v == "host" }},
		{long: []string{"pid"}}}, []string{"--cap-drop=ALL"})
	want := `LABEL INSTALL="docker run --cap-drop=ALL --rm --volume=/etc:/etc:ro -e \"A=b c\" IMAGE sh -c 'echo --pid=host'"`
	if !ok || got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
