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
	"github.com/capdrop/capdrop/workload"
)

// rootlessUser is the unprivileged account scripts/test-env creates (with
// /etc/subuid and /etc/subgid ranges) to run rootless Podman.
const rootlessUser = "capdrop-rootless"

// TestPodmanUserNamespaces checks the Podman model for user namespaces
// against the real Podman 4.3: rootless (as rootlessUser) with keep-id
// (plain, uid=, with --user 0, with an added capability), nomap, auto,
// explicit uid maps and --privileged; rootful with keep-id and nomap
// (refused) and an explicit uid map. The kernel's sets of each container
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
		{[]string{"--uidmap", "0:1:1000", "--gidmap", "0:1:1000"}, true},
		{[]string{"--privileged"}, true},
		{[]string{"--cap-add=sys_admin"}, true},
		{[]string{"--userns=keep-id"}, false},
		{[]string{"--userns=nomap"}, false},
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
		})
	}
	_ = workload.Podman // the runtime of every case
}
