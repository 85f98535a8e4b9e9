// Package source reads container configurations — docker/podman run lines in
// scripts, compose files, Kubernetes manifests, Dockerfiles, OCI config.json,
// docker inspect output, Podman Quadlet units — and turns each container they
// define into a workload.Workload, with positions.
//
// Walk reads files, directories and readers, handing over what it read file
// by file; Collect does the same for paths and returns everything; Parse
// reads one file's content. All keep going
// after bad input: every problem becomes a *workload.Error naming the file
// and, when known, the line, and the rest is still read.
package source

import (
	"github.com/capdrop/capdrop/source/internal/tree"
	"github.com/capdrop/capdrop/workload"
)

// Options tune reading.
type Options struct {
	// Exclude holds glob patterns (path.Match syntax, matched against the
	// slash-separated path relative to each root and against the base name)
	// of files and directories to skip while walking.
	Exclude []string
	// Runtime, when set, overrides the runtime a source would assume
	// (Kubernetes manifests default to containerd).
	Runtime workload.Runtime
	// Env is the environment for compose ${VAR} interpolation; nil means
	// the process environment.
	Env map[string]string
	// MaxFileSize bounds the bytes read from one file; 0 means the default
	// (DefaultMaxFileSize). Larger files are reported, not read.
	MaxFileSize int64
	// HelmValues are values files merged over every Helm chart's own
	// values, in order, and HelmSet key=value assignments applied after
	// them, as `helm template --values F --set K=V` does.
	HelmValues, HelmSet []string

	// allowance is the run's shared pool of alias and merge expansion,
	// which Walk sets; each file also has a budget of its own, in
	// proportion to its size.
	allowance *tree.Allowance
}

// DefaultMaxFileSize is the largest file read when Options.MaxFileSize is 0.
const DefaultMaxFileSize = 16 << 20

// Result is everything read from a set of paths.
type Result struct {
	Workloads []workload.Workload
	Errors    []*workload.Error
	// Files counts the files examined (read, whether or not they held
	// workloads); Skipped the ones passed over, and SkippedBy why (one of
	// the Skip… reasons): not a known format, binary, part of a chart or a
	// Kustomize build (audited as rendered or built), a template nobody
	// renders.
	Files     int
	Skipped   int
	SkippedBy map[string]int
}

// ErrTooComplex is reported (wrapped in a workload.Error) for a document
// whose aliases, merges or extends would cost more than a bounded walk: the
// workloads read from it are incomplete.
var ErrTooComplex = tree.ErrBudget
