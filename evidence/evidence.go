// Package evidence reads the documents capdrop writes about what a workload
// needs — a profile (`capdrop profile -o json`: the capabilities measured as
// needed), a verify result (`capdrop verify -o json` or `capdrop k8s verify
// -o json`: the set proven to work) and a cluster profile (`capdrop k8s
// profile -o json`: one profile per workload container, of which Pick
// chooses one) — into a capability set, with one policy for every verb that
// takes one (verify --from, fix --from, k8s recommend, k8s verify --from):
//
//   - a profile's set is what it recommends: its "needed" capabilities plus
//     those it lists as used but not yet proven needed ("used_not_proven"),
//     which verification decides about;
//   - a cluster profile's set, for one workload container, is the same:
//     needed plus used but not proven, over every replica; a partial
//     profile is refused unless the caller allows it (ErrPartial);
//   - a verify result that did not pass is refused: its set is known not to
//     work (ErrFailed);
//   - the set must be a list of capability names; ALL is refused, since
//     neither document ever says it and it is no reduced set;
//   - every bad name is reported, with its place in the list;
//   - the document is read up to MaxSize bytes.
package evidence

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/clusterprofile"
)

// Kind says which document a set came from.
type Kind string

// The documents Read tells apart.
const (
	Profile Kind = "profile" // capdrop profile -o json: the set is "needed" plus "used_not_proven"
	Verify  Kind = "verify"  // capdrop verify -o json: the set is "set", proven when "passed"
	// ClusterProfile is capdrop k8s profile -o json: a profile per
	// workload container; Pick chooses one.
	ClusterProfile Kind = "cluster-profile"
)

// MaxSize bounds the bytes Read reads.
const MaxSize = 64 << 20

// ErrFailed is returned for a verify result that did not pass.
var ErrFailed = errors.New("the verify result did not pass: its set is known not to work")

// ErrNotEvidence is wrapped by every error about a document that is not a
// readable profile or verify result.
var ErrNotEvidence = errors.New("not a capdrop profile or verify document")

// Evidence is the set a document holds, and where it came from.
type Evidence struct {
	Set  capset.Set
	Kind Kind
	// Used is the part of a profile's Set it lists as used but not yet
	// proven needed.
	Used capset.Set
	// Name is the document's name as the caller gave it (a path, "-").
	Name string
	// Profiles is the whole document of a cluster profile; Workload names
	// the workload container Pick chose from it (empty until then).
	Profiles *clusterprofile.Document
	Workload string
}

// Field is the document's member holding the set.
func (e Evidence) Field() string {
	switch e.Kind {
	case Verify:
		return "set"
	case ClusterProfile:
		return "profiles[].needed"
	}
	return "needed"
}

// String says where the set came from, for people: `profile p.json
// ("needed")`.
func (e Evidence) String() string {
	what := "profile"
	switch e.Kind {
	case Verify:
		what = "verify result"
	case ClusterProfile:
		if e.Workload != "" {
			return fmt.Sprintf("cluster profile %s (%s)", e.Name, e.Workload)
		}
		what = "cluster profile"
	}
	return fmt.Sprintf("%s %s (%q)", what, e.Name, e.Field())
}

// Read reads a profile or a verify result from r; name is how errors and
// String call the document.
func Read(r io.Reader, name string) (Evidence, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return Evidence{}, fmt.Errorf("%s: %w", name, err)
	}
	if len(b) > MaxSize {
		return Evidence{}, fmt.Errorf("%s: %w: larger than %d MiB", name, ErrNotEvidence, MaxSize>>20)
	}
	return parse(b, name)
}

func parse(b []byte, name string) (Evidence, error) {
	ev := Evidence{Name: name}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line := 1 + bytes.Count(b[:min(int(se.Offset), len(b))], []byte("\n"))
			return ev, fmt.Errorf("%s:%d: %w: not JSON: %v", name, line, ErrNotEvidence, err)
		}
		return ev, fmt.Errorf("%s: %w: not a JSON object", name, ErrNotEvidence)
	}
	var kind string
	if k, ok := doc["kind"]; ok && json.Unmarshal(k, &kind) == nil && kind == clusterprofile.Kind {
		return parseCluster(b, name)
	}
	raw, ok := doc["needed"]
	ev.Kind = Profile
	if !ok {
		if raw, ok = doc["set"]; !ok {
			return ev, fmt.Errorf("%s: %w: neither a profile (no \"needed\") nor a verify result (no \"set\")", name, ErrNotEvidence)
		}
		ev.Kind = Verify
		var passed bool
		if err := json.Unmarshal(doc["passed"], &passed); err != nil {
			return ev, fmt.Errorf("%s: %w: a verify result says whether it passed (\"passed\": true or false)", name, ErrNotEvidence)
		}
		if !passed {
			return ev, fmt.Errorf("%s: %w", name, ErrFailed)
		}
	}
	var names []string
	if err := json.Unmarshal(raw, &names); err != nil {
		return ev, fmt.Errorf("%s: %w: %q must be a list of capability names", name, ErrNotEvidence, ev.Field())
	}
	var errs []error
	for i, n := range names {
		if capset.IsAll(n) {
			errs = append(errs, fmt.Errorf("%s: %s[%d]: ALL is not a reduced set", name, ev.Field(), i))
			continue
		}
		l, err := capset.ParseList(n)
		if err != nil || l.All || l.Set.Len() != 1 {
			if err == nil {
				err = fmt.Errorf("%q is not one capability name", n)
			}
			errs = append(errs, fmt.Errorf("%s: %s[%d]: %w", name, ev.Field(), i, err))
			continue
		}
		ev.Set |= l.Set
	}
	if ev.Kind == Profile {
		if raw, ok := doc["used_not_proven"]; ok {
			var used []struct {
				Capability string `json:"capability"`
			}
			if err := json.Unmarshal(raw, &used); err != nil {
				return ev, fmt.Errorf("%s: %w: \"used_not_proven\" must be a list of {\"capability\": NAME}", name, ErrNotEvidence)
			}
			for i, u := range used {
				l, err := capset.ParseList(u.Capability)
				if err != nil || l.All || l.Set.Len() != 1 {
					if err == nil {
						err = fmt.Errorf("%q is not one capability name", u.Capability)
					}
					errs = append(errs, fmt.Errorf("%s: used_not_proven[%d]: %w", name, i, err))
					continue
				}
				ev.Used |= l.Set
			}
			ev.Set |= ev.Used
		}
	}
	if err := errors.Join(errs...); err != nil {
		return ev, badNames{err}
	}
	return ev, nil
}

// badNames lists every bad name of a set, one per line, and is an
// ErrNotEvidence.
type badNames struct{ err error }

func (e badNames) Error() string   { return e.err.Error() }
func (e badNames) Unwrap() []error { return []error{e.err, ErrNotEvidence} }
