package fix

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/merge"
	"github.com/capdrop/capdrop/procfs"
	"github.com/capdrop/capdrop/source"
)

// need skips a test when a tool it runs is missing; scripts/test-env
// installs them all, so CI runs every one.
func need(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if _, err := os.Stat(tool); err != nil {
				t.Skipf("needs %s (scripts/test-env installs it)", tool)
			}
		}
	}
}

// kernelSets reads a process's five sets from /proc/PID/status.
func kernelSets(t *testing.T, pid int) capset.Sets {
	t.Helper()
	st, err := procfs.ReadStatus("/proc", pid)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sets
}

// TestFixedOCIBundleOnRunc writes a bundle with `runc spec` (runc's own
// config.json), fixes it with capdrop fix and starts it with runc: the
// kernel's five sets of the process are what merge computes for the fixed
// file, and bounding, permitted and effective are exactly the set.
func TestFixedOCIBundleOnRunc(t *testing.T) {
	need(t, "runc", "/bin/busybox")
	dir := t.TempDir()
	bundle, root := filepath.Join(dir, "bundle"), filepath.Join(dir, "root")
	if err := os.MkdirAll(filepath.Join(bundle, "rootfs", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "rootfs", "bin", "busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command("runc", append([]string{"--root", root}, args...)...)
		cmd.Dir = bundle
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("runc %s: %v %s", strings.Join(args, " "), err, errText(err))
		}
		return out
	}
	run("spec")
	spec, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	// Only what the proof needs: a process that stays, without a terminal.
	spec = []byte(strings.Replace(strings.Replace(string(spec), `"terminal": true`, `"terminal": false`, 1), `"sh"`, `"/bin/busybox", "sleep", "60"`, 1))
	for i, set := range []capset.Set{capset.Of(capset.KILL), capset.Of(capset.NET_BIND_SERVICE, capset.AUDIT_WRITE), 0} {
		res, err := Apply("config.json", spec, Options{Add: set})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bundle, "config.json"), res.Output, 0o644); err != nil {
			t.Fatal(err)
		}
		id := "capdrop-fix-" + strconv.Itoa(os.Getpid()) + "-" + strconv.Itoa(i)
		// The detached container keeps its stdio: give it none, or
		// reading runc's output would wait for the container.
		if err := exec.Command("runc", "--root", root, "run", "-d", "--bundle", bundle, id).Run(); err != nil {
			t.Fatalf("runc run: %v", err)
		}
		var state struct{ Pid int }
		err = json.Unmarshal(run("state", id), &state)
		got := kernelSets(t, state.Pid)
		_ = exec.Command("runc", "--root", root, "delete", "-f", id).Run()
		if err != nil {
			t.Fatal(err)
		}
		ws, _ := source.Parse("config.json", res.Output, source.Options{})
		computed := merge.Compute(ws[0], merge.Options{}).Sets
		if got != computed || got.Bounding != set || got.Permitted != set || got.Effective != set {
			t.Errorf("set %s: the kernel shows %+v, capdrop computes %+v for the fixed config", set, got, computed)
		}
	}
}

// quadletBinary is Podman's Quadlet generator: Debian's podman 4.3 has
// none, so scripts/test-env unpacks the one of a newer Debian podman
// package there, without installing the package.
const quadletBinary = "/usr/local/libexec/capdrop/quadlet"

// TestFixedQuadletOnPodman fixes a Quadlet unit, turns it into a systemd
// service with the real Quadlet generator, and runs the service's podman
// command (without the two options that need systemd to start it:
// --cgroups=split and --sdnotify=conmon; with --runtime runc and
// --network none, which Podman needs on this kind of host): the kernel's
// sets of the container's process are exactly the set.
func TestFixedQuadletOnPodman(t *testing.T) {
	need(t, "podman", "/bin/busybox", quadletBinary)
	dir := t.TempDir()
	img := "localhost/capdrop-fix-busybox:latest"
	if err := os.MkdirAll(filepath.Join(dir, "img", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	bb, _ := os.ReadFile("/bin/busybox")
	if err := os.WriteFile(filepath.Join(dir, "img", "bin", "busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	tar := exec.Command("tar", "-C", filepath.Join(dir, "img"), "-cf", filepath.Join(dir, "img.tar"), ".")
	if out, err := tar.CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	conf := filepath.Join(dir, "containers.conf")
	// Root here lacks CAP_SYS_RESOURCE: Podman's default ulimits would
	// fail every start.
	if err := os.WriteFile(conf, []byte("[containers]\ndefault_ulimits = []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	podman := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command("podman", args...)
		cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+conf)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("podman %s: %v %s", strings.Join(args, " "), err, errText(err))
		}
		return out
	}
	podman("import", filepath.Join(dir, "img.tar"), img)
	unit := "[Unit]\nDescription=capdrop fix proof\n\n[Container]\nImage=" + img + "\nExec=/bin/busybox sleep 60\n" +
		"AddCapability=NET_ADMIN SYS_TIME\nAddCapability=\nAddCapability=NET_BIND_SERVICE \\\n  chown\nUser=0\n\n[Install]\nWantedBy=default.target\n"
	for i, set := range []capset.Set{capset.Of(capset.CHOWN, capset.NET_BIND_SERVICE), capset.Of(capset.KILL), 0} {
		res, err := Apply("proof.container", []byte(unit), Options{Add: set})
		if err != nil {
			t.Fatal(err)
		}
		units := filepath.Join(dir, "units"+strconv.Itoa(i))
		if err := os.MkdirAll(units, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(units, "proof.container"), res.Output, 0o644); err != nil {
			t.Fatal(err)
		}
		gen := exec.Command(quadletBinary, "-dryrun")
		gen.Env = append(os.Environ(), "QUADLET_UNIT_DIRS="+units)
		service, err := gen.Output()
		if err != nil {
			t.Fatalf("quadlet: %v %s", err, errText(err))
		}
		args := execStart(t, service)
		name := "capdrop-fix-proof-" + strconv.Itoa(os.Getpid())
		var run []string
		for _, a := range args[1:] {
			a = strings.NewReplacer("%N", "proof", "%t", units).Replace(a)
			switch {
			case a == "--cgroups=split" || a == "--sdnotify=conmon":
				continue
			case a == "systemd-proof":
				a = name
			}
			run = append(run, a)
			if a == "run" {
				run = append(run, "--network", "none")
			}
		}
		podman(append([]string{"--runtime", "runc"}, run...)...)
		pid, _ := strconv.Atoi(strings.TrimSpace(string(podman("inspect", "-f", "{{.State.Pid}}", name))))
		got := kernelSets(t, pid)
		_ = exec.Command("podman", "rm", "-f", "-t", "0", name).Run()
		if got.Bounding != set || got.Permitted != set || got.Effective != set || got.Inheritable != 0 || got.Ambient != 0 {
			t.Errorf("set %s: the kernel shows %+v for\n%s\nrun as podman %s", set, got, res.Output, strings.Join(run, " "))
		}
	}
}

// execStart returns the words of the generated service's ExecStart=.
func execStart(t *testing.T, service []byte) []string {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(string(service)))
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "ExecStart="); ok {
			return strings.Fields(line)
		}
	}
	t.Fatalf("no ExecStart= in the generated service:\n%s", service)
	return nil
}

func errText(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
