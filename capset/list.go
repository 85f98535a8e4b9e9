package capset

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// List is a capability list as a person or a document wrote it: the
// capabilities it names and whether it said ALL. The runtimes give ALL
// meanings of their own (Docker: every capability it knows; an added ALL
// beats a drop), so a list keeps it apart from the names.
type List struct {
	Set Set
	All bool
}

// Full returns the set the list stands for when ALL means known: every
// capability in known, or the named ones.
func (l List) Full(known Set) Set {
	if l.All {
		return known | l.Set
	}
	return l.Set
}

// ParseList is capdrop's one reader of capability lists, for flags and
// documents alike: names in any case, with or without CAP_ ("chown",
// "CAP_SETUID", "Net_Raw"), separated by commas and/or white space; hex
// masks ("0x400", "00000000a80425fb"); ALL in any case. The empty string
// and the word "none" alone are the empty list. Every bad word is reported,
// joined into one error.
func ParseList(text string) (List, error) {
	if strings.EqualFold(strings.TrimSpace(text), "none") {
		return List{}, nil
	}
	return parseWords(Fields(text), func(i int, w string) string { return "" })
}

// ParseNames reads a list that a document holds as separate strings (a
// JSON array): the same words as ParseList, one per item. Errors name the
// item by its index.
func ParseNames(items []string) (List, error) {
	return parseWords(items, func(i int, w string) string { return fmt.Sprintf("item %d: ", i) })
}

func parseWords(words []string, where func(int, string) string) (List, error) {
	var l List
	var errs []error
	for i, w := range words {
		switch {
		case IsAll(w):
			l.All = true
		case looksLikeMask(w):
			m, err := ParseMask(w)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s%w", where(i, w), err))
			}
			l.Set |= m
		default:
			c, err := Parse(w)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s%w", where(i, w), err))
				continue
			}
			l.Set = l.Set.With(c)
		}
	}
	return l, errors.Join(errs...)
}

// MarshalText writes the set as its canonical names joined by commas
// ("CAP_CHOWN,CAP_SETUID"; empty for the empty set), which ParseSet and
// UnmarshalText read back.
func (s Set) MarshalText() ([]byte, error) { return []byte(strings.Join(s.Names(), ",")), nil }

// UnmarshalText reads what ParseSet reads.
func (s *Set) UnmarshalText(b []byte) error {
	v, err := ParseSet(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// MarshalJSON writes the set as the list of its canonical names, the form
// every capdrop document uses: ["CAP_CHOWN","CAP_SETUID"], [] when empty.
func (s Set) MarshalJSON() ([]byte, error) { return json.Marshal(s.Names()) }

// UnmarshalJSON reads a list of names (any spelling ParseNames accepts,
// ALL meaning every known capability), a string as ParseSet reads it, or a
// number (the mask), so documents written before sets carried names still
// read.
func (s *Set) UnmarshalJSON(b []byte) error {
	var items []string
	if err := json.Unmarshal(b, &items); err == nil {
		l, err := ParseNames(items)
		if err != nil {
			return err
		}
		*s = l.Full(Known)
		return nil
	}
	var text string
	if err := json.Unmarshal(b, &text); err == nil {
		return s.UnmarshalText([]byte(text))
	}
	var n uint64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("a capability set is a list of names, a string or a mask, not %s", b)
	}
	*s = Set(n)
	return nil
}
