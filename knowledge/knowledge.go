// Package knowledge is capdrop's knowledge base: for every capability what it
// allows, how risky it is and why, how it is abused, when software really needs
// it and how to drop it; and the default sets of the container runtimes and
// Kubernetes Pod Security levels.
//
// The knowledge is data (capabilities.yaml and defaults.yaml, embedded), not
// code paths; this package loads and checks it.
package knowledge

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/capdrop/capdrop/capset"
	"go.yaml.in/yaml/v3"
)

//go:embed capabilities.yaml
var capabilitiesYAML []byte

//go:embed defaults.yaml
var defaultsYAML []byte

// Entry is everything capdrop knows about one capability.
type Entry struct {
	Cap            capset.Cap `yaml:"-" json:"-"`
	Number         int        `yaml:"number" json:"number"`
	Name           string     `yaml:"name" json:"name"`
	Since          string     `yaml:"since" json:"since"`
	Summary        string     `yaml:"summary" json:"summary"`
	Description    string     `yaml:"description" json:"description"`
	Risk           Risk       `yaml:"risk" json:"risk"`
	RiskReason     string     `yaml:"risk_reason" json:"risk_reason"`
	RootEquivalent bool       `yaml:"root_equivalent" json:"root_equivalent"`
	Escalation     []string   `yaml:"escalation" json:"escalation"`
	NeededWhen     []string   `yaml:"needed_when" json:"needed_when"`
	CheckedBy      []string   `yaml:"checked_by" json:"checked_by"`
	Advice         string     `yaml:"advice" json:"advice"`
}

// Baseline is a named default set: what a runtime gives a container that asks
// for nothing, or what a Pod Security level allows a container to add.
type Baseline struct {
	ID    string     `yaml:"id" json:"id"`
	Title string     `yaml:"title" json:"title"`
	Kind  string     `yaml:"kind" json:"kind"` // "runtime" or "policy"
	Note  string     `yaml:"note" json:"note"`
	Names []string   `yaml:"caps" json:"-"`
	Caps  capset.Set `yaml:"-" json:"-"`
}

// The baseline IDs.
const (
	Docker        = "docker"
	Containerd    = "containerd"
	CRIO          = "crio"
	Podman        = "podman"
	Runc          = "runc"
	K8sBaseline   = "baseline"
	K8sRestricted = "restricted"
)

// RuntimeIDs lists the runtimes with a default set, in display order.
var RuntimeIDs = []string{Docker, Containerd, CRIO, Podman, Runc}

type data struct {
	entries   []Entry
	baselines []Baseline
}

var (
	loadOnce sync.Once
	loaded   data
	loadErr  error
)

func get() data {
	loadOnce.Do(func() {
		loaded, loadErr = parse(capabilitiesYAML, defaultsYAML)
	})
	if loadErr != nil {
		// The data is compiled in and checked by the tests; reaching this
		// means the binary was built from a broken tree.
		panic("capdrop: embedded knowledge base is invalid: " + loadErr.Error())
	}
	return loaded
}

// All returns every entry, ordered by capability number.
func All() []Entry { return slices.Clone(get().entries) }

// Lookup returns the entry for c; false when capdrop knows nothing of c.
func Lookup(c capset.Cap) (Entry, bool) {
	e := get().entries
	if int(c) < len(e) {
		return e[c], true
	}
	return Entry{}, false
}

// Baselines returns the runtime default sets followed by the Pod Security
// allowances.
func Baselines() []Baseline { return slices.Clone(get().baselines) }

// Default returns the baseline set with the given ID.
func Default(id string) (capset.Set, bool) {
	for _, b := range get().baselines {
		if b.ID == id {
			return b.Caps, true
		}
	}
	return 0, false
}

// MustDefault is Default for the IDs this package declares; it panics on an
// unknown ID, which is a programming error.
func MustDefault(id string) capset.Set {
	s, ok := Default(id)
	if !ok {
		panic("knowledge: no baseline " + id)
	}
	return s
}

// HeldBy returns the IDs of the baselines that contain c.
func HeldBy(c capset.Cap) []string {
	var out []string
	for _, b := range get().baselines {
		if b.Caps.Has(c) {
			out = append(out, b.ID)
		}
	}
	return out
}

// RootEquivalent returns the set of capabilities the knowledge base marks as
// root-equivalent or container-escape capabilities.
func RootEquivalent() capset.Set {
	var s capset.Set
	for _, e := range get().entries {
		if e.RootEquivalent {
			s = s.With(e.Cap)
		}
	}
	return s
}

func parse(capsYAML, defaultsYAML []byte) (data, error) {
	var d data
	var doc struct {
		Capabilities []Entry `yaml:"capabilities"`
	}
	if err := decodeStrict(capsYAML, &doc); err != nil {
		return d, fmt.Errorf("capabilities.yaml: %w", err)
	}
	var errs []error
	for i, e := range doc.Capabilities {
		if e.Number != i {
			errs = append(errs, fmt.Errorf("capabilities.yaml: entry %d has number %d; entries must be in order", i, e.Number))
			continue
		}
		e.Cap = capset.Cap(e.Number)
		if err := e.validate(); err != nil {
			errs = append(errs, fmt.Errorf("capabilities.yaml: %s: %w", e.Cap.Name(), err))
		}
		d.entries = append(d.entries, e)
	}
	if len(doc.Capabilities) != int(capset.Last)+1 {
		errs = append(errs, fmt.Errorf("capabilities.yaml: %d entries, want %d", len(doc.Capabilities), capset.Last+1))
	}

	var bdoc struct {
		Baselines []Baseline `yaml:"baselines"`
	}
	if err := decodeStrict(defaultsYAML, &bdoc); err != nil {
		return d, fmt.Errorf("defaults.yaml: %w", err)
	}
	for _, b := range bdoc.Baselines {
		for _, n := range b.Names {
			c, err := capset.Parse(n)
			if err != nil {
				errs = append(errs, fmt.Errorf("defaults.yaml: %s: %w", b.ID, err))
			}
			b.Caps = b.Caps.With(c)
		}
		if b.ID == "" || b.Title == "" || b.Note == "" || (b.Kind != "runtime" && b.Kind != "policy") {
			errs = append(errs, fmt.Errorf("defaults.yaml: baseline %q lacks id, title, note or a kind of runtime/policy", b.ID))
		}
		d.baselines = append(d.baselines, b)
	}
	return d, errors.Join(errs...)
}

func decodeStrict(b []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	return dec.Decode(v)
}

func (e Entry) validate() error {
	var missing []string
	check := func(name string, empty bool) {
		if empty {
			missing = append(missing, name)
		}
	}
	check("name", e.Name != e.Cap.Name())
	check("since", e.Since == "")
	check("summary", strings.TrimSpace(e.Summary) == "")
	check("description", strings.TrimSpace(e.Description) == "")
	check("risk", e.Risk == RiskUnset)
	check("risk_reason", strings.TrimSpace(e.RiskReason) == "")
	check("escalation", len(e.Escalation) == 0)
	check("needed_when", len(e.NeededWhen) == 0)
	check("checked_by", len(e.CheckedBy) == 0)
	check("advice", strings.TrimSpace(e.Advice) == "")
	if len(missing) > 0 {
		return fmt.Errorf("missing or wrong: %s", strings.Join(missing, ", "))
	}
	return nil
}
