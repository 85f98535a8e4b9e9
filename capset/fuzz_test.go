package capset

import (
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{"CAP_SYS_ADMIN", "sys_admin", "cap_41", "all", "SYS_AMDIN", "", "cap_", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(s)
		if err != nil {
			return
		}
		// Whatever parses must round-trip through its canonical name.
		back, err := Parse(c.Name())
		if err != nil || back != c {
			t.Fatalf("Parse(%q) = %v, but Parse(%q) = %v, %v", s, c, c.Name(), back, err)
		}
	})
}

func FuzzParseSet(f *testing.F) {
	for _, s := range []string{"chown,kill", "ALL", "0xa80425fb", "a80425fb net_raw", "cap_41 , ,", "0x", "ffffffffffffffffff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		set, err := ParseSet(s)
		if err != nil {
			return
		}
		// A parsed set printed as names parses back to itself.
		back, err := ParseSet(strings.Join(set.Names(), ","))
		if err != nil || back != set {
			t.Fatalf("ParseSet(%q) = %v; names parse back to %v, %v", s, set, back, err)
		}
	})
}

func FuzzParseMask(f *testing.F) {
	for _, s := range []string{"00000000a80425fb", "0x1", "000001ffffffffff", "ffffffffffffffff", "0X", "g"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMask(s)
		if err != nil {
			return
		}
		back, err := ParseMask(m.Hex())
		if err != nil || back != m {
			t.Fatalf("ParseMask(%q) = %x, round trip %x, %v", s, uint64(m), uint64(back), err)
		}
	})
}
