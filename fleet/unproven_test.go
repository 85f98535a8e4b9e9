package fleet

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/profile"
	"github.com/capdrop/capdrop/trace"
)

// TestUsedNotProven attaches to the live host's web container a profile
// the profiler's own classifier made from checks (the same records its
// tests use): uses programs commonly survive losing are "used, not proven
// needed", with their reasons; they stay in what the container should get
// (the profile recommends them until verify --minimize decides), while
// capabilities held and never checked are unused.
func TestUsedNotProven(t *testing.T) {
	rec := func(c capset.Cap, nr int32, comm string, n uint64) trace.Record {
		return trace.Record{Key: trace.Key{MntNS: 7, Cap: c, Syscall: nr, Comm: comm}, Count: n}
	}
	p := profile.Build(profile.Target{Kind: "container", ContainerName: "web", MntNS: 7}, []trace.Record{
		rec(capset.KILL, 62, "rsyslog.sh", 1),        // kill(2) of another user: a stop path
		rec(capset.CHOWN, 93, "httpd", 4),            // fchown of its own pid file
		rec(capset.SETUID, 105, "httpd", 1),          // setuid(2): a need
		rec(capset.NET_BIND_SERVICE, 49, "httpd", 1), // bind(2) to port 80: a need
	}, profile.Info{Arch: "amd64", Mechanism: trace.TracepointBTF})
	if len(p.UsedNotProven) != 2 {
		t.Fatalf("the classifier's used, not proven: %+v", p.UsedNotProven)
	}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var b Builder
	b.AddFiles([]string{"testdata/host/host.json"})
	if err := b.AddDocument("web.profile.json", data); err != nil {
		t.Fatal(err)
	}
	f := b.Build("", testNow)
	web := byName(t, f, "web")
	want := map[capset.Cap]State{capset.KILL: Used, capset.CHOWN: Used, capset.SETUID: Needed,
		capset.NET_BIND_SERVICE: Needed, capset.SETGID: Unused, capset.NET_RAW: Unused}
	for cp, st := range want {
		if got := web.Cell(cp).State; got != st {
			t.Errorf("%s: %v, want %v", cp, got, st)
		}
	}
	if got := web.Usage.Unproven; got != capset.Of(capset.KILL, capset.CHOWN) {
		t.Errorf("unproven %v", got)
	}
	rec2, ok := web.Recommended()
	if want := capset.Of(capset.KILL, capset.CHOWN, capset.SETUID, capset.NET_BIND_SERVICE); !ok || rec2 != want {
		t.Errorf("recommended %v, want %v (the profile's own recommended set: %v)", rec2, want, p.RecommendedSet())
	}
	if rec2 != p.RecommendedSet() {
		t.Errorf("the picture recommends %v, the profile %v", rec2, p.RecommendedSet())
	}
	if s, _ := web.Snippet(); !strings.Contains(s.Text, "KILL") || !strings.Contains(s.Text, "CHOWN") {
		t.Errorf("the snippet drops what is used, not proven: %q", s.Text)
	}
	for _, e := range web.Usage.Evidence {
		switch e.Cap {
		case capset.KILL, capset.CHOWN:
			if e.Class != "used" || len(e.Reasons) != 1 || !strings.Contains(e.Reasons[0], ": ") {
				t.Errorf("%s evidence %+v: want used, with the reason explained", e.Cap, e)
			}
		case capset.SETUID:
			if e.Class != "needed" || len(e.Reasons) != 0 {
				t.Errorf("SETUID evidence %+v", e)
			}
		}
	}
	tot := f.Totals()
	if tot.Used != 2 || tot.Needed != 2 {
		t.Errorf("totals: %d used, %d needed; want 2, 2", tot.Used, tot.Needed)
	}
}
