package verify

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/knowledge"
)

// Target is a container configuration to run with candidate sets: the
// engine's create request for it, with everything but the capability fields
// kept as the user configured it.
type Target struct {
	// Kind is "run" (docker run arguments), "compose" (a compose service) or
	// "image" (an image's own configuration).
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

	config     map[string]any // the create request's Config members
	host       map[string]any // its HostConfig
	networking map[string]any // its NetworkingConfig, or nil
}

// networkMode is the HostConfig's NetworkMode ("" and "default" mean the
// default bridge).
func (t *Target) networkMode() string {
	s, _ := t.host["NetworkMode"].(string)
	return s
}

// NonRoot reports whether the configured user is not root, in which case
// Docker puts the added capabilities only in the bounding set and the
// workload can use them only through file capabilities.
func (t *Target) NonRoot() bool {
	u := t.User
	if i := strings.IndexByte(u, ':'); i >= 0 {
		u = u[:i]
	}
	return u != "" && u != "0" && u != "root"
}

// Body returns the create request for one trial: the configuration with
// exactly set added after dropping ALL, not privileged, never restarted or
// auto-removed (capdrop reads its exit and logs, then removes it), without
// host port publishing (so trials never collide with the running service),
// and with labels added.
func (t *Target) Body(set capset.Set, labels map[string]string) map[string]any {
	body := deepCopy(t.config)
	host := deepCopy(t.host)
	lbl := map[string]any{}
	if old, ok := body["Labels"].(map[string]any); ok {
		maps.Copy(lbl, old)
	}
	for k, v := range labels {
		lbl[k] = v
	}
	body["Labels"] = lbl
	add := set.Names()
	host["CapAdd"] = add
	host["CapDrop"] = []string{"ALL"}
	host["Privileged"] = false
	host["AutoRemove"] = false
	host["RestartPolicy"] = map[string]any{"Name": "no"}
	delete(host, "PortBindings")
	host["PublishAllPorts"] = false
	if t.Privileged {
		// The privileged container had no masked or read-only /proc paths;
		// without the fields the engine applies its defaults again.
		delete(host, "MaskedPaths")
		delete(host, "ReadonlyPaths")
	}
	body["HostConfig"] = host
	if t.networking != nil {
		body["NetworkingConfig"] = deepCopy(t.networking)
	}
	return body
}

func deepCopy(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("verify: create request is not JSON: %v", err)) // built from JSON or from plain values
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(fmt.Sprintf("verify: create request is not JSON: %v", err))
	}
	return out
}

// ConfiguredSet is the set the configuration itself gives a root process
// under Docker's rules (moby's TweakCapabilities): privileged → every
// capability the engine has (all); ALL in cap_add → all minus the drops;
// ALL in cap_drop → exactly the adds; otherwise Docker's 14 defaults minus
// the drops plus the adds (a capability in both is added). all is the set
// the engine knows.
func (t *Target) ConfiguredSet(all capset.Set) (capset.Set, error) {
	return dockerSet(t.CapAdd, t.CapDrop, t.Privileged, all)
}

func dockerSet(add, drop []string, privileged bool, all capset.Set) (capset.Set, error) {
	if privileged {
		return all, nil
	}
	var errs []error
	parse := func(words []string) (capset.Set, bool) {
		var s capset.Set
		hasAll := false
		for _, w := range words {
			if capset.IsAll(w) {
				hasAll = true
				continue
			}
			c, err := capset.Parse(w)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			s = s.With(c)
		}
		return s, hasAll
	}
	a, addAll := parse(add)
	d, dropAll := parse(drop)
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	switch {
	case addAll:
		return all.Minus(d), nil
	case dropAll:
		return a, nil
	}
	return knowledge.MustDefault(knowledge.Docker).Minus(d).Union(a), nil
}

// EngineAll is the set a Docker engine of the given version means by "ALL":
// 20.10 and older know capabilities 0 to 37 (up to AUDIT_READ); 23 and newer
// also PERFMON, BPF and CHECKPOINT_RESTORE.
func EngineAll(version string) capset.Set {
	major := 0
	for _, r := range version {
		if r < '0' || r > '9' {
			break
		}
		major = major*10 + int(r-'0')
	}
	if major > 0 && major < 23 {
		return capset.Upto(capset.AUDIT_READ)
	}
	return capset.Known
}

// stringList reads a JSON list of strings from a decoded map value.
func stringList(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
