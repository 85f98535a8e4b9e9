package report

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/internal/term"
	"github.com/capdrop/capdrop/knowledge"
)

func plain() Text { return Text{} }

func TestCapsTableGolden(t *testing.T) {
	var b bytes.Buffer
	if err := plain().CapsTable(&b, knowledge.All(), ""); err != nil {
		t.Fatal(err)
	}
	golden(t, "caps.golden", b.Bytes())

	b.Reset()
	if err := plain().CapsTable(&b, knowledge.All(), knowledge.Docker); err != nil {
		t.Fatal(err)
	}
	golden(t, "caps-docker.golden", b.Bytes())

	// On an 80-column terminal the summary is cut to fit, in colour.
	b.Reset()
	tty := Text{Color: true, Width: 80}
	if err := tty.CapsTable(&b, knowledge.All()[:4], ""); err != nil {
		t.Fatal(err)
	}
	golden(t, "caps-tty80.golden", b.Bytes())
	for _, line := range bytes.Split(bytes.TrimSpace(b.Bytes()), []byte("\n")) {
		if n := term.VisibleLen(string(line)); n > 80 {
			t.Errorf("line of %d columns on an 80-column terminal: %q", n, line)
		}
	}
}

func TestCapsJSONGolden(t *testing.T) {
	var b bytes.Buffer
	if err := CapsJSON(&b, knowledge.All()); err != nil {
		t.Fatal(err)
	}
	golden(t, "caps.json.golden", b.Bytes())
	var back []map[string]any
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back) != 41 {
		t.Fatalf("%d entries", len(back))
	}
	for _, e := range back {
		for _, f := range []string{"number", "name", "since", "summary", "description", "risk", "risk_reason",
			"root_equivalent", "escalation", "needed_when", "checked_by", "advice", "defaults"} {
			if v, ok := e[f]; !ok || v == "" || v == nil {
				t.Errorf("%v: field %s missing or empty", e["name"], f)
			}
		}
		if d := e["defaults"].(map[string]any); len(d) != 7 {
			t.Errorf("%v: defaults has %d runtimes", e["name"], len(d))
		}
	}
}

func TestExplainGolden(t *testing.T) {
	var b bytes.Buffer
	entries := []knowledge.Entry{}
	for _, c := range []capset.Cap{capset.SYS_ADMIN, capset.NET_BIND_SERVICE} {
		e, _ := knowledge.Lookup(c)
		entries = append(entries, e)
	}
	if err := plain().Explain(&b, entries); err != nil {
		t.Fatal(err)
	}
	golden(t, "explain.golden", b.Bytes())
	for _, line := range bytes.Split(b.Bytes(), []byte("\n")) {
		if len([]rune(string(line))) > 80 {
			t.Errorf("line longer than 80 columns: %q", line)
		}
	}
}

func TestDecodedGolden(t *testing.T) {
	var b bytes.Buffer
	s, _ := capset.ParseMask("00000200a80425fb") // Docker's defaults plus an unknown bit 41
	if err := plain().Decoded(&b, s); err != nil {
		t.Fatal(err)
	}
	golden(t, "decode.golden", b.Bytes())

	b.Reset()
	sets := capset.Sets{Permitted: 0xa80425fb, Effective: 0xa80425fb, Bounding: capset.Known.Without(capset.SYS_RESOURCE)}
	if err := plain().FiveSets(&b, sets); err != nil {
		t.Fatal(err)
	}
	golden(t, "fivesets.golden", b.Bytes())
}

func TestSummarize(t *testing.T) {
	for want, s := range map[string]capset.Set{
		"none":                capset.Empty,
		"ALL (41)":            capset.Known,
		"ALL + cap_41":        capset.Known.With(41),
		"ALL - SYS_RESOURCE":  capset.Known.Without(capset.SYS_RESOURCE),
		"CHOWN,KILL":          capset.Of(capset.CHOWN, capset.KILL),
		"CHOWN,cap_50":        capset.Of(capset.CHOWN, 50),
		"ALL - SYS_ADMIN,BPF": capset.Known.Without(capset.SYS_ADMIN).Without(capset.BPF),
	} {
		if got := Summarize(s); got != want {
			t.Errorf("Summarize(%v) = %q, want %q", s, got, want)
		}
	}
}
