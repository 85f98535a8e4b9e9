package audit

import (
	"fmt"
	"strings"

	"github.com/capdrop/capdrop/knowledge"
)

// Severity grades a finding. Higher is worse.
type Severity int

// The severities, in order.
const (
	SeverityUnset Severity = iota
	Low
	Medium
	High
	Critical
)

var severityNames = [...]string{"", "low", "medium", "high", "critical"}

// Severities lists the severity names from lowest to highest.
var Severities = []string{"low", "medium", "high", "critical"}

// String returns the lower-case name.
func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity parses "low", "medium", "high" or "critical" in any case.
func ParseSeverity(text string) (Severity, error) {
	for i, n := range severityNames {
		if i > 0 && strings.EqualFold(text, n) {
			return Severity(i), nil
		}
	}
	return SeverityUnset, fmt.Errorf("unknown severity %q (want low, medium, high or critical)", text)
}

// FromRisk maps a knowledge-base risk onto the same scale.
func FromRisk(r knowledge.Risk) Severity {
	switch r {
	case knowledge.Critical:
		return Critical
	case knowledge.High:
		return High
	case knowledge.Medium:
		return Medium
	}
	return Low
}

// MarshalText implements encoding.TextMarshaler.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}
