package verify

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/engine"
	"github.com/capdrop/capdrop/source/runargs"
	"github.com/capdrop/capdrop/workload"
)

func TestParseHTTPProbe(t *testing.T) {
	cases := map[string]string{
		"8080/healthz":         "http://10.0.0.2:8080/healthz",
		":8080/healthz":        "http://10.0.0.2:8080/healthz",
		"8080":                 "http://10.0.0.2:8080/",
		"/healthz":             "http://10.0.0.2:80/healthz",
		"":                     "http://10.0.0.2:80/",
		"http://127.0.0.1:9/x": "http://127.0.0.1:9/x",
		"0/x":                  "error",
		"70000":                "error",
		"abc/x":                "error",
		"http://":              "error",
	}
	for in, want := range cases {
		p, err := ParseHTTPProbe(in)
		got := "error"
		if err == nil {
			got = p.target("10.0.0.2")
		}
		if got != want {
			t.Errorf("%q: %s, want %s (err %v)", in, got, want, err)
		}
	}
	if p, _ := ParseHTTPProbe("8080"); !(Check{HTTP: p}).needsAddress() {
		t.Error("a port probe needs the container's address")
	}
	if p, _ := ParseHTTPProbe("http://127.0.0.1/"); (Check{HTTP: p}).needsAddress() {
		t.Error("a URL probe does not need the container's address")
	}
}

func TestCheckString(t *testing.T) {
	p, _ := ParseHTTPProbe("8080/ready")
	cases := []struct {
		c    Check
		want string
	}{
		{Check{}, "exits with code 0"},
		{Check{ExitCode: 3}, "exits with code 3"},
		{Check{HTTP: p}, "HTTP GET http://CONTAINER:8080/ready answers below 400"},
		{Check{TCP: 5432, Exec: []string{"pg_isready"}}, `exec ["pg_isready"] exits 0, and TCP port 5432 accepts a connection`},
		{Check{Running: 5e9}, "still running after 5s"},
	}
	for _, tc := range cases {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.c, got, tc.want)
		}
	}
}

// runWorkload reads docker run arguments as the CLI does.
func runWorkload(t *testing.T, args ...string) workload.Workload {
	t.Helper()
	c := runargs.FromArgv(append([]string{"docker", "run"}, args...), runargs.Quote)
	if c == nil {
		t.Fatalf("not a run command: %q", args)
	}
	w, errs := c.Workload("arguments", workload.RunLine)
	if len(errs) > 0 {
		t.Fatalf("%q: %v", args, errs)
	}
	return w
}

// TestTargetBody: a trial's request keeps the configuration (read by
// source, built by engine.FromWorkload) and replaces only what a trial
// must: the capabilities, privileged, restarts, auto-removal; published
// ports never reach the engine.
func TestTargetBody(t *testing.T) {
	w := runWorkload(t, "--privileged", "--cap-add", "NET_ADMIN", "--cap-drop", "MKNOD", "--rm", "--restart", "always",
		"-p", "8080:80", "-e", "A=1", "-l", "x=y", "-u", "app", "--sysctl", "a=b", "--read-only", "--init",
		"--ulimit", "nofile=10:20", "--shm-size", "64m", "--entrypoint", "", "img", "sh", "-c", "echo hi")
	tg, err := NewTarget(w, "run", "docker run …")
	if err != nil {
		t.Fatal(err)
	}
	if tg.Image != "img" || tg.User != "app" || !tg.Privileged || strings.Join(tg.CapAdd, ",") != "NET_ADMIN" || strings.Join(tg.CapDrop, ",") != "MKNOD" {
		t.Errorf("target %+v", tg)
	}
	if n := strings.Join(tg.Notes, "\n"); !strings.Contains(n, "privileged replaced") || !strings.Contains(n, "published ports") || !strings.Contains(n, "restart policy always") {
		t.Errorf("notes:\n%s", n)
	}
	body := tg.Body(capset.Of(capset.CHOWN, capset.KILL), map[string]string{"capdrop.verify": "s1", "t": "1"})
	b, _ := json.Marshal(body)
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	hc := got["HostConfig"].(map[string]any)
	if !reflect.DeepEqual(got["Env"], []any{"A=1"}) || got["User"] != "app" || !reflect.DeepEqual(got["Labels"], map[string]any{"x": "y", "capdrop.verify": "s1", "t": "1"}) ||
		!reflect.DeepEqual(got["Entrypoint"], []any{""}) || !reflect.DeepEqual(got["Cmd"], []any{"sh", "-c", "echo hi"}) {
		t.Errorf("config %s", b)
	}
	if !reflect.DeepEqual(hc["CapAdd"], []any{"CAP_CHOWN", "CAP_KILL"}) || !reflect.DeepEqual(hc["CapDrop"], []any{"ALL"}) ||
		hc["Privileged"] != false || hc["AutoRemove"] != false || hc["ReadonlyRootfs"] != true || hc["Init"] != true || hc["ShmSize"] != float64(64<<20) {
		t.Errorf("host config %v", hc)
	}
	if _, ok := hc["PortBindings"]; ok {
		t.Error("port bindings kept")
	}
	if rp := hc["RestartPolicy"].(map[string]any); rp["Name"] != "no" {
		t.Errorf("restart policy %v", rp)
	}
	if !reflect.DeepEqual(hc["Sysctls"], map[string]any{"a": "b"}) || !reflect.DeepEqual(hc["Ulimits"], []any{map[string]any{"Name": "nofile", "Soft": float64(10), "Hard": float64(20)}}) {
		t.Errorf("other settings lost: %v", hc)
	}
	// The target itself is not changed by building a body.
	if again := tg.Body(capset.Empty, nil); len(again.HostConfig.CapAdd) != 0 || again.Labels["t"] != "" {
		t.Errorf("Body modified the target: %+v", again)
	}
}

// TestUnmodelledRefused: a setting the model does not carry is refused
// with its place, not left out silently.
func TestUnmodelledRefused(t *testing.T) {
	_, err := NewTarget(runWorkload(t, "--volumes-from", "db", "--link", "db:db", "img"), "run", "x")
	var ue *engine.UnmodelledError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "--volumes-from (arguments:1:12)") || !strings.Contains(err.Error(), "--link") {
		t.Errorf("%v", err)
	}
}
