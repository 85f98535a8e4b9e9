package merge_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capdrop/capdrop/internal/dockertest"
	"github.com/capdrop/capdrop/merge"
	"github.com/capdrop/capdrop/procfs"
	"github.com/capdrop/capdrop/workload"
)

// criEnv is a private containerd with its CRI plugin, separate from
// Docker's (own config, root, state and socket), set up as the test
// machine needs: sandboxes on the host network so no CNI is needed,
// restrict_oom_score_adj because root here cannot lower OOM scores, and
// images loaded from Docker with `docker save | ctr images import`.
type criEnv struct {
	sock   string
	client string
	image  string
	pods   []string
}

func startCRI(t *testing.T) *criEnv {
	t.Helper()
	for _, bin := range []string{"containerd", "ctr", "containerd-shim-runc-v2", "runc"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is missing (Debian's containerd and runc come with docker.io: scripts/test-env)", bin)
		}
	}
	// A short directory: unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "capdrop-cri-")
	if err != nil {
		t.Fatal(err)
	}
	e := &criEnv{sock: filepath.Join(dir, "containerd.sock")}

	// The CRI client is a module of its own under testdata, so capdrop
	// does not depend on k8s.io/cri-api.
	e.client = filepath.Join(dir, "criclient")
	build := exec.Command("go", "build", "-o", e.client, ".")
	build.Dir = filepath.Join("testdata", "criclient")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the CRI client: %v\n%s", err, out)
	}

	sandbox := "docker.io/" + dockertest.Image(t, nil, `ENTRYPOINT ["/bin/sh", "-c", "exec sleep 999999"]`)
	e.image = "docker.io/" + dockertest.Image(t, nil)
	conf := fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = %[3]q
[ttrpc]
  address = "%[3]s.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[4]q
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "%[5]s/cni-bin"
    conf_dir = "%[5]s/cni-conf"
[plugins."io.containerd.internal.v1.opt"]
  path = "%[5]s/opt"
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), e.sock, sandbox, dir)
	confPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	daemon := exec.Command("containerd", "--config", confPath)
	daemon.Stdout, daemon.Stderr = logf, logf
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if len(e.pods) > 0 {
			_, _ = e.run(append([]string{"rm"}, e.pods...)...)
		}
		_ = daemon.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = daemon.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = daemon.Process.Kill()
			<-done
		}
		logf.Close()
		_ = exec.Command("umount", "-R", filepath.Join(dir, "state")).Run()
		_ = os.RemoveAll(dir)
	})
	for i := 0; ; i++ {
		if _, err := os.Stat(e.sock); err == nil {
			break
		}
		if i == 100 {
			log, _ := os.ReadFile(filepath.Join(dir, "containerd.log"))
			t.Fatalf("containerd did not come up:\n%s", log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, ref := range []string{sandbox, e.image} {
		save := exec.Command("docker", "save", strings.TrimPrefix(ref, "docker.io/"))
		imp := exec.Command("ctr", "-a", e.sock, "-n", "k8s.io", "images", "import", "-")
		pipe, err := save.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		imp.Stdin = pipe
		var out bytes.Buffer
		imp.Stdout, imp.Stderr = &out, &out
		if err := imp.Start(); err != nil {
			t.Fatal(err)
		}
		if err := save.Run(); err != nil {
			t.Fatal(err)
		}
		if err := imp.Wait(); err != nil {
			t.Fatalf("ctr images import: %v\n%s", err, out.String())
		}
	}
	return e
}

func (e *criEnv) run(args ...string) (string, error) {
	cmd := exec.Command(e.client, append([]string{"-sock", e.sock}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%v: %s", err, errb.String())
	}
	return out.String(), nil
}

type criCase struct {
	add, drop  string
	privileged bool
	user       int64 // -1: not set
	nnp        bool
}

func words(list string) []workload.Word {
	var out []workload.Word
	for _, s := range strings.Split(list, ",") {
		if s != "" {
			out = append(out, workload.Word{Text: s})
		}
	}
	return out
}

// TestContainerdCRIAgainstEngine starts pods through containerd's CRI plugin
// as the kubelet would, with the securityContext of each case, and checks
// the kernel's sets against the containerd model: drop wins, add ALL +
// drop ALL is nothing, CAP_-prefixed names are silently ignored.
func TestContainerdCRIAgainstEngine(t *testing.T) {
	dockertest.Require(t)
	e := startCRI(t)
	opts := engineOptions(t)
	cases := []criCase{
		{user: -1},
		{drop: "ALL", add: "NET_BIND_SERVICE", user: -1},
		{add: "CAP_SYS_ADMIN,NET_ADMIN", drop: "CAP_NET_RAW", user: -1},
		{add: "NET_ADMIN,CHOWN", drop: "CHOWN", user: -1},
		{add: "ALL", drop: "ALL", user: -1},
		{add: "ALL,NET_RAW", drop: "all", user: -1},
		{add: "all", drop: "SYS_ADMIN", user: -1},
		{privileged: true, drop: "ALL", user: -1},
		{add: "NET_ADMIN", user: 1000},
		{drop: "ALL", user: 1000},
		{drop: "ALL", add: "KILL", nnp: true, user: -1},
		{add: "FOO", drop: "ALL", user: -1},
		{drop: "all", add: "net_bind_service", user: -1},
		{add: "SYS_RESOURCE", user: -1},
		{add: "SYS_RESOURCE", user: 1000},
		{add: "BPF,PERFMON,CHECKPOINT_RESTORE", drop: "ALL", user: -1},
		{add: "sys_ptrace", drop: "cap_all", user: 0},
	}
	for i, c := range cases {
		t.Run(fmt.Sprintf("add=%s drop=%s priv=%v user=%d nnp=%v", c.add, c.drop, c.privileged, c.user, c.nnp), func(t *testing.T) {
			w := workload.Workload{Kind: workload.KubeContainer, Runtime: workload.Containerd,
				CapAdd: words(c.add), CapDrop: words(c.drop), Privileged: c.privileged}
			if c.user >= 0 {
				u := c.user
				w.RunAsUser = &u
			}
			if c.nnp {
				f := false
				w.AllowPrivilegeEscalation = &f
			}
			got := merge.Compute(w, opts)
			args := []string{"run", "-image", e.image, "-name", fmt.Sprintf("c%d-%d", os.Getpid(), i),
				"-add", c.add, "-drop", c.drop, "-user", strconv.FormatInt(c.user, 10)}
			if c.privileged {
				args = append(args, "-privileged")
			}
			if c.nnp {
				args = append(args, "-nnp")
			}
			out, err := e.run(args...)
			if err != nil {
				t.Fatalf("CRI client: %v", err)
			}
			var res struct {
				Pod   string
				Pid   int
				Error string
			}
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("%v: %q", err, out)
			}
			if res.Pod != "" {
				e.pods = append(e.pods, res.Pod)
			}
			if got.Refusal != nil {
				if res.Error == "" {
					t.Fatalf("capdrop predicts %v, but the container started", got.Refusal)
				}
				if !strings.Contains(res.Error, got.Refusal.Message) {
					t.Errorf("refused with %q; capdrop predicted %q", res.Error, got.Refusal.Message)
				}
				return
			}
			if res.Error != "" {
				t.Fatalf("containerd refused (%s); capdrop predicted %+v", res.Error, got.Sets.Names())
			}
			st, err := procfs.ReadStatus("", res.Pid)
			if err != nil {
				t.Fatal(err)
			}
			if st.Sets != got.Sets {
				t.Errorf("kernel sets differ from capdrop's\nkernel:  %+v\ncapdrop: %+v", st.Sets.Hex(), got.Sets.Hex())
			}
			if st.NoNewPrivs != got.NoNewPrivs {
				t.Errorf("NoNewPrivs: kernel %v, capdrop %v", st.NoNewPrivs, got.NoNewPrivs)
			}
		})
	}
}
