package dockerfile

import (
	"os"
	"reflect"
	"testing"

	. "github.com/capdrop/capdrop/source/internal/wltest"
	"github.com/capdrop/capdrop/workload"
)

func TestParse(t *testing.T) {
	data, err := os.ReadFile("testdata/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	got, errs := Parse("Dockerfile", data, Options{})
	caps := []string{"CHOWN@11:35", "NET_BIND_SERVICE@11:42"}
	Compare(t, got, []Summary{
		// The build stage's LABEL RUN and USER are not in the final image;
		// the base stage's USER and capabilities label are inherited.
		{Pos: "15:12", Kind: workload.DockerfileLabel, Name: "LABEL RUN", Image: "${IMAGE}", Runtime: "docker",
			Add: []string{"net_bind_service@16:37"}, Drop: []string{"all@16:23"}, CapsPos: "16:12",
			User: "1000@17:15", ImageUser: "1001", ImageCaps: caps,
			Attrs: map[string]string{"command": `docker run -d --name "NAME"            --cap-drop=all --cap-add=net_bind_service            -u 1000 ${IMAGE}`}},
		{Pos: "18:16", Kind: workload.DockerfileLabel, Name: "LABEL INSTALL", Image: "IMAGE", Runtime: "podman",
			Privileged: "true@18:32", Add: []string{}, Drop: []string{}, CapsPos: "18:26", ImageUser: "1001", ImageCaps: caps},
		{Pos: "11:1", Kind: workload.DockerfileImageCaps, Name: "image", Runtime: "podman", Add: []string{}, Drop: []string{},
			ImageUser: "1001", ImageCaps: caps, Attrs: map[string]string{"label": "io.containers.capabilities=CHOWN, NET_BIND_SERVICE"}},
	})
	if len(errs) != 0 {
		t.Errorf("errors %v", errs)
	}
}

func TestSubstitution(t *testing.T) {
	src := "FROM x\nLABEL run='docker run --name NAME -v /:/h IMAGE'\n"
	got, _ := Parse("Containerfile", []byte(src), Options{Vars: map[string]string{"IMAGE": "reg/x:1", "NAME": "x"}})
	if len(got) != 1 || got[0].Image != "reg/x:1" || got[0].Name != "LABEL RUN" || got[0].Attrs["container_name"] != "x" {
		t.Fatalf("got %+v", got)
	}
}

func TestBad(t *testing.T) {
	src := "LABEL RUN=\"docker run x\"\nFROM a\nLABEL RUN=\"unterminated\nLABEL RUN=/usr/bin/true\nLABEL INSTALL=\"docker run 'open\"\nLABEL a b c=d\n# escape=`\nLABEL RUN=\"docker run `\n  --privileged x\"\n"
	got, errs := Parse("Dockerfile", []byte(src), Options{})
	want := []string{
		"Dockerfile:1:1: LABEL before FROM",
		"Dockerfile:3:11: LABEL: unterminated \" quote",
		"Dockerfile:8:11: LABEL: unterminated \" quote",
		"Dockerfile:4:11: LABEL RUN is not a docker/podman/nerdctl run command; capdrop cannot audit it",
		"Dockerfile:5:27: LABEL INSTALL: shell syntax: reached EOF without closing quote `'`",
	}
	if e := Errors(errs); !reflect.DeepEqual(e, want) {
		t.Errorf("errors %q", e)
	}
	// "# escape=`" after the first instruction is a comment: the
	// backslash stays the escape, so the backtick line does not continue.
	if len(got) != 0 {
		t.Errorf("got %+v", got)
	}
}

func TestEscapeDirective(t *testing.T) {
	src := "# escape=`\nFROM mcr/windows\nLABEL RUN=\"docker run `\n  --cap-add SYS_TIME x\"\nUSER ContainerUser\n"
	got, errs := Parse("Dockerfile", []byte(src), Options{})
	if len(errs) != 0 || len(got) != 1 {
		t.Fatalf("got %v %v", got, errs)
	}
	Compare(t, got, []Summary{{Pos: "3:12", Kind: workload.DockerfileLabel, Name: "LABEL RUN", Image: "x", Runtime: "docker",
		Add: []string{"SYS_TIME@4:13"}, Drop: []string{}, CapsPos: "4:3", ImageUser: "ContainerUser"}})
}
