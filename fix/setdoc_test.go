package fix

import (
	"errors"
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
