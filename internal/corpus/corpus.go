// Package corpus writes a large, varied, deterministic corpus of
// Kubernetes manifests and compose files, for benchmarking capdrop audit
// (and the reference tools) on the same input.
package corpus

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
)

// Stats says what Write produced.
type Stats struct {
	Files int
	// Containers is how many workloads the files define (containers and
	// compose services): what an audit of the corpus must find.
	Containers int
}

var (
	kinds   = []string{"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod", "ReplicationController", "PodTemplate"}
	images  = []string{"nginx:1.25", "redis:7", "postgres:16", "busybox:1.36", "registry.example/app:1.2.3", "alpine:3.20"}
	capsAll = []string{"NET_ADMIN", "NET_RAW", "SYS_ADMIN", "SYS_PTRACE", "CHOWN", "SETUID", "NET_BIND_SERVICE", "CAP_SYS_TIME", "all", "ALL", "sys_module", "DAC_OVERRIDE"}
)

// Write fills dir with n files (about 80% Kubernetes, 20% compose), the
// same for the same seed.
func Write(dir string, n int, seed int64) (Stats, error) {
	r := rand.New(rand.NewSource(seed))
	var st Stats
	for i := 0; i < n; i++ {
		sub := filepath.Join(dir, fmt.Sprintf("team%02d", i%50))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return st, err
		}
		var body string
		var name string
		var c int
		if r.Intn(5) == 0 {
			name = fmt.Sprintf("svc%05d/compose.yaml", i)
			body, c = composeFile(r, i)
		} else {
			name = fmt.Sprintf("app%05d.yaml", i)
			body, c = kubeFile(r, i)
		}
		p := filepath.Join(sub, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return st, err
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return st, err
		}
		st.Files++
		st.Containers += c
	}
	return st, nil
}

func pick(r *rand.Rand, list []string, max int) []string {
	k := r.Intn(max + 1)
	out := make([]string, 0, k)
	for j := 0; j < k; j++ {
		out = append(out, list[r.Intn(len(list))])
	}
	return out
}

func kubeFile(r *rand.Rand, i int) (string, int) {
	var b strings.Builder
	total := 0
	docs := 1 + r.Intn(3)
	for d := 0; d < docs; d++ {
		if d > 0 {
			b.WriteString("---\n")
		}
		if r.Intn(4) == 0 { // a non-workload object beside it
			fmt.Fprintf(&b, "apiVersion: v1\nkind: Service\nmetadata:\n  name: s%d\nspec:\n  ports:\n  - port: 80\n---\n", i)
		}
		kind := kinds[r.Intn(len(kinds))]
		fmt.Fprintf(&b, "apiVersion: apps/v1\nkind: %s\nmetadata:\n  name: w%d-%d\n  namespace: ns%d\n", kind, i, d, r.Intn(20))
		indent := ""
		switch kind {
		case "Pod":
			b.WriteString("spec:\n")
			indent = "  "
		case "PodTemplate":
			b.WriteString("template:\n  spec:\n")
			indent = "    "
		case "CronJob":
			b.WriteString("spec:\n  schedule: \"@hourly\"\n  jobTemplate:\n    spec:\n      template:\n        spec:\n")
			indent = "          "
		default:
			b.WriteString("spec:\n  replicas: 2\n  template:\n    metadata:\n      labels: {app: x}\n    spec:\n")
			indent = "      "
		}
		if r.Intn(3) == 0 {
			fmt.Fprintf(&b, "%ssecurityContext:\n%s  runAsUser: %d\n%s  runAsNonRoot: %v\n", indent, indent, 1000+r.Intn(1000), indent, r.Intn(2) == 0)
		}
		for _, group := range []string{"initContainers", "containers"} {
			n := 1 + r.Intn(3)
			if group == "initContainers" {
				n = r.Intn(2)
			}
			if n == 0 {
				continue
			}
			fmt.Fprintf(&b, "%s%s:\n", indent, group)
			for c := 0; c < n; c++ {
				total++
				fmt.Fprintf(&b, "%s- name: c%d\n%s  image: %s\n", indent, c, indent, images[r.Intn(len(images))])
				if r.Intn(4) == 0 {
					continue
				}
				fmt.Fprintf(&b, "%s  securityContext:\n", indent)
				if r.Intn(6) == 0 {
					fmt.Fprintf(&b, "%s    privileged: true\n", indent)
				}
				if r.Intn(2) == 0 {
					fmt.Fprintf(&b, "%s    allowPrivilegeEscalation: %v\n", indent, r.Intn(2) == 0)
				}
				add, drop := pick(r, capsAll, 3), pick(r, []string{"ALL", "all", "NET_RAW", "MKNOD"}, 2)
				if len(add)+len(drop) > 0 {
					fmt.Fprintf(&b, "%s    capabilities:\n", indent)
					if len(add) > 0 {
						fmt.Fprintf(&b, "%s      add: [%s]\n", indent, strings.Join(add, ", "))
					}
					if len(drop) > 0 {
						fmt.Fprintf(&b, "%s      drop: [%s]\n", indent, strings.Join(drop, ", "))
					}
				} else {
					fmt.Fprintf(&b, "%s    readOnlyRootFilesystem: true\n", indent)
				}
			}
		}
	}
	return b.String(), total
}

func composeFile(r *rand.Rand, i int) (string, int) {
	var b strings.Builder
	b.WriteString("x-common: &common\n  restart: unless-stopped\n  security_opt:\n    - no-new-privileges:true\nservices:\n")
	n := 1 + r.Intn(4)
	for s := 0; s < n; s++ {
		fmt.Fprintf(&b, "  svc%d:\n    image: ${REGISTRY:-docker.io}/%s\n", s, images[r.Intn(len(images))])
		if r.Intn(2) == 0 {
			b.WriteString("    <<: *common\n")
		}
		if r.Intn(8) == 0 {
			b.WriteString("    privileged: true\n")
		}
		if r.Intn(3) == 0 {
			fmt.Fprintf(&b, "    user: \"%d\"\n", 1000+r.Intn(100))
		}
		if add := pick(r, capsAll, 3); len(add) > 0 {
			fmt.Fprintf(&b, "    cap_add:\n")
			for _, c := range add {
				fmt.Fprintf(&b, "      - %s\n", c)
			}
		}
		if r.Intn(2) == 0 {
			b.WriteString("    cap_drop: [ALL]\n")
		}
	}
	return b.String(), n
}
