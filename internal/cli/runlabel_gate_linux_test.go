package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/internal/dockertest"
	"github.com/capdrop/capdrop/report"
)

// flat joins wrapped report lines, for matching a sentence.
func flat(s string) string { return strings.Join(strings.Fields(s), " ") }

// passwdImage builds an image whose /etc/passwd and /etc/group get the
// extra lines (after dockertest's root and nobody), with the Dockerfile
// lines tail after that.
func passwdImage(t *testing.T, passwd, group string, tail ...string) string {
	t.Helper()
	sh := "echo '" + passwd + "' >> /etc/passwd"
	if group != "" {
		sh += " && echo '" + group + "' >> /etc/group"
	}
	b, _ := json.Marshal([]string{"/bin/busybox", "sh", "-c", sh})
	return dockertest.Image(t, nil, append([]string{"RUN " + string(b)}, tail...)...)
}

// TestRunlabelGate holds runlabel's gate to what really runs: the image
// the command names (not the labelled one), the user its own /etc/passwd
// says, and every way the command reaches into the host. Each case is
// checked against the real engine: what the audit says the container gets
// is what the kernel shows when it runs.
func TestRunlabelGate(t *testing.T) {
	dockertest.Require(t)
	const grepCaps = "grep -e Cap -e Uid /proc/self/status"

	t.Run("the command's own image is judged, not the labelled one", func(t *testing.T) {
		other := dockertest.Image(t, nil) // root: no USER
		// no_new_privs: judged as USER 1000, nothing could gain SYS_ADMIN
		// and --fail-on high would pass, as it did before.
		img := labelImage(t, `RUN="docker run --rm --label capdrop-test=1 --cap-drop=ALL --cap-add=SYS_ADMIN --security-opt=no-new-privileges `+other+` `+grepCaps+`"`, "USER 1000")
		doc := audited(t, "--strict", "--fail-on", "high", img)
		w := doc.Audit.Workloads[0]
		if doc.Run || !w.Root || doc.Judged == nil || doc.Judged.Ref != other || doc.Judged.Labelled || !doc.Judged.Present ||
			!strings.Contains(rules(doc), "CD003") {
			t.Errorf("run %v root %v judged %+v findings %q refused %q", doc.Run, w.Root, doc.Judged, rules(doc), doc.Refused)
		}
		disp, _, code := runMain(t, "runlabel", "--display", "--strict", "--fail-on", "high", img)
		if code != ExitFindings || !strings.Contains(flat(disp), "judged image "+other) || !strings.Contains(flat(disp), "not the labelled image; no USER (root)") {
			t.Errorf("exit %d:\n%s", code, disp)
		}
		// The gate holds: nothing runs.
		if _, stderr, code := runMain(t, "runlabel", "--strict", "--fail-on", "high", img); code != ExitFindings ||
			!strings.Contains(stderr, "refused    --fail-on high") {
			t.Errorf("exit %d: %s", code, stderr)
		}
		// Ungated, the kernel agrees with the audit: uid 0 holding SYS_ADMIN.
		stdout, stderr, code := runMain(t, "runlabel", img)
		got := capsOf(t, stdout)
		if code != 0 || !strings.Contains(stdout, "Uid:\t0\t") || got.Effective != capset.Of(capset.SYS_ADMIN) || computed(t, doc) != got.Bounding {
			t.Errorf("exit %d, kernel %v, audit %v: %s%s", code, got, computed(t, doc), stdout, stderr)
		}
	})

	t.Run("an image the engine lacks is judged as root", func(t *testing.T) {
		img := labelImage(t, `RUN="docker run --rm --cap-drop=ALL --cap-add=SYS_ADMIN --security-opt=no-new-privileges capdrop-test/never-built:404 true"`, "USER 1000")
		doc := audited(t, "--fail-on", "high", img)
		if doc.Run || !doc.Audit.Workloads[0].Root || doc.Judged.Present || doc.Judged.Ref != "capdrop-test/never-built:404" ||
			!strings.Contains(doc.Audit.Workloads[0].UserReason, "image capdrop-test/never-built:404 is not on the engine") {
			t.Errorf("run %v judged %+v workload %+v", doc.Run, doc.Judged, doc.Audit.Workloads[0])
		}
	})

	t.Run("a named user is resolved in the image's own passwd", func(t *testing.T) {
		label := `RUN="docker run --rm --label capdrop-test=1 --cap-drop=ALL --cap-add=SYS_ADMIN --security-opt=no-new-privileges IMAGE ` + grepCaps + `"`
		for _, c := range []struct {
			name, passwd, group, user string
			root, starts              bool
			uid                       string
		}{
			{"app is uid 0", "app:x:0:0::/:/bin/sh", "", "app", true, true, "0"},
			{"a malformed uid reads as 0", "app:x:oops:0::/:/bin/sh", "", "app", true, true, "0"},
			{"the first entry wins", "app:x:0:0::/:/bin/sh\napp:x:1000:1000::/:/bin/sh", "", "app", true, true, "0"},
			{"app is uid 1000", "app:x:1000:1000::/:/bin/sh", "", "app", false, true, "1000"},
			{"a name the image lacks", "app:x:1000:1000::/:/bin/sh", "", "ghost", true, false, ""},
			{"a group the image lacks", "app:x:1000:1000::/:/bin/sh", "", "1000:ghosts", true, false, ""},
			{"a named group it has", "app:x:1000:1000::/:/bin/sh", "staff:x:50:", "app:staff", false, true, "1000"},
		} {
			t.Run(c.name, func(t *testing.T) {
				img := passwdImage(t, c.passwd, c.group, append([]string{"USER " + c.user}, "LABEL "+label)...)
				doc := audited(t, "--fail-on", "high", img)
				w := doc.Audit.Workloads[0]
				// Non-root with no_new_privs never holds SYS_ADMIN: it passes.
				if w.Root != c.root || doc.Run == c.root || !strings.Contains(doc.Judged.Accounts, "/etc/passwd and /etc/group of image") {
					t.Errorf("root %v (%s), run %v, judged %+v, findings %q", w.Root, w.UserReason, doc.Run, doc.Judged, rules(doc))
				}
				stdout, stderr, code := runMain(t, "runlabel", img)
				if !c.starts {
					// docker itself refuses a user it cannot resolve.
					if code == 0 || !strings.Contains(stderr, "unable to find") {
						t.Errorf("exit %d: %s%s", code, stdout, stderr)
					}
					return
				}
				got := capsOf(t, stdout)
				if code != 0 || !strings.Contains(stdout, "Uid:\t"+c.uid+"\t") || computed(t, doc) != got.Bounding || (got.Effective != 0) != c.root {
					t.Errorf("exit %d, kernel %v, audit root %v %v: %s%s", code, got, w.Root, computed(t, doc), stdout, stderr)
				}
			})
		}
		// --user in the command is resolved the same way, and a symbolic
		// link to the passwd file is followed inside the image.
		img := dockertest.Image(t, nil, `RUN ["/bin/busybox", "sh", "-c", "mkdir /etc/db && mv /etc/passwd /etc/db/passwd && ln -s db/passwd /etc/passwd && echo 'svc:x:0:0::/:/bin/sh' >> /etc/db/passwd"]`,
			`LABEL RUN="docker run --rm --label capdrop-test=1 --cap-drop=ALL --cap-add=SYS_ADMIN --security-opt=no-new-privileges --user svc IMAGE `+grepCaps+`"`, "USER 1000")
		doc := audited(t, "--fail-on", "high", img)
		stdout, stderr, code := runMain(t, "runlabel", img)
		if !doc.Audit.Workloads[0].Root || doc.Run || code != 0 || !strings.Contains(stdout, "Uid:\t0\t") {
			t.Errorf("--user svc (uid 0 behind a link): audit root %v run %v; exit %d %s%s", doc.Audit.Workloads[0].Root, doc.Run, code, stdout, stderr)
		}
		// No container is left from reading the image.
		if out, _ := dockertest.DockerErr("ps", "-aq", "--filter", "label=io.capdrop.image-files"); out != "" {
			t.Errorf("containers left from reading images: %s", out)
		}
	})

	t.Run("account files that are not files, or too large, are judged as root", func(t *testing.T) {
		label := `LABEL RUN="docker run --rm --cap-drop=ALL --cap-add=SYS_ADMIN --security-opt=no-new-privileges IMAGE true"`
		for name, sh := range map[string]string{
			// A reader that opened this would wait for a writer forever.
			"a named pipe": "echo 'app:x:1000:1000::/:/bin/sh' >> /etc/passwd && mv /etc/passwd /etc/passwd.real && mkfifo /etc/passwd",
			"5 MiB":        "echo 'app:x:1000:1000::/:/bin/sh' >> /etc/passwd && dd if=/dev/zero bs=1M count=5 2>/dev/null | tr '\\0' '#' >> /etc/passwd",
		} {
			b, _ := json.Marshal([]string{"/bin/busybox", "sh", "-c", sh})
			img := dockertest.Image(t, nil, "RUN "+string(b), "USER app", label)
			doc := audited(t, "--fail-on", "high", img)
			if w := doc.Audit.Workloads[0]; !w.Root || doc.Run || !strings.Contains(w.UserReason, "could not read") {
				t.Errorf("%s: root %v run %v: %s", name, w.Root, doc.Run, w.UserReason)
			}
		}
	})

	t.Run("host access is gated", func(t *testing.T) {
		img := labelImage(t, `RUN="docker run --rm --label capdrop-test=1 --cap-drop=ALL --security-opt=no-new-privileges \$OPT1 IMAGE true"`)
		for _, c := range []struct{ opt, rule string }{
			{"--volume=/:/host", "CD030"},
			{"--volume=/var/run/docker.sock:/var/run/docker.sock:ro", "CD030"},
			{"--mount=type=bind,source=/etc,target=/host/etc", "CD031"},
			{"--volume=/etc:/host/etc:ro", "CD032"},
			{"--volume=/srv:/srv", "CD033"},
			{"--volume=/srv:/srv:ro", "CD034"},
			{"--pid=host", "CD035"},
			{"--net=host", "CD036"},
			{"--ipc=host", "CD037"},
			{"--uts=host", "CD038"},
			{"--userns=host", "CD039"},
			{"--cgroupns=host", "CD040"},
			{"--device=/dev/fuse", "CD041"},
			{"--security-opt=seccomp=unconfined", "CD042"},
			{"--security-opt=apparmor=unconfined", "CD043"},
			{"--security-opt=label=disable", "CD044"},
			{"--security-opt=systempaths=unconfined", "CD045"},
		} {
			doc := audited(t, "--strict", "--fail-on", "low", "--opt1", c.opt, img)
			if !strings.Contains(" "+rules(doc)+" ", " "+c.rule+" ") || doc.Run || len(doc.Refused) != 2 {
				t.Errorf("%s: findings %q run %v refused %q", c.opt, rules(doc), doc.Run, doc.Refused)
			}
			// The severity alone refuses it, and --strict alone too.
			for _, gate := range [][]string{{"--fail-on", "low"}, {"--strict"}} {
				if _, stderr, code := runMain(t, append(append([]string{"runlabel"}, gate...), "--opt1", c.opt, img)...); code != ExitFindings {
					t.Errorf("%s %s: exit %d: %s", gate, c.opt, code, stderr)
				}
			}
		}
		// What it guards against: root in the container, with no
		// capability at all, writes into a root-owned host directory.
		dir := t.TempDir()
		t.Setenv("CAPDROP_RL_HOSTDIR", dir)
		img = labelImage(t, `RUN="docker run --rm --label capdrop-test=1 --cap-drop=ALL --security-opt=no-new-privileges -v \$CAPDROP_RL_HOSTDIR:/host IMAGE touch /host/written"`)
		if _, stderr, code := runMain(t, "runlabel", "--strict", "--fail-on", "low", img); code != ExitFindings ||
			!strings.Contains(flat(stderr), "CD033") || !strings.Contains(flat(stderr), "--strict: the command reaches into the host (-v "+dir+":/host)") {
			t.Errorf("gated: exit %d: %s", code, stderr)
		}
		if _, err := os.Stat(filepath.Join(dir, "written")); err == nil {
			t.Fatal("the refused label wrote into the host directory")
		}
		if _, stderr, code := runMain(t, "runlabel", img); code != 0 {
			t.Fatalf("ungated: exit %d: %s", code, stderr)
		}
		if _, err := os.Stat(filepath.Join(dir, "written")); err != nil {
			t.Errorf("the container did not write into %s: %v", dir, err)
		}
	})

	t.Run("a refused label is shown whole, in text and JSON", func(t *testing.T) {
		img := labelImage(t, `RUN="docker run --rm IMAGE id | tee /tmp/capdrop-rl-log"`, `INSTALL="cp /etc/shadow /tmp"`)
		for _, c := range []struct {
			label, why string
		}{
			{"RUN", "the label is shell code (a pipeline), not a command"},
			{"INSTALL", "cp is not docker or podman (--force runs it anyway)"},
		} {
			text, _, code := runMain(t, "runlabel", "--display", "--label", c.label, img)
			if code != ExitFindings || !strings.Contains(flat(text), c.why) || !strings.Contains(text, "label      "+c.label+"=") {
				t.Errorf("%s text: exit %d\n%s", c.label, code, text)
			}
			js, _, code := runMain(t, "runlabel", "--display", "-o", "json", "--label", c.label, img)
			var doc report.RunlabelDoc
			if err := json.Unmarshal([]byte(js), &doc); err != nil || code != ExitFindings {
				t.Fatalf("%s json: exit %d %v\n%s", c.label, code, err, js)
			}
			if doc.Run || doc.Label != c.label || doc.LabelText == "" || len(doc.Refused) != 1 || !strings.Contains(doc.Refused[0], c.why) {
				t.Errorf("%s json: %+v", c.label, doc)
			}
		}
	})
}

// TestGainedPrivilegesRefused runs set-user-ID copies of capdrop as
// nobody: verify and runlabel (even --display, which creates a container
// to read an image's accounts) must not use root's engine socket for the
// caller.
func TestGainedPrivilegesRefused(t *testing.T) {
	dockertest.Require(t)
	env := e2e(t)
	suid := filepath.Join(env.dir, "capdrop-suid")
	b, err := os.ReadFile(env.capdrop)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(suid, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(suid, 0o755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	img := dockertest.Image(t, nil)
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"verify", "--", "--label", "capdrop-test=1", img, "true"}, ExitUnsupported},
		{[]string{"runlabel", "--display", img}, ExitRunFailed},
	} {
		r := run(t, asNobody(exec.Command(suid, c.args...)))
		if r.code != c.code || !strings.Contains(r.stderr, "refuses to launch anything with privileges it gained itself") {
			t.Errorf("%q: exit %d stdout %q stderr %q", c.args, r.code, r.stdout, r.stderr)
		}
	}
}
