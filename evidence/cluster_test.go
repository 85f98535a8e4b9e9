package evidence

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/clusterprofile"
)

// clusterDoc returns the document clusterprofile's golden test writes (a
// Deployment's container, complete), with more profiles made from it by
// mod.
func clusterDoc(t *testing.T, mod func(d *clusterprofile.Document)) string {
	t.Helper()
	b, err := os.ReadFile("../clusterprofile/testdata/document.json.golden")
	if err != nil {
		t.Fatal(err)
	}
	var d clusterprofile.Document
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if mod != nil {
		mod(&d)
	}
	out, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestClusterProfileGolden(t *testing.T) {
	f, err := os.Open("../clusterprofile/testdata/document.json.golden")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ev, err := Read(f, "cp.json")
	if err != nil || ev.Kind != ClusterProfile || ev.Profiles == nil || len(ev.Profiles.Profiles) != 1 {
		t.Fatalf("%v %q %v", err, ev.Kind, ev.Profiles)
	}
	got, notes, err := ev.Pick(Ref{Container: "app"}, false)
	want := capset.Of(capset.CHOWN, capset.FOWNER, capset.NET_BIND_SERVICE, capset.NET_RAW, capset.SYS_TIME, capset.KILL)
	if err != nil || got.Set != want || got.Used != capset.Of(capset.KILL) || len(notes) != 0 {
		t.Errorf("picked %v (used %v), notes %q, err %v; want %v", got.Set, got.Used, notes, err, want)
	}
	if s := got.String(); s != "cluster profile cp.json (shop/Deployment/web/app)" {
		t.Errorf("String() = %q", s)
	}
}

func TestPick(t *testing.T) {
	doc := clusterDoc(t, func(d *clusterprofile.Document) {
		base := d.Profiles[0]
		// The same container of the same Deployment under an older image.
		old := base
		old.Images = []clusterprofile.Image{{Image: "localhost/capdrop/test:0"}}
		old.LastSeen = base.LastSeen.Add(-time.Hour)
		old.Needed = []string{"CAP_CHOWN"}
		old.UsedNotProven = nil
		// An init container of the same name, partial.
		ini := base
		ini.Workload.ContainerType = "init"
		ini.Needed = []string{"CAP_DAC_OVERRIDE"}
		ini.UsedNotProven = nil
		ini.Complete = false
		ini.Partial = []clusterprofile.Reason{{Reason: clusterprofile.ReasonStartedBefore, Detail: "1 container started before the agent"}}
		// The same names in another namespace.
		other := base
		other.Workload.Namespace = "staging"
		other.Needed = []string{"CAP_KILL"}
		other.UsedNotProven = nil
		d.Profiles = append(d.Profiles, old, ini, other)
	})
	ev, err := Read(strings.NewReader(doc), "cp.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		ref     Ref
		partial bool
		want    capset.Set
		note    string
		err     error
		msg     string
	}{
		{name: "newest of the image", ref: Ref{Namespace: "shop", Kind: "Deployment", Name: "web", Container: "app", Image: "localhost/capdrop/test:1"},
			want: capset.Of(capset.CHOWN, capset.FOWNER, capset.NET_BIND_SERVICE, capset.NET_RAW, capset.SYS_TIME, capset.KILL), note: "has 2 profiles"},
		{name: "older image asked for", ref: Ref{Namespace: "shop", Kind: "deployment", Name: "web", Container: "app", Image: "localhost/capdrop/test:0"},
			want: capset.Of(capset.CHOWN), note: "the one last seen 2026-12-01 09:01:30Z is used"},
		{name: "an image never profiled", ref: Ref{Namespace: "shop", Name: "web", Container: "app", Image: "localhost/capdrop/test:9"},
			want: capset.Of(capset.CHOWN, capset.FOWNER, capset.NET_BIND_SERVICE, capset.NET_RAW, capset.SYS_TIME, capset.KILL), note: "profile the new image"},
		{name: "two namespaces", ref: Ref{Name: "web", Container: "app"}, err: ErrNoProfile, msg: "several (shop/Deployment/web/app, staging/Deployment/web/app); name the namespace"},
		{name: "no such container", ref: Ref{Namespace: "shop", Name: "web", Container: "db"}, err: ErrNoProfile, msg: "no profile of this container shop//web/db (it has shop/Deployment/web/app, shop/Deployment/web/init:app, staging/Deployment/web/app)"},
		{name: "partial refused", ref: Ref{Namespace: "shop", Name: "web", Container: "app", Init: true}, err: ErrPartial, msg: "started-before-agent: 1 container started before the agent"},
		{name: "partial allowed", ref: Ref{Namespace: "shop", Name: "web", Container: "app", Init: true}, partial: true, want: capset.Of(capset.DAC_OVERRIDE), note: "is partial"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, notes, err := ev.Pick(c.ref, c.partial)
			if c.err != nil {
				if !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.msg) {
					t.Errorf("err %v, want %v with %q", err, c.err, c.msg)
				}
				return
			}
			if err != nil || got.Set != c.want {
				t.Fatalf("set %v err %v, want %v", got.Set, err, c.want)
			}
			if c.note == "" && len(notes) > 0 || c.note != "" && !strings.Contains(strings.Join(notes, "\n"), c.note) {
				t.Errorf("notes %q, want %q", notes, c.note)
			}
		})
	}
}

func TestClusterProfileBad(t *testing.T) {
	for _, c := range []struct {
		doc string
		msg string
	}{
		{`{"kind":"cluster-profile","version":2,"profiles":[]}`, "cluster profile version 2; this capdrop reads version 1"},
		{`{"kind":"cluster-profile","version":1,"profiles":{}}`, "a cluster profile: json"},
		{`{"kind":"cluster-profile","version":1,"profiles":[{"workload":{"namespace":"a","kind":"Deployment","name":"w","container":"c"},"needed":["CAP_CHOWN","ALL","cap_nope"],"used_not_proven":[{"capability":"x"}]}]}`,
			"cp.json: profiles[0] (a/Deployment/w/c): needed[1]: ALL is not a reduced set\ncp.json: profiles[0] (a/Deployment/w/c): needed[2]: unknown capability \"cap_nope\"\ncp.json: profiles[0] (a/Deployment/w/c): used_not_proven[0]: unknown capability \"x\""},
	} {
		_, err := Read(strings.NewReader(c.doc), "cp.json")
		if !errors.Is(err, ErrNotEvidence) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s:\n err %v\nwant %q", c.doc, err, c.msg)
		}
	}
}

// TestPickOtherDocuments: a host profile or a verify result holds one set
// and is what Pick returns, whatever the container.
func TestPickOtherDocuments(t *testing.T) {
	ev, err := Read(strings.NewReader(`{"needed":["CAP_CHOWN"]}`), "p.json")
	if err != nil {
		t.Fatal(err)
	}
	got, notes, err := ev.Pick(Ref{Name: "anything"}, false)
	if err != nil || got.Set != capset.Of(capset.CHOWN) || notes != nil {
		t.Errorf("%v %q %v", got.Set, notes, err)
	}
}
