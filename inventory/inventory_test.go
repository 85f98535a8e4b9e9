package inventory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/engine"
	"github.com/capdrop/capdrop/knowledge"
	"github.com/capdrop/capdrop/workload"
)

func pids(ps []*Process) []int {
	var out []int
	for _, p := range ps {
		out = append(out, p.PID)
	}
	return out
}

func byName(t *testing.T, inv *Inventory, label string) *Container {
	t.Helper()
	for _, c := range inv.Containers {
		if c.Label() == label {
			return c
		}
	}
	t.Fatalf("no container %q", label)
	return nil
}

func TestTakeFixture(t *testing.T) {
	fe := &fakeEngine{}
	opts := fixtureOptions(fe)
	opts.Summaries = true
	inv, err := Take(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	// Processes with an empty effective set are hidden: 701 (alice's
	// shell), 1001 (nginx worker), 1300 (privileged but uid 1000), 1400.
	if got, want := pids(inv.Processes), []int{1, 15, 400, 500, 700, 1000, 1100, 1200}; !slices.Equal(got, want) {
		t.Errorf("processes %v, want %v", got, want)
	}
	var labels []string
	for _, c := range inv.Containers {
		labels = append(labels, c.Label())
	}
	if want := []string{"34dc0b5e626f", "admin", "app", "priv", "web"}; !slices.Equal(labels, want) {
		t.Errorf("containers %v, want %v", labels, want)
	}
	if fe.Calls().Lists != 1 || fe.Calls().Inspects != 4 {
		t.Errorf("engine calls: %d lists, %d inspects; want 1 and 4", fe.Calls().Lists, fe.Calls().Inspects)
	}
	if len(inv.Warnings) != 1 || !strings.Contains(inv.Warnings[0].Error(), "2000/status") {
		t.Errorf("warnings %v, want the malformed 2000/status only", inv.Warnings)
	}

	web := byName(t, inv, "web")
	if web.Main == nil || web.Main.PID != 1000 || web.Processes != 2 || web.Image != "nginx:1.25" || web.Runtime != workload.Docker {
		t.Errorf("web: %+v", web)
	}
	if !web.Beyond.IsEmpty() || web.Default != knowledge.Docker || len(web.Mismatches) != 0 {
		t.Errorf("web holds Docker's default: beyond %v default %q mismatches %v", web.Beyond, web.Default, web.Mismatches)
	}
	if admin := byName(t, inv, "admin"); admin.Beyond != capset.Of(capset.SYS_ADMIN) || admin.Riskiest[0] != capset.SYS_ADMIN {
		t.Errorf("admin: beyond %v riskiest %v; want SYS_ADMIN first", admin.Beyond, admin.Riskiest)
	}
	if app := byName(t, inv, "app"); !app.Beyond.IsEmpty() || app.Main.Sets.Bounding != capset.Of(capset.NET_BIND_SERVICE) || len(app.Mismatches) != 0 {
		t.Errorf("app: %+v", app)
	}
	priv := byName(t, inv, "priv")
	var kinds []string
	for _, m := range priv.Mismatches {
		kinds = append(kinds, m.Kind)
	}
	if want := []string{MismatchPrivilegedPartial, MismatchAddNotEffective}; !slices.Equal(kinds, want) {
		t.Errorf("priv mismatches %v, want %v", priv.Mismatches, want)
	}
	cri := byName(t, inv, "34dc0b5e626f")
	if cri.Runtime != workload.Containerd || cri.PodUID != podUID || cri.Main == nil || cri.Main.PID != 1400 || cri.Config != nil || cri.Default != knowledge.Containerd {
		t.Errorf("CRI container: %+v", cri)
	}
	// Threads whose sets differ are kept with their process.
	for _, p := range inv.Processes {
		if p.PID == 400 && (len(p.Threads) != 1 || p.Threads[0].TID != 402) {
			t.Errorf("dockerd threads %+v", p.Threads)
		}
	}
}

func TestTakeFilters(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		container string
		pids      []int
		all       bool
		want      []int
		missing   []int
		err       error
	}{
		{"all", "", nil, true, []int{1, 15, 400, 500, 700, 701, 1000, 1001, 1100, 1200, 1300, 1400}, nil, nil},
		{"by name implies all", "web", nil, false, []int{1000, 1001}, nil, nil},
		{"by ID prefix", "c5f4", nil, false, []int{1300}, nil, nil},
		{"by full ID", criID, nil, false, []int{1400}, nil, nil},
		{"ambiguous prefix", "c", nil, false, nil, nil, ErrAmbiguous},
		{"unknown", "nope", nil, false, nil, nil, ErrNoContainer},
		{"pids imply all", "", []int{701, 1001, 2, 4242}, false, []int{701, 1001}, []int{2, 4242}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := fixtureOptions(&fakeEngine{})
			opts.Container, opts.PIDs, opts.All = tc.container, tc.pids, tc.all
			inv, err := Take(ctx, opts)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("error %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := pids(inv.Processes); !slices.Equal(got, tc.want) {
				t.Errorf("processes %v, want %v", got, tc.want)
			}
			if !slices.Equal(inv.MissingPIDs, tc.missing) {
				t.Errorf("missing %v, want %v", inv.MissingPIDs, tc.missing)
			}
		})
	}
}

func TestTakeEngine(t *testing.T) {
	ctx := context.Background()

	// No Docker container among the processes: whatever the engine says
	// (it is asked while /proc is read) is not used, and an unreachable
	// engine is not worth a warning.
	fe := &fakeEngine{Err: fmt.Errorf("%w at unix:///nope", engine.ErrUnreachable)}
	opts := fixtureOptions(fe)
	opts.PIDs = []int{1, 700}
	opts.Summaries = true
	if inv, err := Take(ctx, opts); err != nil || fe.Calls().Inspects != 0 || len(inv.Warnings) != 0 {
		t.Errorf("host processes only: %d inspects, warnings %v (%v)", fe.Calls().Inspects, inv.Warnings, err)
	}

	// Without --containers the list is enough.
	fe = &fakeEngine{}
	inv, err := Take(ctx, fixtureOptions(fe))
	if err != nil || fe.Calls().Lists != 1 || fe.Calls().Inspects != 0 || byName(t, inv, "web").Config != nil {
		t.Errorf("process view: %d lists %d inspects (%v)", fe.Calls().Lists, fe.Calls().Inspects, err)
	}

	// An unreachable engine is one warning; containers keep their IDs.
	fe = &fakeEngine{Err: fmt.Errorf("%w at unix:///nope: connect: no such file or directory", engine.ErrUnreachable)}
	opts = fixtureOptions(fe)
	opts.Summaries = true
	inv, err = Take(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, w := range inv.Warnings {
		if errors.Is(w, engine.ErrUnreachable) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("warnings %v: want the unreachable engine once", inv.Warnings)
	}
	c := byName(t, inv, "cad7007695e0")
	if c.Name != "" || c.Config != nil || c.Main == nil || c.Main.PID != 1000 {
		t.Errorf("without an engine: %+v", c)
	}

	// A Kubernetes node without Docker: the CRI container alone is no
	// reason to complain about a missing Docker engine.
	fe = &fakeEngine{Err: fmt.Errorf("%w at unix:///nope", engine.ErrUnreachable)}
	opts = fixtureOptions(fe)
	opts.PIDs = []int{1, 1400}
	if inv, err := Take(ctx, opts); err != nil || len(inv.Warnings) != 0 || len(inv.Containers) != 1 {
		t.Errorf("CRI container only: warnings %v (%v)", inv.Warnings, err)
	}
}

func TestMismatches(t *testing.T) {
	kernel := capset.Upto(capset.CHECKPOINT_RESTORE)
	docker := knowledge.MustDefault(knowledge.Docker)
	proc := func(euid int, eff, bnd capset.Set) *Process {
		return &Process{EUID: euid, Sets: capset.Sets{Effective: eff, Permitted: eff, Bounding: bnd}}
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		p    *Process
		want map[string]capset.Set
	}{
		{"default", Config{}, proc(0, docker, docker), nil},
		{"drop all add one", Config{CapDrop: []string{"ALL"}, CapAdd: []string{"NET_BIND_SERVICE"}}, proc(0, capset.Of(capset.NET_BIND_SERVICE), capset.Of(capset.NET_BIND_SERVICE)), nil},
		{"same cap dropped and added: add wins in Docker", Config{CapDrop: []string{"net_raw"}, CapAdd: []string{"net_raw"}}, proc(0, docker, docker), nil},
		{"add the engine does not know", Config{CapAdd: []string{"CAP_BPF"}}, proc(0, docker, docker),
			map[string]capset.Set{MismatchAddNotHeld: capset.Of(capset.BPF)}},
		{"drop not applied", Config{CapDrop: []string{"NET_RAW", "CHOWN"}}, proc(0, docker.Without(capset.CHOWN), docker.Without(capset.CHOWN)),
			map[string]capset.Set{MismatchDropStillHeld: capset.Of(capset.NET_RAW)}},
		{"non-root user with cap_add", Config{CapAdd: []string{"NET_ADMIN"}, User: "1000"}, proc(1000, 0, docker.With(capset.NET_ADMIN)),
			map[string]capset.Set{MismatchAddNotEffective: capset.Of(capset.NET_ADMIN)}},
		{"privileged root with everything", Config{Privileged: true, CapDrop: []string{"ALL"}}, proc(0, kernel, kernel), nil},
		{"privileged on an old engine, non-root", Config{Privileged: true}, proc(1000, 0, capset.Upto(capset.AUDIT_READ)),
			map[string]capset.Set{
				MismatchPrivilegedPartial: capset.Of(capset.PERFMON, capset.BPF, capset.CHECKPOINT_RESTORE),
				MismatchAddNotEffective:   capset.Upto(capset.AUDIT_READ),
			}},
		{"unknown names are the engine's business", Config{CapAdd: []string{"NOT_A_CAP"}}, proc(0, docker, docker), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]capset.Set{}
			for _, m := range mismatches(&tc.cfg, tc.p, kernel) {
				got[m.Kind] = m.Caps
				if m.Message == "" {
					t.Errorf("%s without a message", m.Kind)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("mismatches %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s: %v, want %v", k, got[k], v)
				}
			}
		})
	}
}

func TestRiskiest(t *testing.T) {
	got := Riskiest(capset.Of(capset.NET_BIND_SERVICE, capset.CHOWN, capset.SYS_ADMIN, capset.KILL))
	if len(got) == 0 || got[0] != capset.SYS_ADMIN {
		t.Fatalf("riskiest %v: want SYS_ADMIN first", got)
	}
	for _, c := range got {
		if e, _ := knowledge.Lookup(c); e.Risk < knowledge.High {
			t.Errorf("%v is %v, not high or critical", c, e.Risk)
		}
	}
	if slices.Contains(got, capset.NET_BIND_SERVICE) {
		t.Error("NET_BIND_SERVICE is not among the riskiest")
	}
}
