// Package needs is capdrop's ground-truth workload: privileged operations,
// each needing exactly one capability, that tests run inside containers and
// on hosts to check what the profiler, verify and the kernel matrix say
// against a workload whose needs are known.
//
// The operations are run by the static helper in cmd/capneeds. Some need
// fixtures (a file owned by another uid, a setuid copy of the helper) that
// Prepare makes beforehand, with full privileges — in a test image at build
// time, or in a directory on the host.
package needs

import (
	"fmt"
	"sort"
	"strings"

	"github.com/capdrop/capdrop/capset"
)

// OtherID is the uid and gid that fixtures belong to and that operations
// change ownership or identity to.
const OtherID = 1234

// DefaultDir is where Prepare puts the fixtures in a test image.
const DefaultDir = "/var/capneeds"

// Op is one privileged operation.
type Op struct {
	// Name is how the helper is told to run it.
	Name string
	// Cap is the one capability it needs.
	Cap capset.Cap
	// Does says what it does.
	Does string
	// Sysctls are the container sysctls it assumes (docker run --sysctl).
	Sysctls []string
	// HostSafe is false for operations that change the host when run
	// outside a container (a mount escapes nothing: the helper runs them in
	// its own mount namespace; see Does).
	HostSafe bool

	run func(dir string) error
}

// All returns every operation, sorted by name.
func All() []Op {
	out := append([]Op(nil), ops...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup returns the operation called name.
func Lookup(name string) (Op, bool) {
	for _, o := range ops {
		if o.Name == name {
			return o, true
		}
	}
	return Op{}, false
}

// Set returns the capabilities the named operations need.
func Set(names ...string) (capset.Set, error) {
	var s capset.Set
	for _, n := range names {
		o, ok := Lookup(n)
		if !ok {
			return 0, unknown(n)
		}
		s = s.With(o.Cap)
	}
	return s, nil
}

// Sysctls returns the sysctls the named operations assume, without repeats.
func Sysctls(names ...string) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		o, _ := Lookup(n)
		for _, s := range o.Sysctls {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}

func unknown(name string) error {
	var names []string
	for _, o := range All() {
		names = append(names, o.Name)
	}
	return fmt.Errorf("unknown operation %q (known: %s)", name, strings.Join(names, ", "))
}

// OpError is an operation that failed.
type OpError struct {
	Op  Op
	Err error
}

func (e *OpError) Error() string {
	return fmt.Sprintf("%s (needs %s): %v", e.Op.Name, e.Op.Cap.Name(), e.Err)
}

func (e *OpError) Unwrap() error { return e.Err }

// Run runs the named operations in order, with fixtures in dir, and stops
// at the first that fails.
func Run(dir string, names ...string) error {
	for _, n := range names {
		o, ok := Lookup(n)
		if !ok {
			return unknown(n)
		}
		if err := o.run(dir); err != nil {
			return &OpError{Op: o, Err: err}
		}
	}
	return nil
}
