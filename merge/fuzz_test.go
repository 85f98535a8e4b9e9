package merge

import (
	"strings"
	"testing"

	"github.com/capdrop/capdrop/workload"
)

// FuzzCompute feeds arbitrary cap_add/cap_drop words, users and runtimes
// through every model: it must never panic, and whatever it computes must
// be a state the kernel allows.
func FuzzCompute(f *testing.F) {
	f.Add(uint8(0), "NET_ADMIN all", "ALL chown", false, "1000", "")
	f.Add(uint8(1), "CAP_SYS_ADMIN", "cap_net_raw", true, "", "")
	f.Add(uint8(2), "cap_all ALL", "all", false, "root", "")
	f.Add(uint8(3), "ALL", "ALL", false, "0:0", "CHOWN,SETUID")
	f.Add(uint8(4), "CAP_KILL cap_chown", "CAP_FOO", false, "nobody", "")
	f.Fuzz(func(t *testing.T, rt uint8, add, drop string, privileged bool, user, label string) {
		w := workload.Workload{
			Runtime:    workload.Runtimes[int(rt)%len(workload.Runtimes)],
			CapAdd:     words(add),
			CapDrop:    words(drop),
			Privileged: privileged,
			User:       user,
		}
		if label != "" {
			for _, p := range strings.Split(label, ",") {
				w.ImageCaps = append(w.ImageCaps, workload.Word{Text: p})
			}
		}
		if w.Runtime == workload.OCI {
			w.Explicit = &workload.ExplicitSets{Bounding: words(add), Effective: words(drop), Permitted: words(add + " " + drop),
				Inheritable: words(drop), Ambient: words(add)}
		}
		for _, opts := range []Options{{}, docker2010} {
			r := Compute(w, opts)
			if r.Refusal != nil {
				if r.Held() != 0 {
					t.Fatalf("refused but holds %s", r.Held())
				}
				continue
			}
			s := r.Sets
			if !s.Permitted.Contains(s.Effective) {
				t.Fatalf("effective %s not within permitted %s", s.Effective, s.Permitted)
			}
			if !s.Permitted.Contains(s.Ambient) || !s.Inheritable.Contains(s.Ambient) {
				t.Fatalf("ambient %s not within permitted and inheritable", s.Ambient)
			}
			if !r.Root && s.Permitted != s.Ambient {
				t.Fatalf("non-root process permitted %s beyond its ambient %s", s.Permitted, s.Ambient)
			}
			for _, cw := range r.Why {
				if len(cw.Reasons) == 0 {
					t.Fatalf("%s held for no reason", cw.Name)
				}
			}
		}
	})
}

// FuzzParseVersion: any text either parses to a release that prints back
// to something that parses to the same release, or is an error.
func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"20.10.24+dfsg1", "v23.0.1", "1.6.20~ds1", "current", "4", "1.2.3.4", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVersion(s)
		if err != nil {
			return
		}
		back, err := ParseVersion(v.String())
		if err != nil || back != v {
			t.Fatalf("%q → %v → %q → %v, %v", s, v, v.String(), back, err)
		}
	})
}
