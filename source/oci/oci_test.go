package oci

import (
	"os"
	"reflect"
	"testing"

	. "github.com/capdrop/capdrop/source/internal/wltest"
	"github.com/capdrop/capdrop/workload"
)

func read(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestConfig(t *testing.T) {
	got, errs := Parse("bundle/config.json", read(t, "config.json"))
	Compare(t, got, []Summary{{
		Pos: "1:1", Kind: workload.OCISpec, Name: "runc", Runtime: "oci", Add: []string{}, Drop: []string{}, CapsPos: "6:21",
		User: "1000@4:21", NNP: "true@13:24",
		Explicit: "B[CAP_AUDIT_WRITE@7:20 CAP_KILL@7:39 CAP_NET_BIND_SERVICE@7:51] E[CAP_KILL@8:21] P[CAP_KILL@9:21] I[] A[]",
		Attrs:    map[string]string{"root": "rootfs", "gid": "1000"},
	}})
	if len(errs) != 0 {
		t.Error(errs)
	}
}

func TestInspect(t *testing.T) {
	got, errs := Parse("inspect.json", read(t, "inspect.json"))
	Compare(t, got, []Summary{
		{Pos: "2:3", Kind: workload.InspectRecord, Name: "web", Image: "nginx:1.25", Runtime: "docker",
			Privileged: "false@9:21", Add: []string{"NET_ADMIN@7:18", "CAP_SYS_TIME@7:31"}, Drop: []string{}, CapsPos: "7:17",
			User: "nginx@5:24", NNP: "true@10:45", Attrs: map[string]string{"id": "4f1c2d3e4f5a"}},
		{Pos: "13:3", Kind: workload.InspectRecord, Name: "db", Image: "postgres", Runtime: "podman",
			Privileged: "true@19:68", Add: []string{}, Drop: []string{"all@19:46"}, CapsPos: "19:30",
			Attrs: map[string]string{"effective_caps": "CAP_CHOWN"}},
		{Pos: "27:17", Kind: workload.DockerfileLabel, Name: "registry.example/tool:2 LABEL RUN", Image: "registry.example/tool:2", Runtime: "docker",
			Add: []string{"SYS_NICE@27:58"}, Drop: []string{"ALL@27:44"}, CapsPos: "27:33",
			ImageUser: "1001", ImageCaps: []string{"CHOWN@28:40", "SETUID@28:46"}},
		{Pos: "28:39", Kind: workload.DockerfileImageCaps, Name: "registry.example/tool:2", Image: "registry.example/tool:2", Runtime: "podman",
			Add: []string{}, Drop: []string{}, ImageUser: "1001", ImageCaps: []string{"CHOWN@28:40", "SETUID@28:46"}},
	})
	if len(errs) != 0 {
		t.Error(errs)
	}
}

func TestBadJSON(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"{\n  \"ociVersion\": \"1\",\n  \"process\": {\"capabilities\": {\"bounding\": [1]}}\n}", "f:3:45: process.capabilities.bounding items must be strings"},
		{"{\n  \"ociVersion\": \"1\",\n  \"process\": {\"user\": {\"uid\": \"root\"}}\n}", "f:3:31: process.user.uid must be an integer"},
		{"[{\"Id\": \"x\", \"HostConfig\": {\"CapAdd\": \"NET_ADMIN\"}}]", "f:1:39: HostConfig.CapAdd must be a list"},
		{"{\n  \"ociVersion\": \"1\",\n  \"process\": {\"x\": tru}\n}", "f:3:23: invalid JSON: invalid character '}' in literal true (expecting 'e')"},
		{"[{\"Id\": \"x\"", "f:1:12: invalid JSON: unexpected end of JSON input"},
	} {
		_, errs := Parse("f", []byte(c.in))
		if e := Errors(errs); !reflect.DeepEqual(e, []string{c.want}) {
			t.Errorf("%q: %q, want %q", c.in, e, c.want)
		}
	}
}

func FuzzOCI(f *testing.F) {
	f.Add([]byte(`{"ociVersion":"1","process":{"capabilities":{"bounding":["CAP_KILL"]},"user":{"uid":0}}}`))
	f.Add([]byte(`[{"Id":"x","Name":"/a","Config":{"Labels":{"RUN":"docker run --privileged IMAGE"}},"HostConfig":{"CapAdd":["A"]}}]`))
	f.Add([]byte(`{"a": "\/\u00e9\ud83d\ude00", "b": [1e400, -0, null]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ws, errs := Parse("f.json", data)
		for _, e := range errs {
			if e.Pos.File != "f.json" {
				t.Fatalf("error without file: %v", e)
			}
		}
		for _, w := range ws {
			if w.Pos.Line < 1 {
				t.Fatalf("workload without position: %+v", w)
			}
		}
	})
}
