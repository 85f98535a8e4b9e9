// Package vmtest is the guest side of the kernel matrix (scripts/kernel-matrix),
// which boots Debian's kernels under qemu with an initramfs holding only a
// static /init (cmd in ./init) and static test binaries.
//
// The init passes every kernel command line parameter "kmatrix.NAME=VALUE"
// to the tests as the environment variable CAPDROP_VMTEST_NAME (upper case),
// runs the tests, and prints one result line built from what the tests
// reported with Report. Tests that exercise a kernel path call InGuest to
// know they must run (and fail, never skip) because the matrix picked this
// kernel for that path.
package vmtest

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

// The protocol between scripts/kernel-matrix, the init and the tests.
const (
	// EnvGuest is "1" in the environment of tests the init runs.
	EnvGuest = "CAPDROP_VMTEST"
	// EnvReport names the file Report appends "key=value" lines to.
	EnvReport = "CAPDROP_VMTEST_REPORT"
	// ParamPrefix starts the kernel parameters meant for the init and
	// the tests ("kmatrix.tracepoint=yes").
	ParamPrefix = "kmatrix."
	// ResultMarker starts the init's result line:
	//   CAPDROP-VMTEST-RESULT <nonce> PASS|FAIL <kernel> <mechanism> [key=value...]
	ResultMarker = "CAPDROP-VMTEST-RESULT"
)

// InGuest reports whether the test runs inside a kernel-matrix guest.
func InGuest() bool { return os.Getenv(EnvGuest) == "1" }

// Param returns the kernel parameter kmatrix.NAME of the guest ("" when the
// host did not pass it, or outside a guest).
func Param(name string) string {
	return os.Getenv(ParamEnv(name))
}

// ParamEnv is the environment variable carrying kmatrix.NAME.
func ParamEnv(name string) string {
	return EnvGuest + "_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(name))
}

var reportKey = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

// Report records key=value for the guest's result line (and logs it). The
// key "mechanism" is the one the line puts first. Whitespace in the value
// becomes "_" so the line stays one line of fields.
func Report(t testing.TB, key, value string) {
	t.Helper()
	if !reportKey.MatchString(key) {
		t.Fatalf("vmtest.Report: bad key %q", key)
	}
	value = strings.Join(strings.Fields(value), "_")
	if value == "" {
		value = "-"
	}
	t.Logf("report %s=%s", key, value)
	path := os.Getenv(EnvReport)
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatalf("vmtest.Report: %v", err)
	}
	defer f.Close()
	if _, err := fmt.Fprintf(f, "%s=%s\n", key, value); err != nil {
		t.Fatalf("vmtest.Report: %v", err)
	}
}
