package audit

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

//go:embed rules.yaml
var rulesYAML []byte

// Rule is one entry of the rule catalogue.
type Rule struct {
	ID       string   `yaml:"id" json:"id"`
	Name     string   `yaml:"name" json:"name"`
	Severity Severity `yaml:"severity" json:"severity"`
	// SeverityFrom is "risk" when each finding takes the risk of the
	// capabilities it names rather than Severity.
	SeverityFrom string            `yaml:"severity_from,omitempty" json:"severity_from,omitempty"`
	Title        string            `yaml:"title" json:"title"`
	Description  string            `yaml:"description" json:"description"`
	Rationale    string            `yaml:"rationale" json:"rationale"`
	Remediation  string            `yaml:"remediation" json:"remediation"`
	Policies     map[string]string `yaml:"policies" json:"policies"`
}

// The policy presets.
const (
	PolicyDefault    = "default"
	PolicyBaseline   = "baseline"
	PolicyRestricted = "restricted"
)

// Policies lists the presets, for flag validation and help.
var Policies = []string{PolicyDefault, PolicyBaseline, PolicyRestricted}

// Level returns whether r applies under policy and at what severity.
func (r Rule) Level(policy string) (Severity, bool) {
	v := r.Policies[policy]
	switch v {
	case "off", "":
		return SeverityUnset, false
	case "on":
		return r.Severity, true
	}
	s, err := ParseSeverity(v)
	if err != nil {
		return SeverityUnset, false
	}
	return s, true
}

var (
	rulesOnce sync.Once
	rules     []Rule
	rulesErr  error
)

// Rules returns the catalogue, ordered by ID.
func Rules() []Rule {
	rulesOnce.Do(func() { rules, rulesErr = parseRules(rulesYAML) })
	if rulesErr != nil {
		// The catalogue is compiled in and checked by the tests.
		panic("capdrop: embedded rule catalogue is invalid: " + rulesErr.Error())
	}
	return slices.Clone(rules)
}

// RuleByID returns the rule with the given ID.
func RuleByID(id string) (Rule, bool) {
	for _, r := range Rules() {
		if r.ID == id {
			return r, true
		}
	}
	return Rule{}, false
}

var idPattern = regexp.MustCompile(`^CD[0-9]{3}$`)

func parseRules(b []byte) ([]Rule, error) {
	var doc struct {
		Rules []Rule `yaml:"rules"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("rules.yaml: %w", err)
	}
	var errs []error
	seen := map[string]bool{}
	for i, r := range doc.Rules {
		if err := r.validate(); err != nil {
			errs = append(errs, fmt.Errorf("rules.yaml: rule %d (%s): %w", i, r.ID, err))
		}
		if seen[r.ID] || seen[r.Name] {
			errs = append(errs, fmt.Errorf("rules.yaml: %s/%s is not unique", r.ID, r.Name))
		}
		seen[r.ID], seen[r.Name] = true, true
		if i > 0 && doc.Rules[i-1].ID >= r.ID {
			errs = append(errs, fmt.Errorf("rules.yaml: %s is out of order", r.ID))
		}
	}
	return doc.Rules, errors.Join(errs...)
}

func (r Rule) validate() error {
	var missing []string
	check := func(name string, bad bool) {
		if bad {
			missing = append(missing, name)
		}
	}
	check("id (CDnnn)", !idPattern.MatchString(r.ID))
	check("name", strings.TrimSpace(r.Name) == "")
	check("severity", r.Severity == SeverityUnset)
	check("severity_from", r.SeverityFrom != "" && r.SeverityFrom != "risk")
	check("title", strings.TrimSpace(r.Title) == "")
	check("description", strings.TrimSpace(r.Description) == "")
	check("rationale", strings.TrimSpace(r.Rationale) == "")
	check("remediation", strings.TrimSpace(r.Remediation) == "")
	for _, p := range Policies {
		v, ok := r.Policies[p]
		if _, err := ParseSeverity(v); !ok || (v != "on" && v != "off" && err != nil) {
			missing = append(missing, "policies."+p)
		}
	}
	if len(r.Policies) != len(Policies) {
		missing = append(missing, "policies (exactly "+strings.Join(Policies, ", ")+")")
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing or wrong: %s", strings.Join(missing, ", "))
	}
	return nil
}
