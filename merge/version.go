package merge

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a runtime release, as far as capdrop needs it to pick the rules
// that release applies. The zero Version means "the current release".
type Version struct {
	Major, Minor, Patch int
}

// IsZero reports whether v is the zero Version (the current release).
func (v Version) IsZero() bool { return v == Version{} }

// Less reports whether v is an older release than w. The zero Version is
// newer than every other.
func (v Version) Less(w Version) bool {
	switch {
	case v.IsZero():
		return false
	case w.IsZero():
		return true
	case v.Major != w.Major:
		return v.Major < w.Major
	case v.Minor != w.Minor:
		return v.Minor < w.Minor
	}
	return v.Patch < w.Patch
}

// AtLeast reports whether v is w or newer.
func (v Version) AtLeast(w Version) bool { return !v.Less(w) }

// String returns "20.10.24", or "current" for the zero Version.
func (v Version) String() string {
	if v.IsZero() {
		return "current"
	}
	return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
}

// MarshalText implements encoding.TextMarshaler.
func (v Version) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// ParseVersion reads a release number as engines print it: "20.10",
// "20.10.24", "v23.0.1", "20.10.24+dfsg1", "1.6.20~ds1", "4.3.1-rc2".
// "current" and "latest" give the zero Version.
func ParseVersion(text string) (Version, error) {
	s := strings.TrimSpace(text)
	if s == "current" || s == "latest" {
		return Version{}, nil
	}
	s = strings.TrimPrefix(s, "v")
	// Cut build and distribution suffixes: 20.10.24+dfsg1, 1.6.20~ds1, 4.3.1-rc2.
	if i := strings.IndexAny(s, "+~- "); i >= 0 {
		s = s[:i]
	}
	parts := strings.Split(s, ".")
	if len(parts) < 1 || len(parts) > 3 {
		return Version{}, fmt.Errorf("version %q: want MAJOR[.MINOR[.PATCH]]", text)
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 || v > 1<<20 {
			return Version{}, fmt.Errorf("version %q: %q is not a release number", text, p)
		}
		n[i] = v
	}
	v := Version{n[0], n[1], n[2]}
	if v.IsZero() {
		return Version{}, fmt.Errorf("version %q: 0.0.0 is not a release", text)
	}
	return v, nil
}
