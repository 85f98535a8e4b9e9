package launch

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/capset"
)

func TestDecodeSpec(t *testing.T) {
	good, _ := json.Marshal(initSpec{Bounding: capset.Of(capset.KILL), Args: []string{"true"}, SetIDs: true, UID: 65534, GID: 65534, Groups: []int{65534}})
	var s initSpec
	if err := decodeSpec(bytes.NewReader(good), &s); err != nil || s.Bounding != capset.Of(capset.KILL) || s.UID != 65534 {
		t.Errorf("good spec: %v %+v", err, s)
	}
	for in, want := range map[string]string{
		`{"args":[]}`:                                         "no command",
		`{"args":["a\u0000b"]}`:                               "NUL byte",
		`{"args":["x"],"set_ids":true,"uid":-1}`:              "out of range",
		`{"args":["x"],"set_ids":true,"groups":[4294967295]}`: "out of range",
		`{"args":["x"],"surprise":1}`:                         "unknown field",
		`{"args":`:                                            "decode",
	} {
		if err := decodeSpec(strings.NewReader(in), &initSpec{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", in, err, want)
		}
	}
}

// FuzzDecodeSpec: whatever arrives on the init's socket, decoding never
// panics, and an accepted spec has a command and sane ids.
func FuzzDecodeSpec(f *testing.F) {
	good, _ := json.Marshal(initSpec{Bounding: capset.Of(capset.KILL), Args: []string{"true"}, Env: []string{"A=b"}, SetIDs: true, Groups: []int{1, 2}})
	f.Add(good)
	f.Add([]byte(`{"args":["x"],"uid":1e30}`))
	f.Add([]byte(`{"bounding":18446744073709551615,"args":["/bin/sh"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s initSpec
		if err := decodeSpec(bytes.NewReader(data), &s); err != nil {
			return
		}
		if len(s.Args) == 0 || s.Args[0] == "" {
			t.Fatalf("accepted a spec without a command: %q", data)
		}
		if s.SetIDs && (s.UID < 0 || s.GID < 0) {
			t.Fatalf("accepted negative ids: %q", data)
		}
	})
}
