// Package kubernetes holds capdrop's Kubernetes manifests, built into the
// binary so that the verbs that deploy or document them use exactly the
// files shipped here.
package kubernetes

import (
	"embed"
	"errors"
	"io/fs"
)

//go:embed *.yaml
var files embed.FS

// AgentFile is the node agent's manifest: its DaemonSet, ServiceAccount and
// permissions.
const AgentFile = "agent.yaml"

// ErrMissing is returned by File for a manifest this binary was built
// without.
var ErrMissing = errors.New("this capdrop was built without the manifest")

// File returns one of the manifests by name (agent.yaml,
// profile-rbac.yaml).
func File(name string) ([]byte, error) {
	data, err := files.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrMissing
	}
	return data, err
}
