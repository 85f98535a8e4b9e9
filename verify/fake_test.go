package verify_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/engine"
	"github.com/capdrop/capdrop/engine/enginetest"
	"github.com/capdrop/capdrop/source"
	"github.com/capdrop/capdrop/verify"
	"github.com/capdrop/capdrop/workload"
)

// needs is a fake workload that exits 0 only when the trial's set holds
// every capability in want.
func needs(want capset.Set) func(engine.CreateRequest) enginetest.Behaviour {
	return func(req engine.CreateRequest) enginetest.Behaviour {
		got, err := capset.ParseSet(strings.Join(req.HostConfig.CapAdd, ","))
		if err != nil || !got.Contains(want) || strings.Join(req.HostConfig.CapDrop, ",") != "ALL" || req.HostConfig.Privileged {
			return enginetest.Behaviour{Exit: 1, Logs: "operation not permitted\n"}
		}
		return enginetest.Behaviour{Logs: "ok\n"}
	}
}

// TestRunFakeEngine: verify.Run's orchestration on a fake engine — the
// compose service read by source (extends resolved), its run configuration
// in every trial's request, the starting set from merge, minimization down
// to what the workload needs, every container removed.
func TestRunFakeEngine(t *testing.T) {
	compose := `services:
  base:
    image: app:1
    environment: {MODE: base, KEEP: "1"}
    cap_add: [NET_ADMIN]
  web:
    extends: base
    command: ["serve", "--port", "8080"]
    environment:
      MODE: ${MODE:-web}
    sysctls: {net.ipv4.ip_unprivileged_port_start: "0"}
    ports: ["80:8080"]
`
	ws, errs := source.Parse("compose.yaml", []byte(compose), source.Options{Env: map[string]string{}})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var web workload.Workload
	for _, w := range ws {
		if w.Name == "web" {
			web = w
		}
	}
	want := capset.Of(capset.CHOWN, capset.NET_ADMIN)
	fake := &enginetest.Fake{Behave: needs(want)}
	var started *verify.Result
	trials := 0
	res, err := verify.Run(context.Background(), verify.Options{
		Engine: fake, Workload: web, Kind: "compose", Source: "service web in compose.yaml",
		Check: verify.Check{}, Minimize: true, Retries: 1, Labels: map[string]string{"t": "1"},
		OnStart: func(r *verify.Result) { started = r },
		OnRun:   func(verify.Trial) { trials++ },
	})
	if err != nil {
		t.Fatal(err)
	}
	// The starting set is what merge computes for the service: Docker's
	// defaults plus NET_ADMIN from the extended service.
	if started == nil || !strings.Contains(strings.Join(started.Start, ","), "CAP_NET_ADMIN") || len(started.Start) != 15 {
		t.Errorf("start %+v", started)
	}
	if !res.Passed || !res.OneMinimal || strings.Join(res.Set, ",") != "CAP_CHOWN,CAP_NET_ADMIN" || trials != len(res.Runs) {
		t.Errorf("result %+v", res)
	}
	for _, req := range fake.Created() {
		if req.Image != "app:1" || strings.Join(req.Cmd, " ") != "serve --port 8080" ||
			strings.Join(req.Env, " ") != "MODE=web KEEP=1" || req.HostConfig.Sysctls["net.ipv4.ip_unprivileged_port_start"] != "0" ||
			req.Labels["t"] != "1" || req.Labels[verify.LabelSession] == "" || req.HostConfig.AutoRemove {
			t.Errorf("request %+v", req)
		}
	}
	if left := fake.Containers(); len(left) != 0 {
		t.Errorf("containers left: %v", left)
	}
	// The fake's containers have no processes to follow: every passing
	// candidate run was judged by the check alone, and the result says so
	// (the run numbers, and the message).
	var unjudged []int
	for _, r := range res.Runs {
		if r.Passed && r.Phase != verify.PhaseStart {
			if !strings.HasPrefix(r.Credentials, "not read:") {
				t.Errorf("run %d: credentials %q, want why they were not read", r.N, r.Credentials)
			}
			unjudged = append(unjudged, r.N)
		}
	}
	if len(unjudged) == 0 || fmt.Sprint(res.Unjudged) != fmt.Sprint(unjudged) ||
		!strings.Contains(res.Message, fmt.Sprintf("%d passing runs were judged by the check alone", len(unjudged))) {
		t.Errorf("credentials_unjudged %v, want %v; message %q", res.Unjudged, unjudged, res.Message)
	}
}

// TestRunFakeEngineCancel: a cancelled verification stops, returns the
// context's error, and removes its containers.
func TestRunFakeEngineCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	fake := &enginetest.Fake{Behave: func(engine.CreateRequest) enginetest.Behaviour {
		cancel() // the interrupt arrives while the trial runs
		return enginetest.Behaviour{Running: true}
	}}
	res, err := verify.Run(ctx, verify.Options{Engine: fake, Workload: workload.Workload{Image: "app:1"}, Kind: "image",
		Check: verify.Check{}, HasStart: true, Start: capset.Of(capset.KILL)})
	if err == nil || ctx.Err() == nil || res == nil {
		t.Errorf("err %v res %v", err, res)
	}
	if left := fake.Containers(); len(left) != 0 {
		t.Errorf("containers left: %v", left)
	}
}

// TestRunRefusesWhatItCannotReproduce: a service with settings the model
// does not carry is refused before any container is created.
func TestRunRefusesWhatItCannotReproduce(t *testing.T) {
	ws, _ := source.Parse("compose.yaml", []byte("services:\n  web:\n    image: a\n    secrets: [s]\n    links: [db]\n"), source.Options{Env: map[string]string{}})
	fake := &enginetest.Fake{}
	_, err := verify.Run(context.Background(), verify.Options{Engine: fake, Workload: ws[0], Kind: "compose"})
	if err == nil || !strings.Contains(err.Error(), "links (compose.yaml:5:5)") || !strings.Contains(err.Error(), "secrets (compose.yaml:4:5)") || len(fake.Created()) != 0 {
		t.Errorf("%v, %d created", err, len(fake.Created()))
	}
}

// TestComposeMountsInTheRequest: a compose service's mounts reach the
// trial's request as docker compose would create them: named volumes under
// the project's name, relative binds from the file's directory, tmpfs with
// its options.
func TestComposeMountsInTheRequest(t *testing.T) {
	dir := t.TempDir()
	compose := "name: Shop\nservices:\n  web:\n    image: a\n    volumes: [data:/data, ./html:/srv:ro, shared:/shared]\n    tmpfs: [/run:size=1m]\nvolumes:\n  data: {}\n  shared: {external: true}\n"
	ws, errs := source.Parse(dir+"/compose.yaml", []byte(compose), source.Options{Env: map[string]string{}})
	if len(errs) > 0 || len(ws) != 1 {
		t.Fatal(ws, errs)
	}
	tg, err := verify.NewTarget(ws[0], "compose", "x")
	if err != nil {
		t.Fatal(err)
	}
	req := tg.Body(capset.Of(capset.KILL), nil)
	want := []string{"shop_data:/data", dir + "/html:/srv:ro", "shared:/shared"}
	if strings.Join(req.HostConfig.Binds, " ") != strings.Join(want, " ") || req.HostConfig.Tmpfs["/run"] != "size=1m" {
		t.Errorf("binds %q tmpfs %v, want %q and /run size=1m", req.HostConfig.Binds, req.HostConfig.Tmpfs, want)
	}
}
