package profile

import (
	"fmt"
	"strings"

	"github.com/capdrop/capdrop/capset"
)

// Snippets are ready-to-paste configuration that drops every capability but
// the needed ones.
type Snippets struct {
	// DockerRun are `docker run` flags.
	DockerRun string `json:"docker_run"`
	// Compose is a compose service's cap_drop/cap_add.
	Compose string `json:"compose"`
	// Kubernetes is a container's securityContext.
	Kubernetes string `json:"kubernetes"`
	// DockerfileLabel is a Dockerfile `LABEL RUN` (atomic run / podman
	// container runlabel) starting the image with the set.
	DockerfileLabel string `json:"dockerfile_label"`
	// Systemd are a unit's [Service] lines.
	Systemd string `json:"systemd"`
}

// MakeSnippets writes the snippets for a set.
func MakeSnippets(set capset.Set) Snippets {
	short := set.ShortNames()
	var flags []string
	flags = append(flags, "--cap-drop=ALL")
	for _, n := range short {
		flags = append(flags, "--cap-add="+n)
	}
	run := strings.Join(flags, " ")

	var compose strings.Builder
	compose.WriteString("cap_drop:\n  - ALL\n")
	if len(short) > 0 {
		compose.WriteString("cap_add:\n")
		for _, n := range short {
			fmt.Fprintf(&compose, "  - %s\n", n)
		}
	}

	var k8s strings.Builder
	k8s.WriteString("securityContext:\n  capabilities:\n    drop: [\"ALL\"]\n")
	if len(short) > 0 {
		quoted := make([]string, len(short))
		for i, n := range short {
			quoted[i] = `"` + n + `"`
		}
		fmt.Fprintf(&k8s, "    add: [%s]\n", strings.Join(quoted, ", "))
	}

	names := strings.Join(set.Names(), " ")
	systemd := fmt.Sprintf("CapabilityBoundingSet=%s\nAmbientCapabilities=%s\n", names, names)

	return Snippets{
		DockerRun:       run,
		Compose:         compose.String(),
		Kubernetes:      k8s.String(),
		DockerfileLabel: fmt.Sprintf(`LABEL RUN="docker run --rm --name ${NAME} %s ${IMAGE}"`, run),
		Systemd:         systemd,
	}
}
