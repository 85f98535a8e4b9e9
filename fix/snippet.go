package fix

import (
	"strings"

	"github.com/capdrop/capdrop/capset"
)

// Snippets are ready-to-paste configuration, one per dialect, that makes a
// container drop every capability and add exactly a set: the same text the
// rewriters write into a file of that kind, laid out in the default style.
type Snippets struct {
	// DockerRun are `docker run` (and podman, nerdctl) flags.
	DockerRun string `json:"docker_run"`
	// Compose is a compose service's cap_drop and cap_add.
	Compose string `json:"compose"`
	// Kubernetes is a container's securityContext.
	Kubernetes string `json:"kubernetes"`
	// DockerfileLabel is a Dockerfile `LABEL RUN` (atomic run, podman
	// container runlabel) starting the image with the set.
	DockerfileLabel string `json:"dockerfile_label"`
	// Quadlet are a Podman .container unit's [Container] lines.
	Quadlet string `json:"quadlet"`
	// OCI is the process.capabilities member of an OCI config.json, for a
	// process running as root.
	OCI string `json:"oci"`
	// Systemd are the [Service] lines of a unit that runs the program
	// itself, without a container.
	Systemd string `json:"systemd"`
}

// SnippetsFor writes the snippets for a set.
func SnippetsFor(set capset.Set) Snippets {
	return Snippets{
		DockerRun:       Snippet(Script, set),
		Compose:         Snippet(Compose, set),
		Kubernetes:      Snippet(Kubernetes, set),
		DockerfileLabel: Snippet(Dockerfile, set),
		Quadlet:         Snippet(Quadlet, set),
		OCI:             Snippet(OCI, set),
		Systemd:         systemdSnippet(set),
	}
}

// Snippet is the text that makes a container of format f drop every
// capability and add exactly set, spelled the way fix writes it into such
// a file: run flags on one line, YAML and unit lines ending in a line
// break.
func Snippet(f Format, set capset.Set) string {
	st := snippetStyle
	switch f {
	case Compose:
		return st.block(0, composeEntries(set))
	case Kubernetes:
		st.flowLists, st.quote = true, '"'
		return st.block(0, []kv{{"securityContext", kubeEntries(set, true)}})
	case Dockerfile:
		return `LABEL RUN="docker run --rm --name ${NAME} ` + strings.Join(runFlags(set, "="), " ") + ` ${IMAGE}"`
	case Quadlet:
		return strings.Join(quadletLines(set), "\n") + "\n"
	case OCI:
		st.json, st.quote, st.flowLists = true, '"', true
		return st.key("capabilities") + ": " + st.inline(ociEntries(set, 0, 0))
	}
	return strings.Join(runFlags(set, "="), " ")
}

// snippetStyle is the layout of snippets: two-space indentation, block
// lists indented under their key.
var snippetStyle = style{nl: "\n", indent: 2, seqIndent: 2, dashGap: 1}

// composeEntries are the keys fix gives a compose service.
func composeEntries(set capset.Set) []kv {
	out := []kv{{"cap_drop", []string{"ALL"}}}
	if !set.IsEmpty() {
		out = append(out, kv{"cap_add", set.ShortNames()})
	}
	return out
}

// kubeEntries is the securityContext fix gives a Kubernetes container;
// ape adds allowPrivilegeEscalation: false.
func kubeEntries(set capset.Set, ape bool) []kv {
	var out []kv
	if ape {
		out = append(out, kv{"allowPrivilegeEscalation", false})
	}
	return append(out, kv{"capabilities", kubeCaps(set)})
}

// kubeCaps is the capabilities mapping: the literal ALL in drop (the only
// spelling Pod Security's restricted level accepts) and names without CAP_
// in add.
func kubeCaps(set capset.Set) []kv {
	out := []kv{{"drop", []string{"ALL"}}}
	if !set.IsEmpty() {
		out = append(out, kv{"add", set.ShortNames()})
	}
	return out
}

// runFlags are the options fix puts on a run line, with sep ("=" or " ")
// between an option and its value. Each capability gets its own --cap-add:
// Docker reads a comma as part of the name.
func runFlags(set capset.Set, sep string) []string {
	out := []string{"--cap-drop" + sep + "ALL"}
	for _, n := range set.ShortNames() {
		out = append(out, "--cap-add"+sep+n)
	}
	return out
}

// quadletLines are the [Container] lines fix writes into a Quadlet unit.
func quadletLines(set capset.Set) []string {
	out := []string{"DropCapability=ALL"}
	if !set.IsEmpty() {
		out = append(out, "AddCapability="+strings.Join(set.ShortNames(), " "))
	}
	return out
}

// systemdSnippet bounds a unit's own process to the set and keeps it
// effective for a non-root user.
func systemdSnippet(set capset.Set) string {
	names := strings.Join(set.Names(), " ")
	return "CapabilityBoundingSet=" + names + "\nAmbientCapabilities=" + names + "\n"
}

// ociEntries is the process.capabilities object fix writes into an OCI
// config.json: bounding, effective and permitted hold exactly the set, as
// `oci-runtime-tool generate --cap-drop ALL --cap-add …` writes them;
// inheritable and ambient keep only what they held of the set (inherit,
// ambient), so that a process gains nothing it did not have: an ambient
// capability makes a non-root process hold it, an inheritable one passes to
// programs with file capabilities.
func ociEntries(set, inherit, ambient capset.Set) []kv {
	return []kv{
		{"bounding", set.Names()},
		{"effective", set.Names()},
		{"permitted", set.Names()},
		{"inheritable", inherit.Names()},
		{"ambient", ambient.Names()},
	}
}
