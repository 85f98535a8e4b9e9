package evidence

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/capset"
)

func TestRead(t *testing.T) {
	for _, c := range []struct {
		doc  string
		want capset.Set
		kind Kind
		from string
		err  error
		msg  string
	}{
		{doc: `{"version":1,"needed":["CAP_CHOWN","CAP_NET_RAW"],"denied":["CAP_SYS_ADMIN"]}`, want: capset.Of(capset.CHOWN, capset.NET_RAW), kind: Profile, from: `profile p.json ("needed")`},
		{doc: `{"passed":true,"set":["CAP_KILL"],"runs":[]}`, want: capset.Of(capset.KILL), kind: Verify, from: `verify result p.json ("set")`},
		{doc: `{"passed":true,"set":[],"runs":[]}`, kind: Verify, from: `verify result p.json ("set")`},
		{doc: `{"needed":[]}`, kind: Profile, from: `profile p.json ("needed")`},
		{doc: `{"needed":["chown","cap_41"]}`, want: capset.Of(capset.CHOWN, capset.Cap(41)), kind: Profile, from: `profile p.json ("needed")`},
		{doc: `{"passed":false,"set":["CAP_KILL"]}`, err: ErrFailed, msg: "p.json: the verify result did not pass"},
		{doc: `{"set":["CAP_KILL"]}`, err: ErrNotEvidence, msg: `whether it passed`},
		{doc: `{"needed":["chown","sys_admn","NOPE"]}`, err: ErrNotEvidence, msg: `p.json: needed[1]: unknown capability "sys_admn" (did you mean CAP_SYS_ADMIN?)` + "\n" + `p.json: needed[2]: unknown capability "NOPE"`},
		{doc: `{"needed":["ALL"]}`, err: ErrNotEvidence, msg: "needed[0]: ALL is not a reduced set"},
		{doc: `{"needed":["CAP_CHOWN CAP_KILL"]}`, err: ErrNotEvidence, msg: "not one capability name"},
		{doc: `{"needed":"CAP_CHOWN"}`, err: ErrNotEvidence, msg: `"needed" must be a list`},
		{doc: `{"other":1}`, err: ErrNotEvidence, msg: "neither a profile"},
		{doc: "{\n\"needed\": [,]}", err: ErrNotEvidence, msg: "p.json:2: not a capdrop profile or verify document: not JSON"},
		{doc: `[1]`, err: ErrNotEvidence, msg: "not a JSON object"},
		// A profile recommends needed plus used, not yet proven needed.
		{doc: `{"needed":["CAP_CHOWN"],"used_not_proven":[{"capability":"CAP_AUDIT_WRITE","reason":"audit-write"}]}`,
			want: capset.Of(capset.CHOWN, capset.AUDIT_WRITE), kind: Profile, from: `profile p.json ("needed")`},
		{doc: `{"passed":true,"set":["CAP_KILL"],"used_not_proven":[{"capability":"CAP_AUDIT_WRITE"}]}`, want: capset.Of(capset.KILL), kind: Verify, from: `verify result p.json ("set")`},
		{doc: `{"needed":[],"used_not_proven":["CAP_KILL"]}`, err: ErrNotEvidence, msg: `"used_not_proven" must be a list`},
		{doc: `{"needed":[],"used_not_proven":[{"capability":"CAP_NOPE"}]}`, err: ErrNotEvidence, msg: `used_not_proven[0]: unknown capability "CAP_NOPE"`},
	} {
		ev, err := Read(strings.NewReader(c.doc), "p.json")
		if c.err != nil {
			if !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("%s: err %v, want %v with %q", c.doc, err, c.err, c.msg)
			}
			continue
		}
		if err != nil || ev.Set != c.want || ev.Kind != c.kind || ev.String() != c.from {
			t.Errorf("%s: %v %q %q %v", c.doc, ev.Set, ev.Kind, ev, err)
		}
	}
}

// TestRealDocuments reads the documents capdrop profile and capdrop verify
// really print (their renderers' golden files).
func TestRealDocuments(t *testing.T) {
	for _, c := range []struct {
		file string
		kind Kind
		want capset.Set
	}{
		// needed (two from checks, one kept by capset) plus used, not proven (AUDIT_WRITE).
		{"../report/testdata/profile.json.golden", Profile, capset.Of(capset.CHOWN, capset.NET_BIND_SERVICE, capset.SYS_TIME, capset.AUDIT_WRITE)},
		{"../report/testdata/verify.json.golden", Verify, capset.Of(capset.CHOWN, capset.MKNOD)},
	} {
		f, err := os.Open(c.file)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := Read(f, c.file)
		f.Close()
		if err != nil || ev.Kind != c.kind || ev.Set != c.want {
			t.Errorf("%s: %v %q %v, want %v %q", c.file, ev.Set, ev.Kind, err, c.want, c.kind)
		}
	}
}

// TestTooLarge: a document past MaxSize is refused, not read whole.
func TestTooLarge(t *testing.T) {
	r := strings.NewReader(`{"needed":[` + strings.Repeat(" ", MaxSize) + `]}`)
	if _, err := Read(r, "big.json"); !errors.Is(err, ErrNotEvidence) || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("%v", err)
	}
}

func FuzzRead(f *testing.F) {
	f.Add(`{"needed":["CAP_CHOWN"]}`)
	f.Add(`{"passed":true,"set":["kill","cap_41"]}`)
	f.Add(`{"kind":"cluster-profile","version":1,"profiles":[{"workload":{"namespace":"a","kind":"Deployment","name":"w","container":"c","container_type":"container"},"complete":true,"needed":["CAP_CHOWN"],"used_not_proven":[{"capability":"CAP_KILL"}]}]}`)
	f.Fuzz(func(t *testing.T, doc string) {
		ev, err := Read(strings.NewReader(doc), "f.json")
		if err == nil && ev.Kind != Profile && ev.Kind != Verify && ev.Kind != ClusterProfile {
			t.Fatalf("%q: kind %q", doc, ev.Kind)
		}
		if err == nil && ev.Kind == ClusterProfile {
			// Picking never panics, whatever the document holds.
			_, _, _ = ev.Pick(Ref{Container: "c"}, true)
		}
	})
}
