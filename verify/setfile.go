package verify

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/capdrop/capdrop/capset"
)

// ReadSetFile reads the capability set a document holds: a profile from
// `capdrop profile -o json` (its "needed" list) or a result of `capdrop
// verify -o json` (its "set" list). It returns the set and a description of
// where it came from. Errors name the file and, for bad names, the list and
// index; every bad name is reported.
func ReadSetFile(path string) (capset.Set, string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, "", err
	}
	return parseSetDocument(b, path)
}

func parseSetDocument(b []byte, path string) (capset.Set, string, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line := 1 + bytes.Count(b[:min(int(se.Offset), len(b))], []byte("\n"))
			return 0, "", fmt.Errorf("%s:%d: not JSON: %v", path, line, err)
		}
		return 0, "", fmt.Errorf("%s: not a JSON object: %v", path, err)
	}
	field, what := "needed", "profile"
	raw, ok := doc[field]
	if !ok {
		field, what = "set", "verify result"
		raw, ok = doc[field]
	}
	if !ok {
		return 0, "", fmt.Errorf("%s: neither a profile (no \"needed\") nor a verify result (no \"set\")", path)
	}
	var names []string
	if err := json.Unmarshal(raw, &names); err != nil {
		return 0, "", fmt.Errorf("%s: %q must be a list of capability names: %v", path, field, err)
	}
	var s capset.Set
	var errs []error
	for i, n := range names {
		c, err := capset.Parse(n)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %s[%d]: %w", path, field, i, err))
			continue
		}
		s = s.With(c)
	}
	if err := errors.Join(errs...); err != nil {
		return 0, "", err
	}
	return s, fmt.Sprintf("%s %s (%q)", what, path, field), nil
}
