package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/internal/dockertest"
	"github.com/capdrop/capdrop/procfs"
	"github.com/capdrop/capdrop/report"
)

// labelImage builds a test image carrying the given LABEL lines. Labels
// are written with \$ so that docker build leaves variables for runlabel.
func labelImage(t *testing.T, labels ...string) string {
	t.Helper()
	lines := make([]string, len(labels))
	for i, l := range labels {
		lines[i] = "LABEL " + l
	}
	return dockertest.Image(t, nil, lines...)
}

// containerName is a name unique to this test run; every container it
// names is removed when the test ends, even if runlabel failed half-way.
func containerName(t *testing.T, what string) string {
	name := fmt.Sprintf("capdrop-rl-%s-%d", what, os.Getpid())
	t.Cleanup(func() { dockertest.Remove(name) })
	return name
}

// capsOf reads the Cap* lines a container printed (grep Cap /proc/self/status).
func capsOf(t *testing.T, out string) capset.Sets {
	t.Helper()
	st, err := procfs.ParseStatus(strings.NewReader("Name:\tx\nPid:\t1\n" + out))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return st.Sets
}

func dockerPath(t *testing.T) string {
	p, err := exec.LookPath("docker")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// exists reports whether the engine has a container of that name.
func exists(t *testing.T, name string) bool {
	out, _ := dockertest.DockerErr("ps", "-aq", "--filter", "name=^/"+name+"$")
	return out != ""
}

// audited runs capdrop runlabel --display -o json with args and returns the
// document: what capdrop says before anything runs.
func audited(t *testing.T, args ...string) report.RunlabelDoc {
	t.Helper()
	stdout, stderr, _ := runMain(t, append([]string{"runlabel", "--display", "-o", "json"}, args...)...)
	var doc report.RunlabelDoc
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("%v\n%s%s", err, stdout, stderr)
	}
	if doc.Audit == nil || len(doc.Audit.Workloads) != 1 {
		t.Fatalf("no audit of one workload: %s", stdout)
	}
	return doc
}

// rules lists the rule IDs of a document's findings, in order.
func rules(doc report.RunlabelDoc) string {
	var ids []string
	for _, f := range doc.Audit.Findings {
		ids = append(ids, f.Rule)
	}
	return strings.Join(ids, " ")
}

// computed is the bounding set the audit says the container gets.
func computed(t *testing.T, doc report.RunlabelDoc) capset.Set {
	t.Helper()
	var s capset.Set
	for _, n := range doc.Audit.Workloads[0].Sets.Bounding {
		c, err := capset.Parse(n)
		if err != nil {
			t.Fatal(err)
		}
		s = s.With(c)
	}
	return s
}

func TestRunlabelEngine(t *testing.T) {
	dockertest.Require(t)
	docker := dockerPath(t)
	const grepCaps = "grep Cap /proc/self/status"

	t.Run("a label that drops capabilities runs with exactly its set", func(t *testing.T) {
		img := labelImage(t, `RUN="docker run --rm --label capdrop-test=1 --cap-drop=ALL --cap-add=NET_BIND_SERVICE --cap-add=chown --name NAME IMAGE `+grepCaps+`"`)
		name := containerName(t, "drops")
		// The audit: an explicit list, so no CD012 and --strict passes;
		// no_new_privs is missing, and CHOWN is root-equivalent.
		doc := audited(t, "--strict", "--name", name, img)
		if got := rules(doc); got != "CD011 CD003" || !doc.Run || doc.Audit.Workloads[0].RuntimeVersion == "current" {
			t.Errorf("findings %q, run %v, runtime %s", got, doc.Run, doc.Audit.Workloads[0].RuntimeVersion)
		}
		stdout, stderr, code := runMain(t, "runlabel", "--strict", "--name", name, img)
		want := docker + " run --rm --label capdrop-test=1 --cap-drop=ALL --cap-add=NET_BIND_SERVICE --cap-add=chown --name " + name + " " + img + " grep Cap /proc/self/status"
		if code != 0 || !strings.Contains(stderr, "\ncommand    "+want+"\n") {
			t.Fatalf("exit %d\nstderr:\n%s\nwant command %s", code, stderr, want)
		}
		// The container printed its own /proc/self/status: the kernel's word.
		two := capset.Of(capset.NET_BIND_SERVICE, capset.CHOWN)
		got := capsOf(t, stdout)
		if got.Bounding != two || got.Effective != two || got.Permitted != two || got.Inheritable != 0 || got.Ambient != 0 {
			t.Errorf("container sets %v, want bounding/effective/permitted %v", got, two)
		}
		if c := computed(t, doc); c != got.Bounding {
			t.Errorf("the audit said %v, the kernel says %v", c, got.Bounding)
		}
		if !strings.Contains(stderr, "MEDIUM CD011 command:1:") {
			t.Errorf("the findings are not printed before the command runs:\n%s", stderr)
		}
		if exists(t, name) {
			t.Errorf("container %s is still there after --rm", name)
		}
	})

	t.Run("a detached container has the label's capabilities in the kernel", func(t *testing.T) {
		img := labelImage(t, `RUN="docker run -d --label capdrop-test=1 --cap-drop=all --cap-add=kill --cap-add=SETUID --name NAME IMAGE sleep 300"`)
		name := containerName(t, "detached")
		doc := audited(t, "--name", name, img)
		stdout, stderr, code := runMain(t, "runlabel", "--name", name, img)
		if code != 0 || len(strings.TrimSpace(stdout)) != 64 {
			t.Fatalf("exit %d stdout %q stderr %s", code, stdout, stderr)
		}
		sets, _ := dockertest.KernelSets(t, name)
		want := capset.Of(capset.KILL, capset.SETUID)
		if sets.Bounding != want || sets.Effective != want || sets.Permitted != want || sets.Ambient != 0 {
			t.Errorf("kernel reports %v, want %v", sets, want)
		}
		if c := computed(t, doc); c != sets.Bounding {
			t.Errorf("the audit said %v, the kernel says %v", c, sets.Bounding)
		}
	})

	t.Run("a label that does not drop capabilities keeps Docker's defaults", func(t *testing.T) {
		img := labelImage(t, `RUN="docker run --rm --label capdrop-test=1 --name NAME IMAGE `+grepCaps+`"`)
		name := containerName(t, "nodrop")
		doc := audited(t, "--strict", "--name", name, img)
		if got := rules(doc); got != "CD012" || doc.Run || len(doc.Refused) != 1 ||
			!strings.HasPrefix(doc.Refused[0], "--strict: the container keeps capabilities the command does not name (CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL and 9 more from docker's default set)") {
			t.Errorf("findings %q, run %v, refused %q", got, doc.Run, doc.Refused)
		}
		// --strict refuses it: nothing is created.
		stdout, stderr, code := runMain(t, "runlabel", "--strict", "--name", name, img)
		if code != ExitFindings || stdout != "" || !strings.Contains(stderr, "refused    --strict: the container keeps capabilities") {
			t.Errorf("--strict: exit %d stdout %q stderr %s", code, stdout, stderr)
		}
		if exists(t, name) {
			t.Fatal("--strict refused, yet the container exists")
		}
		// Without it, the findings are printed and it runs with Docker's 14.
		stdout, stderr, code = runMain(t, "runlabel", "--name", name, img)
		if code != 0 || !strings.Contains(stderr, "MEDIUM CD012 command:1:") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		got := capsOf(t, stdout)
		if got.Bounding.Hex() != "00000000a80425fb" || got.Effective.Hex() != "00000000a80425fb" || computed(t, doc) != got.Bounding {
			t.Errorf("container sets %v, want Docker's 14, as the audit said (%v)", got, computed(t, doc))
		}
	})

	t.Run("--fail-on refuses a root-equivalent capability", func(t *testing.T) {
		img := labelImage(t, `RUN="docker run --rm --label capdrop-test=1 --cap-drop=ALL --cap-add=SYS_PTRACE --security-opt=no-new-privileges --name NAME IMAGE `+grepCaps+`"`)
		name := containerName(t, "failon")
		doc := audited(t, "--strict", "--name", name, img)
		if got := rules(doc); got != "CD003" || !doc.Run {
			t.Errorf("findings %q run %v (an explicit list passes --strict)", got, doc.Run)
		}
		_, stderr, code := runMain(t, "runlabel", "--fail-on", "high", "--name", name, img)
		if code != ExitFindings || !strings.Contains(stderr, "CD003 command:1:") || !strings.Contains(stderr, "refused    --fail-on high: 1 finding at or above high") {
			t.Errorf("exit %d: %s", code, stderr)
		}
		if exists(t, name) {
			t.Fatal("--fail-on refused, yet the container exists")
		}
	})

	t.Run("every substitution", func(t *testing.T) {
		img := labelImage(t, `RUN="docker run --rm --label capdrop-test=1 --cap-drop=ALL --name NAME -e IMG=IMAGE -e NAME=NAME `+
			`-e O1=\$OPT1 -e O2=\${OPT2} -e \"O3=\$OPT3\" -e P=\$PWD -e \"V=\$CAPDROP_RL_VAR\" -e U=\$CAPDROP_RL_UNDEFINED \$OPT1 `+
			`IMAGE env"`)
		t.Setenv("OPT2", "two-from-env")
		t.Setenv("OPT3", "not used: --opt3 wins")
		t.Setenv("CAPDROP_RL_VAR", "var value")
		os.Unsetenv("CAPDROP_RL_UNDEFINED")
		pwd, _ := os.Getwd()
		name := containerName(t, "subst")
		args := []string{"runlabel", "--opt1", "--label=capdrop-test-opt=1", "--opt3", "three", "--name", name, img}
		disp, stderr, code := runMain(t, append([]string{"runlabel", "--display"}, args[1:]...)...)
		want := fmt.Sprintf("%s run --rm --label capdrop-test=1 --cap-drop=ALL --name %s -e IMG=%s -e NAME=%s "+
			"-e O1=--label=capdrop-test-opt=1 -e O2=two-from-env -e O3=three -e P=%s -e 'V=var value' -e U= --label=capdrop-test-opt=1 %s env",
			docker, name, img, name, pwd, img)
		if code != 0 || !strings.Contains(disp, "\ncommand    "+want+"\n") {
			t.Fatalf("exit %d\n%s%s\nwant command %s", code, disp, stderr, want)
		}
		if exists(t, name) {
			t.Fatal("--display started a container")
		}
		// The JSON names every variable and where its value came from.
		js, _, _ := runMain(t, append([]string{"runlabel", "--display", "-o", "json"}, args[1:]...)...)
		var doc report.RunlabelDoc
		if err := json.Unmarshal([]byte(js), &doc); err != nil {
			t.Fatalf("%v\n%s", err, js)
		}
		var vars []string
		for _, v := range doc.Variables {
			vars = append(vars, fmt.Sprintf("%s=%s(%s)", v.Name, v.Value, v.From))
		}
		wantVars := "NAME=" + name + "(--name) IMAGE=" + img + "(image) OPT1=--label=capdrop-test-opt=1(--opt1) OPT2=two-from-env(environment) " +
			"OPT3=three(--opt3) PWD=" + pwd + "(working directory) CAPDROP_RL_VAR=var value(environment) CAPDROP_RL_UNDEFINED=(unset)"
		if strings.Join(vars, " ") != wantVars || doc.Command != want || doc.Label != "RUN" || !doc.Run {
			t.Errorf("json variables:\n%s\nwant\n%s\n%+v", strings.Join(vars, " "), wantVars, doc)
		}
		// Running it: the container sees the substituted values.
		stdout, stderr, code := runMain(t, args...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		for _, kv := range []string{"IMG=" + img, "NAME=" + name, "O1=--label=capdrop-test-opt=1", "O2=two-from-env", "O3=three",
			"P=" + pwd, "V=var value", "U="} {
			if !strings.Contains(stdout, "\n"+kv+"\n") && !strings.HasPrefix(stdout, kv+"\n") {
				t.Errorf("container environment lacks %q:\n%s", kv, stdout)
			}
		}
	})

	t.Run("NAME defaults to the image name and ARGS are appended as they are", func(t *testing.T) {
		img := labelImage(t, `run="docker run --rm --label capdrop-test=1 --cap-drop=ALL -e N=NAME IMAGE"`)
		stdout, stderr, code := runMain(t, "runlabel", "--label", "RUN", img, "sh", "-c", `echo "$N" '$HOME stays'; exit 3`)
		want := docker + " run --rm --label capdrop-test=1 --cap-drop=ALL -e N=busybox " + img + ` sh -c "echo \"\$N\" '\$HOME stays'; exit 3"`
		if code != 3 || stdout != "busybox $HOME stays\n" || !strings.Contains(stderr, "\ncommand    "+want+"\n") || !strings.Contains(stderr, "label      run=") {
			t.Errorf("exit %d (want the container's 3) stdout %q\nstderr:\n%s\nwant command %s", code, stdout, stderr, want)
		}
	})

	t.Run("the exit status is the container's", func(t *testing.T) {
		img := labelImage(t, `RUN="docker run --rm --label capdrop-test=1 --cap-drop=ALL IMAGE sh -c 'exit 7'"`)
		if _, stderr, code := runMain(t, "runlabel", img); code != 7 {
			t.Errorf("exit %d, want 7: %s", code, stderr)
		}
		// docker's own failure (an unknown capability) is docker's 125.
		img = labelImage(t, `RUN="docker run --rm --label capdrop-test=1 --cap-add=NOT_A_CAP IMAGE true"`)
		if _, stderr, code := runMain(t, "runlabel", img); code != 125 || !strings.Contains(stderr, "NOT_A_CAP") {
			t.Errorf("exit %d, want docker's 125: %s", code, stderr)
		}
	})

	t.Run("podman in a label runs through the docker CLI", func(t *testing.T) {
		img := labelImage(t, `RUN="podman run --rm --label capdrop-test=1 --cap-drop=all --cap-add=net_raw IMAGE `+grepCaps+`"`)
		stdout, stderr, code := runMain(t, "runlabel", img)
		if code != 0 || capsOf(t, stdout).Bounding != capset.Of(capset.NET_RAW) ||
			!strings.Contains(stderr, "the label runs podman; capdrop runs the docker CLI instead") {
			t.Errorf("exit %d stdout %q stderr %s", code, stdout, stderr)
		}
	})

	t.Run("an image without the label gets the safe default", func(t *testing.T) {
		img := labelImage(t, `io.containers.capabilities="NET_BIND_SERVICE,SYS_ADMIN"`)
		name := containerName(t, "default")
		probe := []string{"grep", "-e", "Cap", "-e", "NoNewPrivs", "/proc/self/status"}
		disp, _, code := runMain(t, append([]string{"runlabel", "--display", "--name", name, img}, probe...)...)
		flat := strings.Join(strings.Fields(disp), " ") // notes wrap
		want := docker + " run --rm -i --cap-drop=ALL --cap-add=NET_BIND_SERVICE --security-opt=no-new-privileges --name " + name + " " + img + " grep -e Cap -e NoNewPrivs /proc/self/status"
		if code != 0 || !strings.Contains(disp, "\ncommand    "+want+"\n") || !strings.Contains(disp, "label      none: the image has no RUN label") ||
			!strings.Contains(flat, `atomic run would have run "docker run -i --name ${NAME} ${IMAGE}"`) ||
			!strings.Contains(flat, "asks for SYS_ADMIN, which Docker does not give by default either") {
			t.Fatalf("exit %d\n%s\nwant command %s", code, disp, want)
		}
		doc := audited(t, append([]string{"--strict", "--name", name, img}, probe...)...)
		if got := rules(doc); got != "" || !doc.Run || !doc.Default || doc.Audit.Workloads[0].Kind != "run-line" {
			t.Errorf("the safe default has findings %q or fails --strict: %+v", got, doc)
		}
		stdout, stderr, code := runMain(t, append([]string{"runlabel", "--strict", "--name", name, img}, probe...)...)
		got := capsOf(t, stdout)
		if code != 0 || got.Bounding != capset.Of(capset.NET_BIND_SERVICE) || !strings.Contains(stdout, "NoNewPrivs:\t1") || computed(t, doc) != got.Bounding {
			t.Errorf("exit %d sets %v (audit said %v) stdout %q stderr %s", code, got, computed(t, doc), stdout, stderr)
		}
		if exists(t, name) {
			t.Errorf("the safe default left container %s behind", name)
		}
		// Only RUN falls back to a default.
		if _, stderr, code := runMain(t, "runlabel", "--label", "INSTALL", img); code != ExitUsage ||
			!strings.Contains(stderr, "capdrop: image "+img+" has no INSTALL label") {
			t.Errorf("missing INSTALL: exit %d %s", code, stderr)
		}
	})

	t.Run("what is not a docker run is refused, and --force runs it", func(t *testing.T) {
		marker := filepath.Join(t.TempDir(), "ran")
		t.Setenv("CAPDROP_RL_MARKER", marker)
		img := labelImage(t, `RUN="touch \$CAPDROP_RL_MARKER"`, `INSTALL="docker run --rm IMAGE true; touch \$CAPDROP_RL_MARKER"`)
		_, stderr, code := runMain(t, "runlabel", img)
		if code != ExitFindings || !strings.Contains(flat(stderr), "label RUN: touch is not docker or podman (--force runs it anyway)") {
			t.Errorf("exit %d: %s", code, stderr)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Fatal("the refused label ran")
		}
		// Shell code is refused even with --force: nothing runs at all.
		_, stderr, code = runMain(t, "runlabel", "--force", "--label", "INSTALL", img)
		if code != ExitFindings || !strings.Contains(flat(stderr), "column 29: the label holds more than one command; capdrop runs a label as one command without a shell") {
			t.Errorf("exit %d: %s", code, stderr)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Fatal("shell code ran")
		}
		// --strict refuses what it cannot audit, --force or not.
		_, stderr, code = runMain(t, "runlabel", "--force", "--strict", img)
		if _, err := os.Stat(marker); code != ExitFindings || err == nil || !strings.Contains(stderr, "refused    capdrop cannot audit a command that does not start a container, so") {
			t.Errorf("--force --strict: exit %d, marker %v: %s", code, err, stderr)
		}
		_, stderr, code = runMain(t, "runlabel", "--force", img)
		if _, err := os.Stat(marker); code != 0 || err != nil || !strings.Contains(stderr, "note       --force: touch is not docker or podman") {
			t.Errorf("--force: exit %d, marker %v: %s", code, err, stderr)
		}
	})

	t.Run("engine and image errors", func(t *testing.T) {
		if _, stderr, code := runMain(t, "runlabel", "capdrop-test/no-such-image:404"); code != ExitUsage ||
			!strings.Contains(stderr, "image capdrop-test/no-such-image:404 is not on the engine at") {
			t.Errorf("missing image: exit %d %s", code, stderr)
		}
		t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no.sock"))
		if _, stderr, code := runMain(t, "runlabel", "busybox"); code != ExitUnsupported || !strings.Contains(stderr, "docker engine unreachable") {
			t.Errorf("no engine: exit %d %s", code, stderr)
		}
	})
}

// TestRunlabelSignals runs the capdrop binary: a SIGTERM to capdrop goes
// to the docker CLI, which relays it to the container; the container's
// exit status comes back.
func TestRunlabelSignals(t *testing.T) {
	dockertest.Require(t)
	env := e2e(t)
	img := labelImage(t, `RUN="docker run --rm -i --label capdrop-test=1 --cap-drop=ALL --name NAME IMAGE sh -c 'trap \"exit 42\" TERM; echo ready; while :; do sleep 1; done'"`)
	name := containerName(t, "signal")
	cmd := exec.Command(env.capdrop, "runlabel", "--name", name, img)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // no controlling terminal
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(pipe)
	if line, err := r.ReadString('\n'); line != "ready\n" {
		cmd.Process.Kill()
		t.Fatalf("container said %q (%v): %s", line, err, stderr.String())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 42 {
		t.Errorf("capdrop exit %d, want the container's 42 from its TERM trap: %s", code, stderr.String())
	}
	waitFor(t, func() bool { return !exists(t, name) }, "the container to be removed")
}
