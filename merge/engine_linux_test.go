package merge_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/internal/dockertest"
	"github.com/capdrop/capdrop/merge"
	"github.com/capdrop/capdrop/procfs"
	"github.com/capdrop/capdrop/source"
	"github.com/capdrop/capdrop/workload"
)

// engineOptions describes the engine under test the way merge needs it: its
// release (read from `docker version`) and the capabilities it holds itself
// (read from dockerd's /proc/<pid>/status). On this machine root lacks
// CAP_SYS_RESOURCE (its sandbox withholds it), so the engine does too.
func engineOptions(t *testing.T) merge.Options {
	t.Helper()
	raw := dockertest.Docker(t, "version", "--format", "{{.Server.Version}}")
	v, err := merge.ParseVersion(raw)
	if err != nil {
		t.Fatalf("engine version %q: %v", raw, err)
	}
	host := engineCaps(t)
	last, err := capset.KernelLast()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("engine %s (modelled as %s), engine's own capabilities %s, kernel cap_last_cap %d", raw, v, host.Hex(), last)
	return merge.Options{Versions: map[workload.Runtime]merge.Version{workload.Docker: v}, Host: host, KernelLast: last}
}

func engineCaps(t *testing.T) capset.Set {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := procfs.ReadStatus("", pid)
		if err == nil && st.Name == "dockerd" {
			return st.Sets.Bounding & st.Sets.Permitted
		}
	}
	t.Fatal("no dockerd process found")
	return 0
}

// runWorkload reads `docker run ARGS IMAGE sleep 3600` with capdrop's own
// run-line source, so the proof covers the path `capdrop audit` takes.
func runWorkload(t *testing.T, tool string, args []string, image string) workload.Workload {
	t.Helper()
	line := tool + " run " + strings.Join(args, " ") + " " + image + " sleep 3600\n"
	ws, errs := source.Parse("cases.sh", []byte("#!/bin/sh\n"+line), source.Options{})
	if len(errs) > 0 || len(ws) != 1 {
		t.Fatalf("source read %q as %d workloads, errors %v", line, len(ws), errs)
	}
	return ws[0]
}

// dockerRunCases are docker run configurations covering add, drop, ALL in
// any case, the CAP_ prefix, conflicts, privileged, users and
// no-new-privileges, plus ones the engine refuses. Cases that need a
// capability root lacks here (SYS_RESOURCE) run as --user 1000 where the
// point is the bounding set, and as root where the point is the refusal.
var dockerRunCases = [][]string{
	{},
	{"--cap-drop=ALL"},
	{"--cap-drop=all", "--cap-add=net_bind_service"},
	{"--cap-add=NET_ADMIN"},
	{"--cap-add=net_admin", "--cap-drop=net_admin"},
	{"--cap-drop", "chown", "--cap-drop=NET_RAW"},
	{"--cap-add=CAP_SYS_PTRACE"},
	{"--cap-add=Sys_Ptrace", "--cap-drop=cap_mknod"},
	{"--cap-add=ALL", "--cap-drop=ALL", "--user", "1000"},
	{"--cap-add=ALL", "--cap-drop=ALL"},
	{"--cap-add=all", "--cap-drop=sys_resource", "--cap-drop=MKNOD"},
	{"--privileged", "--user", "1000"},
	{"--privileged", "--cap-drop=ALL", "--user=1000"},
	{"--privileged"},
	{"--cap-add=sys_resource"},
	{"--cap-add=sys_resource", "--user", "1000"},
	{"--cap-add=bpf"},
	{"--cap-add=perfmon", "--user", "1000"},
	{"--cap-add=audit_read", "--cap-drop=all"},
	{"--cap-add=foo"},
	{"--cap-drop=sys_admn"},
	{"--cap-drop=CAP_ALL"},
	{"--cap-drop=setuid,setgid"},
	{"--user", "1000"},
	{"--user=1000", "--cap-add=NET_ADMIN"},
	{"--user", "1000:1000", "--cap-drop=all"},
	{"--user", "nobody", "--cap-add=sys_admin"},
	{"--user", "root", "--cap-add=sys_admin", "--cap-drop=chown"},
	{"-u", "0:0", "--cap-drop=setuid", "--cap-drop=setgid"},
	{"--security-opt", "no-new-privileges", "--cap-drop=all", "--cap-add=kill"},
	{"--security-opt=no-new-privileges:true", "--user", "1000", "--cap-add=net_raw"},
	{"--security-opt", "no-new-privileges:false", "--cap-add=SYS_CHROOT", "--cap-drop=sys_chroot", "--cap-drop=all"},
	{"--cap-drop=ALL", "--cap-add=CAP_SETPCAP", "--cap-add=setpcap", "--cap-add=Kill"},
}

// TestDockerRunAgainstEngine is the proof: for every configuration, what
// capdrop computes equals what the kernel reports for the container's main
// process, and where capdrop predicts a refusal the engine refuses.
func TestDockerRunAgainstEngine(t *testing.T) {
	dockertest.Require(t)
	opts := engineOptions(t)
	image := dockertest.Image(t, nil)
	started, refused := 0, 0
	for i, args := range dockerRunCases {
		t.Run(strings.Join(append([]string{"run"}, args...), " "), func(t *testing.T) {
			w := runWorkload(t, "docker", args, image)
			got := merge.Compute(w, opts)
			name := fmt.Sprintf("capdrop-merge-%d-%d", os.Getpid(), i)
			t.Cleanup(func() { dockertest.Remove(name) })
			full := append([]string{"--name", name}, args...)
			full = append(full, image, "sleep", "3600")
			id, err := dockertest.StartErr(t, full...)
			if got.Refusal != nil {
				if err == nil {
					t.Fatalf("capdrop predicts %v, but the engine started the container", got.Refusal)
				}
				want := "unable to apply caps"
				if got.Refusal.Stage == merge.StageCreate {
					want = got.Refusal.Message
				}
				if !strings.Contains(err.Error(), want) {
					t.Fatalf("engine refused with %v; capdrop predicted %q", err, got.Refusal.Message)
				}
				refused++
				return
			}
			if err != nil {
				t.Fatalf("engine refused (%v); capdrop predicted sets %+v", err, got.Sets.Names())
			}
			kernel, st := dockertest.KernelSets(t, id)
			if kernel != got.Sets {
				t.Errorf("kernel sets differ from capdrop's\nkernel:  %+v\ncapdrop: %+v", kernel.Hex(), got.Sets.Hex())
			}
			if st.NoNewPrivs != got.NoNewPrivs {
				t.Errorf("NoNewPrivs: kernel %v, capdrop %v", st.NoNewPrivs, got.NoNewPrivs)
			}
			if (st.UID[0] == 0) != got.Root {
				t.Errorf("uid %d, capdrop says root=%v", st.UID[0], got.Root)
			}
			started++
		})
	}
	t.Logf("%d configurations: %d started with the predicted sets, %d refused as predicted", len(dockerRunCases), started, refused)
}
