package fix

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/capdrop/capdrop/capset"
)

// Set documents that ReadSet tells apart.
const (
	ProfileDocument = "profile" // capdrop profile -o json: the set is "needed"
	VerifyDocument  = "verify"  // capdrop verify -o json: the set is "set", proven when "passed"
)

// ReadSet reads the capability set from a JSON document capdrop wrote: a
// profile (`capdrop profile -o json`, field "needed") or a verify result
// (`capdrop verify -o json`, fields "set" and "passed"). It returns the set
// and which kind of document it was. A verify result that did not pass is
// refused: its set is known not to work.
func ReadSet(r io.Reader) (capset.Set, string, error) {
	var doc struct {
		Needed *[]string `json:"needed"`
		Set    *[]string `json:"set"`
		Passed *bool     `json:"passed"`
	}
	dec := json.NewDecoder(io.LimitReader(r, 64<<20))
	if err := dec.Decode(&doc); err != nil {
		return 0, "", fmt.Errorf("%w: not a capdrop profile or verify document: %v", ErrInput, err)
	}
	var (
		names []string
		kind  string
	)
	switch {
	case doc.Set != nil && doc.Passed != nil:
		if !*doc.Passed {
			return 0, "", fmt.Errorf("%w: the verify result did not pass: its set is known not to work", ErrRefused)
		}
		names, kind = *doc.Set, VerifyDocument
	case doc.Needed != nil:
		names, kind = *doc.Needed, ProfileDocument
	default:
		return 0, "", fmt.Errorf("%w: neither a profile document (no \"needed\") nor a verify result (no \"set\" and \"passed\")", ErrInput)
	}
	var set capset.Set
	var errs []error
	for i, n := range names {
		if capset.IsAll(n) {
			errs = append(errs, fmt.Errorf("item %d: ALL is not a reduced set", i+1))
			continue
		}
		c, err := capset.Parse(n)
		if err != nil {
			errs = append(errs, fmt.Errorf("item %d: %w", i+1, err))
			continue
		}
		set = set.With(c)
	}
	if err := errors.Join(errs...); err != nil {
		return 0, "", fmt.Errorf("%w: %s document: %v", ErrInput, kind, err)
	}
	return set, kind, nil
}
