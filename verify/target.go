package verify

import (
	"encoding/json"
	"fmt"
	"maps"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/engine"
	"github.com/capdrop/capdrop/workload"
)

// Target is a container configuration to run with candidate sets: the
// engine's create request for it (engine.FromWorkload), with everything
// but the capability fields kept as the configuration says.
type Target struct {
	// Kind is "run" (docker run arguments), "compose" (a compose service)
	// or "image" (an image's own configuration).
	Kind string `json:"kind"`
	// Source says where the configuration came from, for people.
	Source string `json:"source"`
	Image  string `json:"image"`
	// User is the configured user ("" for the image's, usually root).
	User string `json:"user,omitempty"`
	// CapAdd, CapDrop and Privileged are the configuration's own capability
	// settings, which every trial replaces.
	CapAdd     []string `json:"cap_add,omitempty"`
	CapDrop    []string `json:"cap_drop,omitempty"`
	Privileged bool     `json:"privileged,omitempty"`
	// Notes say how the trials differ from the configuration besides the
	// capability set, and why.
	Notes []string `json:"notes,omitempty"`

	workload workload.Workload
	req      *engine.CreateRequest
}

// NewTarget returns the target that runs the container w configures. kind
// and source describe it for people.
func NewTarget(w workload.Workload, kind, source string) (*Target, error) {
	req, err := engine.FromWorkload(w)
	if err != nil {
		return nil, err
	}
	t := &Target{Kind: kind, Source: source, Image: w.Image, User: w.User,
		CapAdd: workload.Texts(w.CapAdd), CapDrop: workload.Texts(w.CapDrop), Privileged: w.Privileged,
		workload: w, req: req}
	if t.Privileged {
		t.Notes = append(t.Notes, "privileged replaced by the candidate set: host devices, seccomp, AppArmor and masked /proc paths are back to Docker's defaults in the trials")
	}
	if len(w.Run.Ports) > 0 {
		t.Notes = append(t.Notes, "published ports left out (trials never bind host ports; probes use the container's own address)")
	}
	if r := w.Run.Restart; r != "" && r != "no" {
		t.Notes = append(t.Notes, "restart policy "+r+" left out (a trial runs once)")
	}
	if kind == "compose" && w.Host.Namespaces.Network == nil {
		t.Notes = append(t.Notes, "the trial runs on Docker's default bridge network, not the project's network: other services are not reachable by name")
	}
	return t, nil
}

// networkMode is the container's network mode ("" and "default" mean the
// default bridge).
func (t *Target) networkMode() string { return t.req.HostConfig.NetworkMode }

// Body returns the create request for one trial: the configuration with
// exactly set added after dropping ALL, not privileged, never restarted or
// auto-removed (capdrop reads its exit and logs, then removes it), without
// host port publishing (so trials never collide with the running service),
// and with labels added.
func (t *Target) Body(set capset.Set, labels map[string]string) *engine.CreateRequest {
	b, err := json.Marshal(t.req)
	if err != nil {
		panic(fmt.Sprintf("verify: create request is not JSON: %v", err)) // plain values only
	}
	var body engine.CreateRequest
	if err := json.Unmarshal(b, &body); err != nil {
		panic(fmt.Sprintf("verify: create request is not JSON: %v", err))
	}
	if body.Labels == nil {
		body.Labels = map[string]string{}
	}
	maps.Copy(body.Labels, labels)
	h := &body.HostConfig
	h.CapAdd, h.CapDrop, h.Privileged = set.Names(), []string{"ALL"}, false
	h.AutoRemove, h.RestartPolicy = false, engine.RestartPolicy{Name: "no"}
	h.PortBindings, h.PublishAllPorts = nil, false
	return &body
}
