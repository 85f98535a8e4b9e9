package quadlet

import (
	"os"
	"reflect"
	"testing"

	. "github.com/capdrop/capdrop/source/internal/wltest"
	"github.com/capdrop/capdrop/workload"
)

func TestParse(t *testing.T) {
	data, err := os.ReadFile("testdata/web.container")
	if err != nil {
		t.Fatal(err)
	}
	got, errs := Parse("units/web.container", data)
	Compare(t, got, []Summary{{
		Pos: "4:1", Kind: workload.QuadletUnit, Name: "systemd-web", Image: "docker.io/library/nginx:1.25", Runtime: "podman",
		// The empty AddCapability= resets the list: NET_ADMIN and SYS_TIME are gone.
		Privileged: "true@14:12", Add: []string{"CAP_NET_BIND_SERVICE@8:15", "CHOWN@9:3", "sys_nice@13:22"},
		Drop: []string{"all@10:16"}, CapsPos: "6:1", User: "1000@11:6", NNP: "false@13:46",
	}})
	if len(errs) != 0 {
		t.Error(errs)
	}
}

func TestBad(t *testing.T) {
	data, _ := os.ReadFile("testdata/bad.container")
	got, errs := Parse("bad.container", data)
	Compare(t, got, []Summary{{Pos: "1:1", Kind: workload.QuadletUnit, Name: "named", Image: "x", Runtime: "podman",
		Add: []string{}, Drop: []string{}, CapsPos: "1:1"}})
	want := []string{
		"bad.container:7:1: line is not key=value: \"garbage line\"",
		"bad.container:8:1: unterminated section header \"[Service\"",
		"bad.container:4:17: NoNewPrivileges: \"perhaps\" is not a boolean",
		"bad.container:5:22: PodmanArgs: reached EOF without closing quote `\"`",
		"bad.container:6:12: PodmanArgs: \"image-not-option\" is not an option",
	}
	if e := Errors(errs); !reflect.DeepEqual(e, want) {
		t.Errorf("errors %q", e)
	}
}

func TestNoContainerSection(t *testing.T) {
	got, errs := Parse("x.container", []byte("[Unit]\nDescription=x\n"))
	if len(got) != 0 || len(errs) != 0 {
		t.Errorf("%v %v", got, errs)
	}
}

func FuzzQuadlet(f *testing.F) {
	data, _ := os.ReadFile("testdata/web.container")
	f.Add(data)
	f.Add([]byte("[Container]\nAddCapability=\"a b\" 'c'\\\n d\nPodmanArgs=-u 0 --cap-add=x,y\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ws, _ := Parse("f.container", data)
		for _, w := range ws {
			if w.Pos.Line < 1 || w.CapsPos == nil {
				t.Fatalf("bad workload %+v", w)
			}
		}
	})
}

// TestRootless: a unit in a user's Quadlet directory, or one asking for
// keep-id (which Podman accepts only rootless), runs rootless; a unit in
// the system's directory does not, and RemapUsers= (Quadlet before 4.5)
// is read as UserNS=.
func TestRootless(t *testing.T) {
	for _, tt := range []struct {
		file, unit string
		rootless   bool
		userns     string
	}{
		{"home/u/.config/containers/systemd/web.container", "[Container]\nImage=web\n", true, ""},
		{"etc/containers/systemd/users/1000/web.container", "[Container]\nImage=web\n", true, ""},
		{"etc/containers/systemd/web.container", "[Container]\nImage=web\n", false, ""},
		{"deploy/web.container", "[Container]\nImage=web\nUserNS=keep-id\n", true, "keep-id"},
		{"etc/containers/systemd/web.container", "[Container]\nImage=web\nUserNS=keep-id\n", false, "keep-id"},
		{"deploy/web.container", "[Container]\nImage=web\nRemapUsers=keep-id\n", true, "keep-id"},
		{"deploy/web.container", "[Container]\nImage=web\nPodmanArgs=--userns=nomap\n", true, "nomap"},
		{"deploy/web.container", "[Container]\nImage=web\nUserNS=auto\n", false, "auto"},
	} {
		ws, errs := Parse(tt.file, []byte(tt.unit))
		if len(errs) > 0 || len(ws) != 1 {
			t.Fatalf("%s: %v", tt.file, errs)
		}
		w := ws[0]
		got := ""
		if u := w.Host.Namespaces.User; u != nil {
			got = u.Text
		}
		if w.Rootless != tt.rootless || got != tt.userns {
			t.Errorf("%s %q: rootless %v userns %q, want %v %q", tt.file, tt.unit, w.Rootless, got, tt.rootless, tt.userns)
		}
	}
}
