// Package auditcorpus writes a large, varied, reproducible corpus of
// Kubernetes manifests for benchmarking `capdrop audit` against other
// configuration scanners: every workload kind, init containers,
// multi-document files, and securityContext settings from none at all to
// hardened, with the odd spellings real manifests contain (CAP_ prefixes,
// lower-case names and "all").
package auditcorpus

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

var (
	kinds = []string{"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}
	caps  = []string{"NET_ADMIN", "NET_RAW", "SYS_ADMIN", "SYS_PTRACE", "CHOWN", "SETUID", "SETGID",
		"NET_BIND_SERVICE", "DAC_OVERRIDE", "SYS_TIME", "IPC_LOCK", "KILL", "MKNOD", "BPF", "PERFMON"}
)

// Generate writes n manifest files under dir (in subdirectories of 500)
// from seed and returns their paths.
func Generate(dir string, n int, seed uint64) ([]string, error) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	paths := make([]string, 0, n)
	for i := 0; i < n; i++ {
		sub := filepath.Join(dir, fmt.Sprintf("team%03d", i/500))
		if i%500 == 0 {
			if err := os.MkdirAll(sub, 0o755); err != nil {
				return nil, err
			}
		}
		var b strings.Builder
		docs := 1
		if r.IntN(4) == 0 {
			docs = 2 + r.IntN(2)
		}
		for d := 0; d < docs; d++ {
			if d > 0 {
				b.WriteString("---\n")
			}
			manifest(&b, r, fmt.Sprintf("app%d-%d", i, d))
		}
		p := filepath.Join(sub, fmt.Sprintf("app%05d.yaml", i))
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

func manifest(b *strings.Builder, r *rand.Rand, name string) {
	kind := kinds[r.IntN(len(kinds))]
	api := "apps/v1"
	switch kind {
	case "Job", "CronJob":
		api = "batch/v1"
	case "Pod":
		api = "v1"
	}
	fmt.Fprintf(b, "apiVersion: %s\nkind: %s\nmetadata:\n  name: %s\n  namespace: ns%d\n  labels:\n    app: %s\n", api, kind, name, r.IntN(20), name)
	indent := "  "
	switch kind {
	case "Pod":
		b.WriteString("spec:\n")
	case "CronJob":
		b.WriteString("spec:\n  schedule: \"*/5 * * * *\"\n  jobTemplate:\n    spec:\n      template:\n        spec:\n")
		indent = "          "
	default:
		b.WriteString("spec:\n")
		if kind != "Job" {
			fmt.Fprintf(b, "  selector:\n    matchLabels:\n      app: %s\n", name)
		}
		if kind == "Deployment" || kind == "StatefulSet" || kind == "ReplicaSet" {
			fmt.Fprintf(b, "  replicas: %d\n", 1+r.IntN(5))
		}
		fmt.Fprintf(b, "  template:\n    metadata:\n      labels:\n        app: %s\n    spec:\n", name)
		indent = "      "
	}
	if kind == "Job" || kind == "CronJob" {
		fmt.Fprintf(b, "%srestartPolicy: OnFailure\n", indent)
	}
	if r.IntN(3) == 0 {
		fmt.Fprintf(b, "%ssecurityContext:\n%s  runAsNonRoot: true\n%s  runAsUser: %d\n", indent, indent, indent, 1000+r.IntN(9000))
	}
	if r.IntN(4) == 0 {
		fmt.Fprintf(b, "%sinitContainers:\n", indent)
		container(b, r, indent, "init")
	}
	fmt.Fprintf(b, "%scontainers:\n", indent)
	for c := 0; c < 1+r.IntN(3); c++ {
		container(b, r, indent, fmt.Sprintf("c%d", c))
	}
}

func container(b *strings.Builder, r *rand.Rand, indent, name string) {
	fmt.Fprintf(b, "%s- name: %s\n%s  image: registry.example.com/%s:%d.%d\n", indent, name, indent, name, r.IntN(5), r.IntN(20))
	fmt.Fprintf(b, "%s  ports:\n%s  - containerPort: %d\n", indent, indent, 1024+r.IntN(60000))
	fmt.Fprintf(b, "%s  resources:\n%s    limits:\n%s      memory: %dMi\n%s      cpu: %dm\n", indent, indent, indent, 64<<r.IntN(5), indent, 100*(1+r.IntN(10)))
	switch r.IntN(6) {
	case 0:
		return // no securityContext at all: the runtime's defaults
	case 1:
		fmt.Fprintf(b, "%s  securityContext:\n%s    privileged: true\n", indent, indent)
		return
	}
	in := indent + "    "
	fmt.Fprintf(b, "%s  securityContext:\n", indent)
	if r.IntN(2) == 0 {
		fmt.Fprintf(b, "%sallowPrivilegeEscalation: %v\n", in, r.IntN(3) != 0)
	}
	if r.IntN(3) == 0 {
		fmt.Fprintf(b, "%srunAsUser: %d\n", in, r.IntN(2)*(1000+r.IntN(1000)))
	}
	if r.IntN(4) == 0 {
		fmt.Fprintf(b, "%sreadOnlyRootFilesystem: true\n", in)
	}
	fmt.Fprintf(b, "%scapabilities:\n", in)
	if r.IntN(3) != 0 {
		drop := []string{"ALL", "ALL", "ALL", "all", "NET_RAW", "CAP_NET_RAW"}[r.IntN(6)]
		fmt.Fprintf(b, "%s  drop: [\"%s\"]\n", in, drop)
	}
	if n := r.IntN(4); n > 0 {
		fmt.Fprintf(b, "%s  add:\n", in)
		for k := 0; k < n; k++ {
			c := caps[r.IntN(len(caps))]
			switch r.IntN(5) {
			case 0:
				c = "CAP_" + c
			case 1:
				c = strings.ToLower(c)
			}
			fmt.Fprintf(b, "%s  - %s\n", in, c)
		}
	} else {
		fmt.Fprintf(b, "%s  add: []\n", in)
	}
}
