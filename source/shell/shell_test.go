package shell

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	. "github.com/capdrop/capdrop/source/internal/wltest"
	"github.com/capdrop/capdrop/workload"
)

const run = workload.RunLine

func TestParse(t *testing.T) {
	tests := []struct {
		file   string
		format Format
		want   []Summary
		errs   []string
	}{
		{"deploy.sh", Script, []Summary{
			{Pos: "5:1", Kind: run, Name: "web", Image: "$IMG", Runtime: "docker",
				Add: []string{"NET_BIND_SERVICE@6:28"}, Drop: []string{"ALL@6:14"}, CapsPos: "6:3",
				User: "1000:1000@9:10", NNP: "true@8:18",
				Attrs: map[string]string{"container_name": "web", "tool": "docker", "subcommand": "run"}},
			{Pos: "11:1", Kind: run, Name: "busybox:1.36", Image: "busybox:1.36", Runtime: "docker",
				Privileged: "true@11:39", Add: []string{}, Drop: []string{}, CapsPos: "11:29", User: "root@11:70",
				Attrs: map[string]string{"wrappers": "sudo", "command": "sudo -E docker container run --rm -it --privileged --network host -u root busybox:1.36 sh"}},
			{Pos: "13:3", Kind: run, Name: "quay.io/x/y", Image: "quay.io/x/y", Runtime: "podman",
				Add: []string{"sys_admin@13:24", "net_admin@13:34"}, Drop: []string{}, CapsPos: "13:14", NNP: "false@13:59"},
			{Pos: "15:1", Kind: run, Name: "alpine", Image: "alpine", Runtime: "nerdctl",
				Add: []string{}, Drop: []string{}, CapsPos: "15:34", User: "0@15:63",
				Attrs: map[string]string{"subcommand": "create"}},
		}, nil},
		{"app.service", Unit, []Summary{
			{Pos: "6:11", Kind: run, Name: "web", Image: "nginx:1.25", Runtime: "docker",
				Add: []string{"chown@7:30"}, Drop: []string{"all@7:16"}, CapsPos: "7:5"},
		}, nil},
		{"Makefile", Makefile, []Summary{
			{Pos: "5:3", Kind: run, Name: "$(IMAGE)", Image: "$(IMAGE)", Runtime: "docker",
				Add: []string{"SYS_PTRACE@5:24"}, Drop: []string{}, CapsPos: "5:14"},
			{Pos: "10:3", Kind: run, Name: "$(IMAGE)", Image: "$(IMAGE)", Runtime: "podman",
				Privileged: "false@10:14", Add: []string{}, Drop: []string{}, CapsPos: "10:13", User: "1000@10:36"},
		}, nil},
		{"README.md", Markdown, []Summary{
			{Pos: "4:3", Kind: run, Name: "alpine", Image: "alpine", Runtime: "docker",
				Add: []string{"NET_ADMIN@4:24"}, Drop: []string{}, CapsPos: "4:14"},
			{Pos: "8:3", Kind: run, Name: "alpine", Image: "alpine", Runtime: "nerdctl",
				Add: []string{}, Drop: []string{"ALL@8:35"}, CapsPos: "8:24"},
			{Pos: "10:3", Kind: run, Name: "busybox", Image: "busybox", Runtime: "docker",
				Privileged: "true@11:5", Add: []string{}, Drop: []string{}, CapsPos: "10:13"},
			{Pos: "20:1", Kind: run, Name: "ntp", Image: "ntp", Runtime: "docker",
				Add: []string{"SYS_TIME@20:22"}, Drop: []string{}, CapsPos: "20:12"},
		}, nil},
		{"broken.sh", Script, []Summary{
			{Pos: "2:1", Kind: run, Name: "ok", Image: "ok", Runtime: "docker",
				Add: []string{"KILL@2:22"}, Drop: []string{}, CapsPos: "2:12"},
			{Pos: "5:1", Kind: run, Name: "after", Image: "after", Runtime: "docker",
				Privileged: "true@5:12", Add: []string{}, Drop: []string{}, CapsPos: "5:11"},
		}, []string{"broken.sh:4:5: shell syntax: reached EOF without matching `$(` with `)`"}},
		{"broken.md", Markdown, []Summary{
			{Pos: "3:1", Kind: run, Name: "good", Image: "good", Runtime: "docker",
				Add: []string{}, Drop: []string{"ALL@3:23"}, CapsPos: "3:12"},
		}, []string{"broken.md:4:32: shell syntax: reached EOF without closing quote `\"`"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got, errs := Parse(tt.file, data, tt.format)
			Compare(t, got, tt.want)
			if e := Errors(errs); !reflect.DeepEqual(e, append([]string{}, tt.errs...)) {
				t.Errorf("errors = %q, want %q", e, tt.errs)
			}
		})
	}
}
