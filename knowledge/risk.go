package knowledge

import (
	"fmt"
	"strings"
)

// Risk grades how much harm holding a capability allows.
type Risk int

// Risk levels, ordered so that a higher value is a higher risk.
const (
	RiskUnset Risk = iota
	Low
	Medium
	High
	Critical
)

var riskNames = [...]string{"", "low", "medium", "high", "critical"}

// String returns the lower-case level name.
func (r Risk) String() string {
	if r < 0 || int(r) >= len(riskNames) {
		return fmt.Sprintf("risk(%d)", int(r))
	}
	return riskNames[r]
}

// ParseRisk parses "low", "medium", "high" or "critical" in any case.
func ParseRisk(s string) (Risk, error) {
	for i, n := range riskNames {
		if i > 0 && strings.EqualFold(s, n) {
			return Risk(i), nil
		}
	}
	return RiskUnset, fmt.Errorf("unknown risk level %q (want low, medium, high or critical)", s)
}

// MarshalText implements encoding.TextMarshaler.
func (r Risk) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (r *Risk) UnmarshalText(b []byte) error {
	v, err := ParseRisk(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}
