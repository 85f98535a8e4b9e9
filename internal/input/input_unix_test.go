//go:build unix

package input

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestRefusesWhatIsNotAFile opens every kind of thing a path can name, and
// links to each: only the regular file (directly or through a link) is
// read, a named pipe without a writer never blocks the open, and a device
// is never read (reading /dev/zero would never end).
func TestRefusesWhatIsNotAFile(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(dir, "compose.yaml")
	must(os.WriteFile(file, []byte("services: {}\n"), 0o644))
	fifo := filepath.Join(dir, "fifo")
	must(syscall.Mkfifo(fifo, 0o644))
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	must(err)
	defer l.Close()
	links := map[string]string{"link-file": file, "link-fifo": fifo, "link-zero": "/dev/zero", "link-null": "/dev/null",
		"link-dir": dir, "link-sock": sock, "link-link-zero": filepath.Join(dir, "link-zero")}
	for name, target := range links {
		must(os.Symlink(target, filepath.Join(dir, name)))
	}
	for _, c := range []struct {
		path, kind string
	}{
		{file, ""}, {filepath.Join(dir, "link-file"), ""},
		{fifo, "named pipe"}, {filepath.Join(dir, "link-fifo"), "named pipe"},
		{"/dev/zero", "character device"}, {filepath.Join(dir, "link-zero"), "character device"},
		{filepath.Join(dir, "link-link-zero"), "character device"}, {filepath.Join(dir, "link-null"), "character device"},
		{dir, "directory"}, {filepath.Join(dir, "link-dir"), "directory"},
		{sock, "socket"}, {filepath.Join(dir, "link-sock"), "socket"},
	} {
		data, err := ReadFile(c.path, 0)
		switch {
		case c.kind == "" && (err != nil || string(data) != "services: {}\n"):
			t.Errorf("%s: %q, %v", c.path, data, err)
		case c.kind != "" && (!errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "("+c.kind+")") || !strings.Contains(err.Error(), c.path)):
			t.Errorf("%s: %v, want a refusal naming the path and %q", c.path, err, c.kind)
		}
	}
}

func TestLimit(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(p, make([]byte, 2000), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(p, 1999); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "2000 bytes (the limit is 1999)") || !strings.Contains(err.Error(), p) {
		t.Errorf("%v", err)
	}
	if b, err := ReadFile(p, 2000); err != nil || len(b) != 2000 {
		t.Errorf("%d bytes, %v", len(b), err)
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "none"), 0); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%v", err)
	}
}
