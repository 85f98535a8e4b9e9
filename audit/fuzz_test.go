package audit

import (
	"strings"
	"testing"

	"github.com/capdrop/capdrop/workload"
)

func fuzzWords(list string, line int) []workload.Word {
	var out []workload.Word
	for i, f := range strings.Split(list, ",") {
		if f != "" || i == 0 && list != "" {
			out = append(out, workload.Word{Text: f, Pos: workload.Position{File: "f", Line: line, Col: i + 1}})
		}
	}
	return out
}

// FuzzEvaluate runs every rule over workloads built from arbitrary words,
// kinds, runtimes and users: no panic, and every finding names a rule of
// the catalogue, has a severity, a message and a fix.
func FuzzEvaluate(f *testing.F) {
	f.Add(uint8(0), uint8(0), "NET_ADMIN,all", "ALL,net_admin", false, "1000", "", uint8(0))
	f.Add(uint8(2), uint8(1), "CAP_SYS_ADMIN", "CAP_NET_RAW", true, "", "CHOWN", uint8(3))
	f.Add(uint8(3), uint8(3), "ALL", "ALL", false, "root", "", uint8(1))
	f.Add(uint8(4), uint8(4), "cap_kill,CAP_FOO", "", false, "0", "", uint8(2))
	f.Add(uint8(5), uint8(5), "bpf", "all", false, "nobody", "", uint8(0))
	f.Fuzz(func(t *testing.T, kind, rt uint8, add, drop string, privileged bool, user, label string, flags uint8) {
		kinds := []workload.Kind{workload.ComposeService, workload.KubeContainer, workload.KubeInitContainer,
			workload.KubeEphemeral, workload.RunLine, workload.DockerfileLabel, workload.OCISpec,
			workload.InspectRecord, workload.QuadletUnit, workload.DockerfileImageCaps}
		w := workload.Workload{
			Kind: kinds[int(kind)%len(kinds)], Runtime: workload.Runtimes[int(rt)%len(workload.Runtimes)],
			Name: "w", Pos: workload.Position{File: "f", Line: 1, Col: 1},
			CapAdd: fuzzWords(add, 2), CapDrop: fuzzWords(drop, 3), Privileged: privileged, User: user,
			Attrs: map[string]string{"command": "docker run " + add + " img"},
		}
		if label != "" {
			w.ImageCaps = fuzzWords(label, 4)
		}
		if flags&1 != 0 {
			b := flags&2 != 0
			w.AllowPrivilegeEscalation = &b
			w.RunAsNonRoot = &b
			u := int64(flags >> 4)
			w.RunAsUser = &u
		}
		if flags&4 != 0 {
			w.Explicit = &workload.ExplicitSets{Bounding: w.CapAdd, Effective: w.CapDrop, Permitted: w.CapAdd, Ambient: w.CapAdd}
		}
		if flags&8 != 0 {
			b := true
			w.NoNewPrivs = &b
		}
		for _, p := range Policies {
			rep, err := Evaluate([]workload.Workload{w}, Options{Policy: p})
			if err != nil {
				t.Fatal(err)
			}
			for _, fd := range rep.Findings {
				if _, ok := RuleByID(fd.Rule); !ok || fd.Severity == SeverityUnset || fd.Message == "" || fd.Fix == "" {
					t.Fatalf("bad finding %+v", fd)
				}
			}
		}
	})
}
