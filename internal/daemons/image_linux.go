//go:build linux

package daemons

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/capdrop/capdrop/internal/dockertest"
)

var (
	imageOnce sync.Once
	imageRef  string
	imageErr  error
)

// Image returns the ground truth's image, built (or found in the engine and
// the rootfs cache) by scripts/daemon-image. It skips t unless it runs as
// root with an engine (dockertest.Require).
func Image(t testing.TB) string {
	t.Helper()
	dockertest.Require(t)
	imageOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		script := filepath.Join(filepath.Dir(file), "..", "..", "scripts", "daemon-image")
		cmd := exec.Command(script)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		imageRef, imageErr = strings.TrimSpace(string(out)), err
	})
	if imageErr != nil {
		t.Fatalf("scripts/daemon-image: %v", imageErr)
	}
	return imageRef
}
