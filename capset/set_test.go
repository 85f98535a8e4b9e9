package capset

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestNames(t *testing.T) {
	if got := CHOWN.Name(); got != "CAP_CHOWN" {
		t.Errorf("CHOWN.Name() = %q", got)
	}
	if got := CHECKPOINT_RESTORE.Name(); got != "CAP_CHECKPOINT_RESTORE" {
		t.Errorf("CHECKPOINT_RESTORE.Name() = %q", got)
	}
	if got := Cap(41).Name(); got != "cap_41" {
		t.Errorf("Cap(41).Name() = %q", got)
	}
	if got := Cap(63).Short(); got != "cap_63" {
		t.Errorf("Cap(63).Short() = %q", got)
	}
	for i := range Last + 1 {
		if strings.HasPrefix(Cap(i).Name(), "cap_") {
			t.Errorf("capability %d has no name", i)
		}
	}
}

func TestSetAlgebra(t *testing.T) {
	a := Of(CHOWN, KILL, SYS_ADMIN)
	b := Of(KILL, NET_RAW)
	if got := a.Union(b); got != Of(CHOWN, KILL, SYS_ADMIN, NET_RAW) {
		t.Errorf("union = %v", got)
	}
	if got := a.Intersect(b); got != Of(KILL) {
		t.Errorf("intersect = %v", got)
	}
	if got := a.Minus(b); got != Of(CHOWN, SYS_ADMIN) {
		t.Errorf("minus = %v", got)
	}
	if !a.Contains(Of(CHOWN, KILL)) || a.Contains(b) {
		t.Error("Contains is wrong")
	}
	if a.Len() != 3 || Empty.Len() != 0 || !Empty.IsEmpty() {
		t.Error("Len/IsEmpty is wrong")
	}
	if a.With(Cap(200)) != a || a.Without(Cap(200)) != a || a.Has(Cap(200)) {
		t.Error("out-of-range capabilities must be ignored")
	}
	if got := a.Without(KILL); got != Of(CHOWN, SYS_ADMIN) {
		t.Errorf("without = %v", got)
	}
	if Empty.String() != "none" || Of(CHOWN, KILL).String() != "CAP_CHOWN,CAP_KILL" {
		t.Errorf("String: %q %q", Empty.String(), Of(CHOWN, KILL).String())
	}
	if n := Empty.Names(); n == nil || len(n) != 0 {
		t.Errorf("Empty.Names() = %#v, want empty non-nil", n)
	}
}

func TestDockerDefaultMask(t *testing.T) {
	s, err := ParseMask("00000000a80425fb")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
		"CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SYS_CHROOT", "CAP_MKNOD",
		"CAP_AUDIT_WRITE", "CAP_SETFCAP"}
	if got := s.Names(); !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	all, _ := ParseMask("000001ffffffffff")
	if all != Known || all.Len() != 41 {
		t.Errorf("000001ffffffffff = %v (%d)", all, all.Len())
	}
	if s.Hex() != "00000000a80425fb" {
		t.Errorf("Hex() = %s", s.Hex())
	}
}

func TestUnknownBitsAreKept(t *testing.T) {
	s, err := ParseMask("0x00000e0000000001")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Names(); !reflect.DeepEqual(got, []string{"CAP_CHOWN", "cap_41", "cap_42", "cap_43"}) {
		t.Errorf("got %v", got)
	}
	full, _ := ParseMask("ffffffffffffffff")
	if full.Len() != 64 || full.Names()[63] != "cap_63" {
		t.Errorf("all 64 bits: %d names", full.Len())
	}
}

func TestParse(t *testing.T) {
	for _, in := range []string{"SYS_ADMIN", "sys_admin", "CAP_SYS_ADMIN", "cap_sys_admin", "Cap_Sys_Admin", " sys_admin "} {
		c, err := Parse(in)
		if err != nil || c != SYS_ADMIN {
			t.Errorf("Parse(%q) = %v, %v", in, c, err)
		}
	}
	if c, err := Parse("cap_41"); err != nil || c != 41 {
		t.Errorf("Parse(cap_41) = %v, %v", c, err)
	}
	for _, in := range []string{"", "ALL", "41", "cap_64", "SYS_ADMINX", "CAP_"} {
		if _, err := Parse(in); !errors.Is(err, ErrUnknown) {
			t.Errorf("Parse(%q) error = %v, want ErrUnknown", in, err)
		}
	}
}

func TestSuggestions(t *testing.T) {
	for in, want := range map[string]string{
		"SYS_AMDIN":       "CAP_SYS_ADMIN",
		"sysadmin":        "CAP_SYS_ADMIN",
		"CAP_NET_BIND":    "CAP_NET_BIND_SERVICE",
		"net_bind_servce": "CAP_NET_BIND_SERVICE",
		"ptrace":          "CAP_SYS_PTRACE",
		"dac_overide":     "CAP_DAC_OVERRIDE",
		"CHWON":           "CAP_CHOWN",
		"xyzzyplugh":      "",
	} {
		_, err := Parse(in)
		var ue *UnknownError
		if !errors.As(err, &ue) {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		if ue.Suggestion != want {
			t.Errorf("Parse(%q) suggests %q, want %q", in, ue.Suggestion, want)
		}
		if want != "" && !strings.Contains(err.Error(), "did you mean "+want+"?") {
			t.Errorf("message %q lacks the suggestion", err)
		}
	}
}

func TestParseSet(t *testing.T) {
	for in, want := range map[string]Set{
		"":                                  Empty,
		"chown":                             Of(CHOWN),
		"CAP_CHOWN,cap_kill":                Of(CHOWN, KILL),
		"chown, kill  net_raw\tSYS_ADMIN\n": Of(CHOWN, KILL, NET_RAW, SYS_ADMIN),
		"ALL":                               Known,
		"all,cap_41":                        Known.With(41),
		"a80425fb":                          0xa80425fb,
		"0xa80425fb":                        0xa80425fb,
		"0X1,cap_sys_admin":                 Of(CHOWN, SYS_ADMIN),
	} {
		got, err := ParseSet(in)
		if err != nil || got != want {
			t.Errorf("ParseSet(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	_, err := ParseSet("chown,nope,sys_amdin")
	if !errors.Is(err, ErrUnknown) || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), "CAP_SYS_ADMIN") {
		t.Errorf("ParseSet with two bad names: %v", err)
	}
}

func TestParseMaskErrors(t *testing.T) {
	for _, in := range []string{"", "0x", "12345678901234567", "xyz", "-1", "0x-1"} {
		if _, err := ParseMask(in); !errors.Is(err, ErrBadMask) {
			t.Errorf("ParseMask(%q) error = %v", in, err)
		}
	}
}

func TestLastCap(t *testing.T) {
	for in, want := range map[string]Cap{"40\n": 40, "37": 37, " 63 ": 63} {
		if got, err := parseLastCap(in); err != nil || got != want {
			t.Errorf("parseLastCap(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "64", "x", "-1"} {
		if _, err := parseLastCap(in); err == nil {
			t.Errorf("parseLastCap(%q) accepted", in)
		}
	}
	if Upto(37).Len() != 38 || Upto(63).Len() != 64 || Upto(40) != Known {
		t.Error("Upto is wrong")
	}
	if last, err := KernelLast(); err == nil && Supported() != Upto(last) {
		t.Errorf("Supported() = %v for last %d", Supported(), last)
	}
}

// TestMarshal: a set travels as its names and comes back the same, unknown
// bits included; lists parse every spelling the runtimes accept.
func TestMarshal(t *testing.T) {
	for _, s := range []Set{0, Of(CHOWN, SETUID), Known, ^Set(0), Of(Cap(41), Cap(63))} {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var back Set
		if err := json.Unmarshal(b, &back); err != nil || back != s {
			t.Errorf("%s: JSON %s read back as %s (%v)", s.Hex(), b, back.Hex(), err)
		}
		txt, _ := s.MarshalText()
		var fromText Set
		if err := fromText.UnmarshalText(txt); err != nil || fromText != s {
			t.Errorf("%s: text %q read back as %s (%v)", s.Hex(), txt, fromText.Hex(), err)
		}
	}
	if b, _ := json.Marshal(struct{ S Set }{Of(NET_RAW)}); string(b) != `{"S":["CAP_NET_RAW"]}` {
		t.Errorf("in a struct: %s", b)
	}
	for in, want := range map[string]Set{`["chown","CAP_setuid"]`: Of(CHOWN, SETUID), `"net_raw, 0x1"`: Of(NET_RAW, CHOWN), `1024`: Of(NET_BIND_SERVICE), `[]`: 0, `["ALL"]`: Known} {
		var s Set
		if err := json.Unmarshal([]byte(in), &s); err != nil || s != want {
			t.Errorf("%s: %s, %v; want %s", in, s, err, want)
		}
	}
	var s Set
	if err := json.Unmarshal([]byte(`["chown","sys_admn"]`), &s); err == nil || !strings.Contains(err.Error(), "item 1: unknown capability") {
		t.Errorf("bad item: %v", err)
	}
	for in, want := range map[string]List{
		"": {}, "none": {}, " NONE ": {}, "ALL": {All: true}, "all,chown": {Set: Of(CHOWN), All: true},
		"cap_chown Net_Raw": {Set: Of(CHOWN, NET_RAW)}, "0x1": {Set: Of(CHOWN)},
	} {
		if l, err := ParseList(in); err != nil || l != want {
			t.Errorf("ParseList(%q) = %+v, %v; want %+v", in, l, err, want)
		}
	}
	if _, err := ParseList("chown,nonsense,0xzz"); err == nil || strings.Count(err.Error(), "\n") != 1 {
		t.Errorf("every bad word is reported: %v", err)
	}
}
