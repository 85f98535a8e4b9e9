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
		}, []string{"warning: README.md:19:1: a run command with the placeholder <image>, not audited"}},
		{"broken.sh", Script, []Summary{
			{Pos: "2:1", Kind: run, Name: "ok", Image: "ok", Runtime: "docker",
				Add: []string{"KILL@2:22"}, Drop: []string{}, CapsPos: "2:12"},
			{Pos: "5:1", Kind: run, Name: "after", Image: "after", Runtime: "docker",
				Privileged: "true@5:12", Add: []string{}, Drop: []string{}, CapsPos: "5:11"},
		}, []string{"broken.sh:4:5: shell syntax: reached EOF without matching `$(` with `)`"}},
		{"broken.md", Markdown, []Summary{
			{Pos: "3:1", Kind: run, Name: "good", Image: "good", Runtime: "docker",
				Add: []string{}, Drop: []string{"ALL@3:23"}, CapsPos: "3:12"},
		}, []string{"warning: broken.md:4:32: a run command that is not shell capdrop can read, not audited: reached EOF without closing quote `\"`"}},
		{"uncertain.sh", Script, []Summary{
			{Pos: "4:1", Kind: run, Name: "web", Image: "nginx:1.27", Runtime: "docker", Add: []string{}, Drop: []string{}, CapsPos: "4:11",
				Uncertain: []string{
					`4:12 "${args[@]}" may hold any options, and the image; they are decided when the command runs`,
					`4:39 "$@" may hold any options, and the image; they are decided when the command runs`}},
			{Pos: "5:1", Kind: run, Name: "alpine:3", Image: "alpine:3", Runtime: "docker", Add: []string{}, Drop: []string{}, CapsPos: "5:11",
				Uncertain: []string{`5:17 $DOCKER_OPTS may hold any options, and the image; they are decided when the command runs`}},
			{Pos: "6:1", Kind: run, Name: "busybox", Image: "busybox", Runtime: "docker", Add: []string{"$CAP@6:22"}, Drop: []string{}, CapsPos: "6:12",
				Uncertain: []string{`6:22 --cap-add $CAP: decided when the command runs ($CAP)`}},
			{Pos: "7:1", Kind: run, Name: "ntp", Image: "ntp", Runtime: "docker", Add: []string{"SYS_TIME@7:22"}, Drop: []string{}, CapsPos: "7:12"},
			{Pos: "8:1", Kind: run, Name: "img", Image: "img", Runtime: "docker", Add: []string{}, Drop: []string{}, CapsPos: "8:11",
				User: "$(id -u):$(id -g)@8:15", Uncertain: []string{
					`8:15 -u $(id -u):$(id -g): decided when the command runs ($(id -u), $(id -g))`,
					`8:35 unknown option --frobnicate: if it takes a value, the image and the options after it are misread`}},
			{Pos: "9:1", Kind: run, Name: "docker run", Image: "", Runtime: "docker", Add: []string{}, Drop: []string{}, CapsPos: "9:16",
				Uncertain: []string{`9:17 "$@" may hold any options, and the image; they are decided when the command runs`}},
		}, nil},
		{"windows.md", Markdown, []Summary{
			{Pos: "4:1", Kind: run, Name: "vpn", Image: "vpn:2", Runtime: "docker", Add: []string{"NET_ADMIN@5:13"}, Drop: []string{}, CapsPos: "5:3",
				Uncertain: []string{"4:15 a Windows command line (^ or ` line continuations), read as POSIX shell: cmd and PowerShell quote and expand differently"}},
			{Pos: "11:1", Kind: run, Name: "web:1", Image: "web:1", Runtime: "docker", Add: []string{}, Drop: []string{"ALL@12:14"}, CapsPos: "12:3",
				Uncertain: []string{"11:15 a Windows command line (^ or ` line continuations), read as POSIX shell: cmd and PowerShell quote and expand differently"}},
		}, []string{
			"warning: windows.md:19:34: a run command that is not shell capdrop can read, not audited: `>` must be followed by a word",
			"warning: windows.md:20:1: a run command with the placeholder <your-image>, not audited",
		}},
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
