package fix

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/capset"
)

func TestReadSet(t *testing.T) {
	for _, c := range []struct {
		doc, kind string
		want      capset.Set
		err       error
	}{
		{`{"needed":["CAP_CHOWN","CAP_NET_BIND_SERVICE"],"denied":[],"noise":[],"checks":{}}`, ProfileDocument, capset.Of(capset.CHOWN, capset.NET_BIND_SERVICE), nil},
		{`{"passed":true,"set":["CAP_KILL"],"runs":[]}`, VerifyDocument, capset.Of(capset.KILL), nil},
		{`{"passed":true,"set":[],"runs":[]}`, VerifyDocument, 0, nil},
		{`{"passed":false,"set":["CAP_KILL"],"runs":[]}`, "", 0, ErrRefused},
		{`{"needed":["CAP_NOPE"]}`, "", 0, ErrInput},
		{`{"needed":["ALL"]}`, "", 0, ErrInput},
		{`{"something":"else"}`, "", 0, ErrInput},
		{`[1,2]`, "", 0, ErrInput},
		{`not json`, "", 0, ErrInput},
	} {
		set, kind, err := ReadSet(strings.NewReader(c.doc))
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Errorf("%s: got %v, want %v", c.doc, err, c.err)
			}
			continue
		}
		if err != nil || set != c.want || kind != c.kind {
			t.Errorf("%s: got %v %q %v, want %v %q", c.doc, set, kind, err, c.want, c.kind)
		}
	}
}

// TestReadSetFromRealDocuments reads the documents capdrop profile and
// capdrop verify really print (their renderers' golden files).
func TestReadSetFromRealDocuments(t *testing.T) {
	for _, c := range []struct {
		file, kind string
		want       capset.Set
	}{
		{"../report/testdata/profile.json.golden", ProfileDocument, capset.Of(capset.CHOWN, capset.NET_BIND_SERVICE)},
		{"../report/testdata/verify.json.golden", VerifyDocument, capset.Of(capset.CHOWN, capset.MKNOD)},
	} {
		f, err := os.Open(c.file)
		if err != nil {
			t.Fatal(err)
		}
		set, kind, err := ReadSet(f)
		f.Close()
		if err != nil || kind != c.kind || set != c.want {
			t.Errorf("%s: %v %q %v, want %v %q", c.file, set, kind, err, c.want, c.kind)
		}
	}
}
