// Package capset models Linux capabilities and capability sets: numbers and
// names, bit-mask sets with their algebra, and parsing of what users and
// configuration files write ("cap_net_raw", "SYS_ADMIN", "ALL", "a80425fb").
//
// A Set covers all 64 bits of the kernel's kernel_cap_t, so bits beyond the
// capabilities this package knows are kept and printed (as "cap_41"), never
// dropped.
package capset

import (
	"fmt"
	"math/bits"
	"strings"
)

// Cap is one capability, by its kernel number (0..63).
type Cap uint8

// MaxBits is the number of bits a Set can hold.
const MaxBits = 64

// Known reports whether capdrop has a canonical name for c.
func (c Cap) Known() bool { return c <= Last }

// Name returns the canonical name, "CAP_CHOWN"; for a number capdrop does not
// know it returns "cap_41", the form libcap prints.
func (c Cap) Name() string {
	if c.Known() {
		return "CAP_" + names[c]
	}
	return fmt.Sprintf("cap_%d", uint8(c))
}

// Short returns the name without the CAP_ prefix as Docker and Kubernetes
// write it, "CHOWN"; for an unknown number, "cap_41".
func (c Cap) Short() string {
	if c.Known() {
		return names[c]
	}
	return c.Name()
}

// String implements fmt.Stringer with the canonical name.
func (c Cap) String() string { return c.Name() }

// Set is a capability set as the kernel stores it: bit n set means
// capability n is in the set.
type Set uint64

// Empty is the set with no capabilities.
const Empty Set = 0

// Known is the set of every capability capdrop has a name for (0..Last).
const Known Set = 1<<(Last+1) - 1

// Of returns the set holding exactly caps.
func Of(caps ...Cap) Set {
	var s Set
	for _, c := range caps {
		s = s.With(c)
	}
	return s
}

// Has reports whether c is in s.
func (s Set) Has(c Cap) bool { return c < MaxBits && s&(1<<c) != 0 }

// With returns s with c added.
func (s Set) With(c Cap) Set {
	if c >= MaxBits {
		return s
	}
	return s | 1<<c
}

// Without returns s with c removed.
func (s Set) Without(c Cap) Set {
	if c >= MaxBits {
		return s
	}
	return s &^ (1 << c)
}

// Union returns the capabilities in s or t.
func (s Set) Union(t Set) Set { return s | t }

// Intersect returns the capabilities in both s and t.
func (s Set) Intersect(t Set) Set { return s & t }

// Minus returns the capabilities in s that are not in t.
func (s Set) Minus(t Set) Set { return s &^ t }

// Contains reports whether every capability of t is in s.
func (s Set) Contains(t Set) bool { return t&^s == 0 }

// IsEmpty reports whether s holds no capability.
func (s Set) IsEmpty() bool { return s == 0 }

// Len returns the number of capabilities in s.
func (s Set) Len() int { return bits.OnesCount64(uint64(s)) }

// Caps returns the capabilities in s in ascending order.
func (s Set) Caps() []Cap {
	out := make([]Cap, 0, s.Len())
	for v := uint64(s); v != 0; v &= v - 1 {
		out = append(out, Cap(bits.TrailingZeros64(v)))
	}
	return out
}

// Names returns the canonical names of the capabilities in s, ascending by
// number. It never returns nil, so JSON shows [] for the empty set.
func (s Set) Names() []string {
	caps := s.Caps()
	out := make([]string, len(caps))
	for i, c := range caps {
		out[i] = c.Name()
	}
	return out
}

// ShortNames is Names without the CAP_ prefix ("CHOWN"), the way Docker,
// compose and Kubernetes files write capabilities.
func (s Set) ShortNames() []string {
	caps := s.Caps()
	out := make([]string, len(caps))
	for i, c := range caps {
		out[i] = c.Short()
	}
	return out
}

// Hex returns s as the 16 hex digits /proc/<pid>/status uses.
func (s Set) Hex() string { return fmt.Sprintf("%016x", uint64(s)) }

// String returns the names joined by commas, or "none" for the empty set.
func (s Set) String() string {
	if s == 0 {
		return "none"
	}
	return strings.Join(s.Names(), ",")
}
