package kube

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	. "github.com/capdrop/capdrop/source/internal/wltest"
	"github.com/capdrop/capdrop/workload"
)

const (
	ctr  = workload.KubeContainer
	ini  = workload.KubeInitContainer
	eph  = workload.KubeEphemeral
	cd   = workload.Containerd
	none = ""
)

func simple(pos string, kind workload.Kind, name, image, capsPos string) Summary {
	return Summary{Pos: pos, Kind: kind, Name: name, Image: image, Runtime: cd, Add: []string{}, Drop: []string{}, CapsPos: capsPos}
}

func TestParse(t *testing.T) {
	tests := []struct {
		file    string
		runtime workload.Runtime
		want    []Summary
		errs    []string
	}{
		{"workloads.yaml", "", []Summary{
			{Pos: "13:11", Kind: ctr, Name: "Deployment/web/app", Image: "nginx:1.25", Runtime: cd,
				Add: []string{"NET_BIND_SERVICE@20:19"}, Drop: []string{"ALL@18:22"}, CapsPos: "18:15",
				User: "1000@10:20", RunAsUser: "1000", NonRoot: "true", APE: "false",
				Attrs: map[string]string{"namespace": "shop", "object": "Deployment/web", "container": "app"}},
			{Pos: "21:11", Kind: ctr, Name: "Deployment/web/sidecar", Image: "busybox", Runtime: cd,
				Privileged: "true@26:25", Add: []string{}, Drop: []string{}, CapsPos: "24:13",
				User: "0@24:24", RunAsUser: "0", NonRoot: "false"},
			{Pos: "44:13", Kind: ctr, Name: "CronJob/backup/dump", Image: "postgres:16", Runtime: cd,
				Add: []string{"CAP_SYS_ADMIN@48:23", "all@48:38"}, Drop: []string{}, CapsPos: "48:17"},
		}, nil},
		{"list.yaml", workload.CRIO, []Summary{
			{Pos: "10:7", Kind: ini, Name: "Pod/debug/init", Image: "alpine", Runtime: workload.CRIO, Add: []string{}, Drop: []string{}, CapsPos: "10:7",
				Attrs: map[string]string{"hostPID": "true"}},
			{Pos: "13:7", Kind: ctr, Name: "Pod/debug/main", Image: "alpine", Runtime: workload.CRIO, Add: []string{}, Drop: []string{}, CapsPos: "13:7"},
			{Pos: "16:7", Kind: eph, Name: "Pod/debug/dbg", Image: "busybox", Runtime: workload.CRIO, Add: []string{"SYS_PTRACE@18:46"}, Drop: []string{}, CapsPos: "18:39"},
			{Pos: "24:20", Kind: ctr, Name: "PodTemplate/tmpl/c", Image: "x", Runtime: workload.CRIO, Add: []string{}, Drop: []string{}, CapsPos: "24:20"},
			{Pos: "28:41", Kind: ctr, Name: "StatefulSet/db/pg", Image: "pg", Runtime: workload.CRIO, Add: []string{}, Drop: []string{}, CapsPos: "28:41"},
			{Pos: "32:41", Kind: ctr, Name: "DaemonSet/agent/a", Image: "a", Runtime: workload.CRIO, Add: []string{}, Drop: []string{}, CapsPos: "32:41"},
			{Pos: "36:41", Kind: ctr, Name: "ReplicaSet/rs/r", Image: "r", Runtime: workload.CRIO, Add: []string{}, Drop: []string{}, CapsPos: "36:41"},
			{Pos: "40:41", Kind: ctr, Name: "Job/once/j", Image: "j", Runtime: workload.CRIO, Add: []string{}, Drop: []string{}, CapsPos: "40:41"},
			{Pos: "44:41", Kind: ctr, Name: "ReplicationController/rc/c", Image: "c", Runtime: workload.CRIO, Add: []string{}, Drop: []string{}, CapsPos: "44:41"},
			{Pos: "48:41", Kind: ctr, Name: "Rollout/canary/c", Image: "c", Runtime: workload.CRIO, Add: []string{}, Drop: []string{}, CapsPos: "48:41"},
		}, nil},
		{"custom.yaml", "", []Summary{
			{Pos: "13:7", Kind: ctr, Name: "KuberhealthyCheck/kh-test-check/main", Image: "kuberhealthy/test-external-check:v1.1.0", Runtime: cd,
				Add: []string{"NET_ADMIN@20:17"}, Drop: []string{}, CapsPos: "20:11",
				Attrs: map[string]string{"namespace": "kuberhealthy", "object": "KuberhealthyCheck/kh-test-check", "container": "main"}},
			{Pos: "30:9", Kind: ctr, Name: "Jenkins/example/jenkins-controller", Image: "jenkins/jenkins:2.277.4-lts-alpine", Runtime: cd,
				Add: []string{}, Drop: []string{}, CapsPos: "30:9"},
		}, nil},
		{"broken.yaml", "", []Summary{
			simple("15:5", ctr, "Pod/p/c", "i", "20:21"),
			simple("32:5", ctr, "Pod/fine/c", "i", "32:5"),
		}, []string{
			"broken.yaml:23: invalid YAML: did not find expected ',' or '}'",
			"broken.yaml:8:9: Deployment/bad: containers must be a list",
			"broken.yaml:19:18: Pod/p/c: runAsUser must be an integer, not \"root\"",
			"broken.yaml:18:19: Pod/p/c: privileged must be true or false, not \"true\"",
			"broken.yaml:20:27: Pod/p/c: capabilities.add must be a list",
		}},
		{"shapes.yaml", "", []Summary{
			simple("13:11", ctr, "Deployment/nulls/app", "nginx:1.27", "13:11"),
			simple("16:11", ctr, "Deployment/nulls/side", "busybox:1.36", "19:13"),
		}, []string{
			"warning: shapes.yaml:47:1: Deployment/legacy is partial (a strategic-merge $patch directive): a patch or fragment, audited only as part of the build that uses it",
			"warning: shapes.yaml:57:11: Deployment/web is partial (container \"app\" has no image): a patch or fragment, audited only as part of the build that uses it",
			"warning: shapes.yaml:68:3: Deployment/scaled is partial (no spec.template.spec): a patch or fragment, audited only as part of the build that uses it",
			"warning: shapes.yaml:77:7: DaemonSet/agent is partial (a strategic-merge $setElementOrder/containers directive): a patch or fragment, audited only as part of the build that uses it",
			"warning: shapes.yaml:88:3: Pod/empty is partial (the pod spec has no containers): a patch or fragment, audited only as part of the build that uses it",
			"warning: shapes.yaml:97:7: Pod/drop-sidecar is partial (a strategic-merge $patch directive): a patch or fragment, audited only as part of the build that uses it",
		}},
		{"pod.json", "", []Summary{
			{Pos: "7:7", Kind: ctr, Name: "Pod/j/son/c", Image: "img", Runtime: cd,
				Add: []string{"NET_RAW@8:53"}, Drop: []string{"all@8:74"}, CapsPos: "8:44", User: "1001@8:96", RunAsUser: "1001",
				Attrs: map[string]string{"namespace": "ns"}},
		}, nil},
		{"anchors.yaml", "", []Summary{
			{Pos: "6:5", Kind: ctr, Name: "Pod/anchored/one", Image: "i", Runtime: cd, Add: []string{}, Drop: []string{"ALL@10:29"}, CapsPos: "10:21"},
			{Pos: "11:5", Kind: ctr, Name: "Pod/anchored/two", Image: "i", Runtime: cd, Add: []string{}, Drop: []string{"ALL@10:29"}, CapsPos: "10:21"},
			{Pos: "13:5", Kind: ctr, Name: "Pod/anchored/three", Image: "j", Runtime: cd, Add: []string{}, Drop: []string{"ALL@10:29"}, CapsPos: "10:21"},
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got, errs := Parse(tt.file, data, strings.HasSuffix(tt.file, ".json"), tt.runtime)
			Compare(t, got, tt.want)
			if e := Errors(errs); !reflect.DeepEqual(e, append([]string{}, tt.errs...)) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(e, "\n"), strings.Join(tt.errs, "\n"))
			}
		})
	}
}

func TestNotKubernetes(t *testing.T) {
	for _, doc := range []string{"a: 1\n", "services:\n  web: {image: x}\n", "- 1\n- 2\n", "kind: Pod\n"} {
		ws, errs := Parse("x.yaml", []byte(doc), false, "")
		if len(ws) != 0 || len(errs) != 0 {
			t.Errorf("%q: %v %v", doc, ws, errs)
		}
	}
}
