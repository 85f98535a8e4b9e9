//go:build unix

package cli

import (
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
