//go:build unix

package source

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestNoFileBlocksOrFloods puts named pipes, links to them and links to
// /dev/zero where capdrop opens files — a named configuration, a walked
// one, and the .env beside a compose file (a pipe, a link to a pipe, a
// link to /dev/zero, one larger than the limit) — and wants each refused
// with an error naming it, while the good files beside them are read. A
// pipe that blocked the open or a device read to its end would hang the
// test instead.
func TestNoFileBlocksOrFloods(t *testing.T) {
	dir := t.TempDir()
	compose := "services:\n  web:\n    image: nginx:${TAG:-1}\n    cap_add: [NET_ADMIN]\n"
	for _, d := range []string{"fifo", "linkfifo", "zero", "big", "good"} {
		write(t, filepath.Join(dir, d, "compose.yaml"), compose)
	}
	must(t, syscall.Mkfifo(filepath.Join(dir, "fifo", ".env"), 0o644))
	must(t, syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o644))
	must(t, os.Symlink("../pipe", filepath.Join(dir, "linkfifo", ".env")))
	must(t, os.Symlink("/dev/zero", filepath.Join(dir, "zero", ".env")))
	write(t, filepath.Join(dir, "big", ".env"), "TAG=2\n"+strings.Repeat("# padding\n", 2<<20))
	write(t, filepath.Join(dir, "good", ".env"), "TAG=3\n")
	// Configurations that are not files: named, and met while walking.
	must(t, os.Symlink("/dev/zero", filepath.Join(dir, "zero.yaml")))
	must(t, os.Symlink("pipe", filepath.Join(dir, "pipe.yaml")))
	must(t, os.Symlink("/dev/zero", filepath.Join(dir, "good", "docker-compose.yml")))

	res := Collect([]string{dir, filepath.Join(dir, "zero.yaml"), filepath.Join(dir, "pipe.yaml")}, Options{Env: map[string]string{}})
	errs := strings.ReplaceAll(errorsOf(res), dir+"/", "")
	for _, want := range []string{
		"fifo/compose.yaml: .env beside it (fifo/.env): not a regular file (named pipe)",
		"linkfifo/compose.yaml: .env beside it (linkfifo/.env): not a regular file (named pipe)",
		"zero/compose.yaml: .env beside it (zero/.env): not a regular file (character device)",
		"big/compose.yaml: .env beside it (big/.env): file too large: 20971526 bytes (the limit is 16777216)",
		"zero.yaml: not a regular file (character device)",
		"pipe.yaml: not a regular file (named pipe)",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("missing error %q in:\n%s", want, errs)
		}
	}
	// Every compose file is still audited; only the good .env is used.
	var images []string
	for _, w := range res.Workloads {
		rel, _ := filepath.Rel(dir, w.Pos.File)
		images = append(images, rel+"="+w.Image)
	}
	want := "big/compose.yaml=nginx:1 fifo/compose.yaml=nginx:1 good/compose.yaml=nginx:3 linkfifo/compose.yaml=nginx:1 zero/compose.yaml=nginx:1"
	if got := strings.Join(images, " "); got != want {
		t.Errorf("workloads %s\nwant      %s", got, want)
	}
}
