package merge_test

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/internal/dockertest"
	"github.com/capdrop/capdrop/merge"
	"github.com/capdrop/capdrop/procfs"
	"github.com/capdrop/capdrop/source"
)

// rootlessUser is the unprivileged account scripts/test-env creates (with
// /etc/subuid and /etc/subgid ranges) to run rootless Podman.
const rootlessUser = "capdrop-rootless"

// TestPodmanUserNamespaces checks the Podman model for user namespaces
// against the real Podman 4.3: rootless (as rootlessUser) with keep-id
// (plain, uid=, with --user 0, with an added capability), nomap, auto,
// explicit uid maps and --privileged; rootful with keep-id and nomap
// (refused), auto (from the subordinate ids of the user "containers") and
// an explicit uid map. Then Quadlet units: each unit is read by capdrop
// from where it lies (a user unit under ~/.config/containers/systemd is
// rootless, a system one under /etc/containers/systemd is not), turned
// into its podman command by the real Quadlet generator, and run as the
// user or as root as systemd would. The kernel's sets of each container
// must equal what capdrop computes; every refusal must be Podman's.
func TestPodmanUserNamespaces(t *testing.T) {
	dockertest.Require(t)
	if _, err := exec.LookPath("podman"); err != nil {
		t.Fatal("podman is missing; run scripts/test-env as root")
	}
	u, err := user.Lookup(rootlessUser)
	if err != nil {
		t.Fatalf("no user %s for rootless Podman (scripts/test-env creates it): %v", rootlessUser, err)
	}
	if _, err := exec.LookPath("newuidmap"); err != nil {
		t.Fatal("newuidmap is missing (Debian's uidmap package; scripts/test-env installs it)")
	}
	rootEnv := podmanEnv(t)
	opts := engineOptions(t)
	image := dockertest.Image(t, nil)
	rootful := podmanImage(t, rootEnv, image)

	// The rootless user's own Podman: its configuration and runtime
	// directory, readable by it, and the image loaded into its store.
	home := t.TempDir()
	if err := os.Chmod(home, 0o755); err != nil {
		t.Fatal(err)
	}
	var conf string
	for _, e := range rootEnv {
		if v, ok := strings.CutPrefix(e, "CONTAINERS_CONF="); ok {
			conf = v
		}
	}
	// The test's temporary directories are root's (0700): let the user
	// through to the configuration and its home.
	for _, d := range []string{filepath.Dir(conf), filepath.Dir(filepath.Dir(conf)), filepath.Dir(home)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	xdg := filepath.Join(home, "run")
	if err := os.Mkdir(xdg, 0o700); err != nil || os.Chown(xdg, uid, gid) != nil {
		t.Fatalf("runtime dir: %v", err)
	}
	tar := filepath.Join(home, "image.tar")
	if out, err := exec.Command("docker", "save", "-o", tar, image).CombinedOutput(); err != nil {
		t.Fatalf("docker save: %v\n%s", err, out)
	}
	_ = os.Chmod(tar, 0o644)
	rootless := func(args ...string) (string, error) {
		cmd := exec.Command("runuser", append([]string{"-u", rootlessUser, "--", "env", "HOME=" + u.HomeDir,
			"XDG_RUNTIME_DIR=" + xdg, "CONTAINERS_CONF=" + conf, "podman", "--cgroup-manager", "cgroupfs"}, args...)...)
		cmd.Dir = home
		out, err := cmd.CombinedOutput()
		if err != nil {
			return strings.TrimSpace(string(out)), fmt.Errorf("podman (rootless) %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out)), nil
	}
	if _, err := rootless("load", "-i", tar); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = rootless("rmi", "-f", "localhost/"+image) })

	cases := []struct {
		args     []string
		rootless bool
	}{
		{nil, true},
		{[]string{"--userns=keep-id"}, true},
		{[]string{"--userns=keep-id:uid=200,gid=200"}, true},
		{[]string{"--userns=keep-id", "--user", "0"}, true},
		{[]string{"--userns=keep-id", "--cap-add=net_admin"}, true},
		{[]string{"--userns=keep-id", "--cap-drop=all", "--cap-add=chown"}, true},
		{[]string{"--userns=nomap"}, true},
		{[]string{"--userns=auto"}, true},
		{[]string{"--userns=auto", "--cap-drop=all", "--cap-add=net_raw"}, true},
		{[]string{"--uidmap", "0:1:1000", "--gidmap", "0:1:1000"}, true},
		{[]string{"--privileged"}, true},
		{[]string{"--cap-add=sys_admin"}, true},
		{[]string{"--userns=keep-id"}, false},
		{[]string{"--userns=nomap"}, false},
		{[]string{"--userns=auto"}, false},
		{[]string{"--userns=auto:size=2048", "--cap-add=sys_time"}, false},
		{[]string{"--uidmap", "0:100000:65536", "--gidmap", "0:100000:65536"}, false},
	}
	for i, c := range cases {
		mode := "rootful"
		if c.rootless {
			mode = "rootless"
		}
		t.Run(fmt.Sprintf("%d %s %s", i, mode, strings.Join(c.args, " ")), func(t *testing.T) {
			w := runWorkload(t, "podman", c.args, "img")
			if c.rootless {
				w.Rootless = true // run by the user, as a Quadlet user unit is
			} else if w.Rootless {
				// The run line alone says rootless for keep-id and nomap
				// (Podman refuses them otherwise); here it runs as root.
				w.Rootless = false
			}
			got := merge.Compute(w, opts)
			name := fmt.Sprintf("capdrop-userns-%d-%d", os.Getpid(), i)
			full := append([]string{"run", "-d", "--name", name, "--runtime", "runc", "--network", "none",
				"--label", dockertest.Label + "=1"}, c.args...)
			run, inspect := rootless, func(args ...string) (string, error) { return rootless(args...) }
			img := "localhost/" + image
			if !c.rootless {
				run = func(args ...string) (string, error) { return podman(rootEnv, args...) }
				inspect = run
				img = rootful
			}
			t.Cleanup(func() { _, _ = run("rm", "-f", "-t", "0", name) })
			_, err := run(append(full, img, "sleep", "3600")...)
			compareContainer(t, got, err, name, inspect)
		})
	}

	// Quadlet units, user and system ones.
	units := []struct {
		body     string // the [Container] keys besides Image= and Exec=
		system   bool   // under /etc/containers/systemd, run by root
		rootless bool   // what capdrop must read from the unit's place
	}{
		{"", false, true},
		{"UserNS=keep-id\n", false, true},
		{"UserNS=keep-id\nAddCapability=NET_ADMIN\n", false, true},
		{"UserNS=keep-id\nUser=0\n", false, true},
		{"DropCapability=ALL\nAddCapability=CHOWN NET_BIND_SERVICE\n", false, true},
		{"UserNS=auto\n", false, true},
		{"User=1000\nAddCapability=SYS_PTRACE\n", false, true},
		{"PodmanArgs=--privileged\n", false, true},
		{"UserNS=keep-id\n", true, false},
		{"UserNS=auto\nAddCapability=NET_ADMIN\n", true, false},
		{"DropCapability=ALL\nAddCapability=CHOWN\n", true, false},
	}
	etc := filepath.Join(t.TempDir(), "etc", "containers", "systemd")
	for i, c := range units {
		where := filepath.Join(home, ".config", "containers", "systemd")
		img, run := "localhost/"+image, rootless
		if c.system {
			where, img = etc, rootful
			run = func(args ...string) (string, error) { return podman(rootEnv, args...) }
		}
		name := fmt.Sprintf("capdrop-quadlet-%d-%d", os.Getpid(), i)
		file := filepath.Join(where, name+".container")
		t.Run(fmt.Sprintf("quadlet %d %s", i, strings.TrimPrefix(file, home)), func(t *testing.T) {
			unit := "[Container]\nImage=" + img + "\nExec=sleep 3600\n" + c.body
			if err := os.MkdirAll(where, 0o755); err != nil || os.WriteFile(file, []byte(unit), 0o644) != nil {
				t.Fatalf("unit: %v", err)
			}
			ws, errs := source.Parse(file, []byte(unit), source.Options{})
			if len(errs) > 0 || len(ws) != 1 {
				t.Fatalf("capdrop read %d workloads, errors %v", len(ws), errs)
			}
			if ws[0].Rootless != c.rootless {
				t.Errorf("capdrop reads the unit as rootless=%v, want %v", ws[0].Rootless, c.rootless)
			}
			got := merge.Compute(ws[0], opts)
			args := quadletCommand(t, where, name, xdg)
			t.Cleanup(func() { _, _ = run("rm", "-f", "-t", "0", name) })
			_, err := run(args...)
			compareContainer(t, got, err, name, run)
		})
	}
}

// quadletBinary is Podman's Quadlet generator: Debian's podman 4.3 has
// none, so scripts/test-env unpacks the one of a newer Debian podman
// package there, without installing the package.
const quadletBinary = "/usr/local/libexec/capdrop/quadlet"

// quadletCommand turns the unit NAME.container in dir into the podman
// command of its service's ExecStart, with the real Quadlet generator,
// less what needs systemd to start it (--cgroups=split, --sdnotify=conmon,
// the cid file) and plus what Podman needs on this host (runc, no network,
// cgroupfs) and the test's label.
func quadletCommand(t *testing.T, dir, name, runtimeDir string) []string {
	t.Helper()
	if _, err := os.Stat(quadletBinary); err != nil {
		t.Fatalf("Podman's quadlet generator is missing (%v); run scripts/test-env as root", err)
	}
	gen := exec.Command(quadletBinary, "-dryrun")
	gen.Env = append(os.Environ(), "QUADLET_UNIT_DIRS="+dir)
	service, err := gen.Output()
	if err != nil {
		t.Fatalf("quadlet: %v", err)
	}
	var words []string
	inUnit := false
	for _, l := range strings.Split(string(service), "\n") {
		if strings.HasPrefix(l, "---") {
			inUnit = strings.Contains(l, name+".service")
		}
		if w, ok := strings.CutPrefix(l, "ExecStart="); ok && inUnit {
			words = strings.Fields(w)
		}
	}
	if len(words) < 2 || !strings.HasSuffix(words[0], "podman") {
		t.Fatalf("no podman ExecStart for %s in:\n%s", name, service)
	}
	var args []string
	for _, a := range words[1:] {
		a = strings.NewReplacer("%N", name, "%t", runtimeDir).Replace(a)
		switch {
		case a == "--cgroups=split" || a == "--sdnotify=conmon" || strings.HasPrefix(a, "--cidfile="):
			continue
		case a == "systemd-"+name:
			a = name
		}
		args = append(args, a)
		if a == "run" {
			args = append(args, "--runtime", "runc", "--network", "none", "--label", dockertest.Label+"=1")
		}
	}
	return args
}

// compareContainer checks a podman run's outcome against capdrop's: the
// same refusal, or a container whose process holds exactly the sets
// capdrop computed.
func compareContainer(t *testing.T, got merge.Result, err error, name string, inspect func(...string) (string, error)) {
	t.Helper()
	if got.Refusal != nil {
		if err == nil {
			t.Fatalf("capdrop predicts %v, but podman started the container", got.Refusal)
		}
		if !strings.Contains(err.Error(), got.Refusal.Message) {
			t.Errorf("podman refused with %v; capdrop said %q", err, got.Refusal.Message)
		}
		return
	}
	if err != nil {
		t.Fatalf("podman refused (%v); capdrop predicted %v", err, got.Sets.Names())
	}
	pidText, err := inspect("inspect", "--format", "{{.State.Pid}}", name)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(pidText)
	st, err := procfs.ReadStatus("", pid)
	if err != nil {
		t.Fatal(err)
	}
	if st.Sets != got.Sets {
		t.Errorf("kernel sets differ from capdrop's (%s)\nkernel:  %+v\ncapdrop: %+v", got.User, st.Sets.Hex(), got.Sets.Hex())
	}
}
