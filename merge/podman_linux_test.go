package merge_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/internal/dockertest"
	"github.com/capdrop/capdrop/merge"
	"github.com/capdrop/capdrop/procfs"
	"github.com/capdrop/capdrop/workload"
)

// podmanEnv prepares Podman the way that works on the test machine,
// without touching /etc: a private containers.conf (the distribution's,
// with default_ulimits emptied, because root here lacks CAP_SYS_RESOURCE
// and cannot raise NOFILE) passed in CONTAINERS_CONF.
func podmanEnv(t *testing.T) []string {
	t.Helper()
	base, err := os.ReadFile("/usr/share/containers/containers.conf")
	if err != nil {
		t.Fatalf("podman's containers.conf: %v (install podman: scripts/test-env)", err)
	}
	conf := strings.Replace(string(base), "\n[containers]\n", "\n[containers]\ndefault_ulimits = []\n", 1)
	if conf == string(base) {
		t.Fatal("containers.conf has no [containers] table")
	}
	path := filepath.Join(t.TempDir(), "containers.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return append(os.Environ(), "CONTAINERS_CONF="+path)
}

func podman(env []string, args ...string) (string, error) {
	cmd := exec.Command("podman", args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return strings.TrimSpace(out.String()), fmt.Errorf("podman %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// podmanImage copies a dockertest image into Podman's store.
func podmanImage(t *testing.T, env []string, ref string) string {
	t.Helper()
	save := exec.Command("docker", "save", ref)
	load := exec.Command("podman", "load")
	load.Env = env
	pipe, err := save.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	load.Stdin = pipe
	var out bytes.Buffer
	load.Stdout, load.Stderr = &out, &out
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	if err := save.Run(); err != nil {
		t.Fatal(err)
	}
	if err := load.Wait(); err != nil {
		t.Fatalf("podman load: %v\n%s", err, out.String())
	}
	name := "localhost/" + ref
	t.Cleanup(func() { _, _ = podman(env, "rmi", "-f", name) })
	return name
}

type podmanCase struct {
	args   []string
	image  int // 0: plain image, 1: label CHOWN,SETUID, 2: label SYS_ADMIN
	labels []string
}

// TestPodmanAgainstEngine checks the Podman model against Podman 4.3 with
// runc: the kernel's /proc/<pid>/status for each container equals the
// computed sets, and every predicted refusal is Podman's.
func TestPodmanAgainstEngine(t *testing.T) {
	dockertest.Require(t)
	if _, err := exec.LookPath("podman"); err != nil {
		t.Fatal("podman is missing; run scripts/test-env as root")
	}
	env := podmanEnv(t)
	opts := engineOptions(t)
	plain := podmanImage(t, env, dockertest.Image(t, nil))
	labelled := podmanImage(t, env, dockertest.Image(t, nil, `LABEL io.containers.capabilities="CHOWN,SETUID"`))
	greedy := podmanImage(t, env, dockertest.Image(t, nil, `LABEL io.containers.capabilities="SYS_ADMIN"`))
	images := []string{plain, labelled, greedy}
	labels := [][]string{nil, {"CHOWN", "SETUID"}, {"SYS_ADMIN"}}

	cases := []podmanCase{
		{args: nil},
		{args: []string{"--cap-drop=all", "--cap-add=net_bind_service"}},
		{args: []string{"--cap-add=NET_ADMIN", "--cap-drop=chown"}},
		{args: []string{"--user", "1000", "--cap-add", "net_admin"}},
		{args: []string{"--user", "1000", "--cap-drop=all", "--cap-add=CAP_NET_RAW,kill"}},
		{args: []string{"--cap-add=net_admin", "--cap-drop=NET_ADMIN"}},
		{args: []string{"--cap-add=ALL", "--cap-drop=ALL"}},
		{args: []string{"--cap-add=all", "--cap-drop=sys_admin"}},
		{args: []string{"--privileged"}},
		{args: []string{"--cap-add=sys_resource", "--cap-drop=all"}},
		{args: []string{"--cap-add=bogus"}},
		{args: []string{"--user", "0", "--cap-add=sys_ptrace"}},
		{args: nil, image: 1},
		{args: []string{"--cap-drop=setuid"}, image: 1},
		{args: nil, image: 2},
		{args: []string{"--security-opt", "no-new-privileges", "--cap-drop=all", "--cap-add=setuid"}},
	}
	for i, c := range cases {
		t.Run(fmt.Sprintf("%d %s image%d", i, strings.Join(c.args, " "), c.image), func(t *testing.T) {
			w := runWorkload(t, "podman", c.args, images[c.image])
			if w.Runtime != workload.Podman {
				t.Fatalf("a podman run line was read with %s rules", w.Runtime)
			}
			if l := labels[c.image]; l != nil {
				for _, x := range l {
					w.ImageCaps = append(w.ImageCaps, workload.Word{Text: x})
				}
			}
			got := merge.Compute(w, opts)
			name := fmt.Sprintf("capdrop-podman-%d-%d", os.Getpid(), i)
			t.Cleanup(func() { _, _ = podman(env, "rm", "-f", "-t", "0", name) })
			full := append([]string{"run", "-d", "--name", name, "--runtime", "runc", "--network", "none",
				"--label", dockertest.Label + "=1"}, c.args...)
			full = append(full, images[c.image], "sleep", "3600")
			_, err := podman(env, full...)
			if got.Refusal != nil {
				if err == nil {
					t.Fatalf("capdrop predicts %v, but podman started the container", got.Refusal)
				}
				t.Logf("refused as predicted: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("podman refused (%v); capdrop predicted %+v", err, got.Sets.Names())
			}
			pidText, err := podman(env, "inspect", "--format", "{{.State.Pid}}", name)
			if err != nil {
				t.Fatal(err)
			}
			pid, _ := strconv.Atoi(pidText)
			st, err := procfs.ReadStatus("", pid)
			if err != nil {
				t.Fatal(err)
			}
			if st.Sets != got.Sets {
				t.Errorf("kernel sets differ from capdrop's\nkernel:  %+v\ncapdrop: %+v", st.Sets.Hex(), got.Sets.Hex())
			}
		})
	}
}
