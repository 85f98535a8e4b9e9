//go:build unix

package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestNoInputBlocksOrFloods feeds every verb that opens a file a named
// pipe (no writer: a plain open would block forever), a link to one, and
// a link to /dev/zero (a read that never ends), wherever it opens files:
// audit's configurations and the .env beside a compose file, verify's
// compose file, its .env and env_file and --from, fix's FILE and --from,
// report's documents and --before. Each must answer at once with exit
// status 2 and an error naming the file.
func TestNoInputBlocksOrFloods(t *testing.T) {
	dir := t.TempDir()
	mk := func(rel, body string) string {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	bad := map[string]string{"fifo": fifo, "link to fifo": filepath.Join(dir, "linkfifo"), "link to /dev/zero": filepath.Join(dir, "linkzero")}
	if err := os.Symlink(fifo, bad["link to fifo"]); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", bad["link to /dev/zero"]); err != nil {
		t.Fatal(err)
	}
	service := "services:\n  web:\n    image: busybox\n    cap_drop: [ALL]\n"
	for what, p := range bad {
		t.Run(what, func(t *testing.T) {
			// A compose directory whose .env is the bad file.
			cdir := filepath.Join(dir, "c-"+strings.NewReplacer(" ", "-", "/", "").Replace(what))
			compose := mk(filepath.Base(cdir)+"/compose.yaml", service)
			if err := os.Symlink(p, filepath.Join(cdir, ".env")); err != nil {
				t.Fatal(err)
			}
			envFile := mk(filepath.Base(cdir)+"-envfile/compose.yaml", service+"    env_file: ["+p+"]\n")
			for _, args := range [][]string{
				{"audit", p},
				{"audit", compose},
				{"verify", "--compose", p},
				{"verify", "--compose", compose},
				{"verify", "--compose", envFile},
				{"verify", "--from", p, "--", "busybox", "true"},
				{"fix", "--cap-add", "", p},
				{"fix", "--from", p, compose},
				{"report", "--format", "text", "-o", filepath.Join(dir, "r.txt"), p},
				{"report", "--format", "text", "-o", filepath.Join(dir, "r.txt"), "--before", p, compose},
			} {
				_, stderr, code := runMain(t, args...)
				named := strings.Contains(stderr, p) || strings.Contains(stderr, filepath.Join(cdir, ".env"))
				if code != ExitUsage || !named || !(strings.Contains(stderr, "not a regular file") || strings.Contains(stderr, "named pipe") || strings.Contains(stderr, "device")) {
					t.Errorf("%q: exit %d, want 2 and an error naming %s:\n%s", args, code, p, stderr)
				}
			}
		})
	}
}

// TestAuditBombExits2 audits an alias bomb beside an honest file: exit 2,
// an error naming the file and the budget, and the honest file audited.
func TestAuditBombExits2(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("m0: &m0 {k: v}\n")
	for i := 1; i < 40; i++ {
		b.WriteString(strings.NewReplacer("I", fmt.Sprint(i), "P", fmt.Sprint(i-1)).Replace("mI: &mI {<<: [*mP, *mP, *mP, *mP], kI: v}\n"))
	}
	b.WriteString("services:\n  web:\n    <<: *m39\n    image: x\n")
	bomb := filepath.Join(dir, "bomb", "compose.yaml")
	good := filepath.Join(dir, "good", "compose.yaml")
	for p, body := range map[string]string{bomb: b.String(), good: "services:\n  api:\n    image: y\n"} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stdout, stderr, code := runMain(t, "audit", "--fail-on", "never", "-o", "json", dir)
	if code != ExitUsage || !strings.Contains(stderr, bomb+":1:1: document too complex: alias/merge expansion budget exceeded: it needs more than its budget of") ||
		!strings.Contains(stdout, `"name": "api"`) {
		t.Errorf("exit %d\nstderr %s\nstdout %s", code, stderr, stdout)
	}
}
