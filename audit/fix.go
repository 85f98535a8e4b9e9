package audit

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/capdrop/capdrop/merge"
	"github.com/capdrop/capdrop/workload"
)

// dialect is how a source writes capability settings; fixes are written in
// it so they can be pasted where the finding points.
type dialect int

const (
	dialectRun     dialect = iota // docker/podman run flags (scripts, units, docker inspect)
	dialectCompose                // compose service keys
	dialectKube                   // a container's securityContext
	dialectLabel                  // Dockerfile LABEL RUN
	dialectQuadlet                // Quadlet [Container] keys
	dialectOCI                    // OCI config.json
	dialectImage                  // Dockerfile LABEL io.containers.capabilities / USER
)

func dialectOf(w workload.Workload) dialect {
	switch w.Kind {
	case workload.ComposeService:
		return dialectCompose
	case workload.KubeContainer, workload.KubeInitContainer, workload.KubeEphemeral:
		return dialectKube
	case workload.DockerfileLabel:
		return dialectLabel
	case workload.QuadletUnit:
		return dialectQuadlet
	case workload.OCISpec:
		return dialectOCI
	case workload.DockerfileImageCaps:
		return dialectImage
	}
	return dialectRun
}

func quoteList(names []string, quote bool) string {
	out := make([]string, len(names))
	for i, n := range names {
		if quote {
			out[i] = strconv.Quote(n)
		} else {
			out[i] = n
		}
	}
	return "[" + strings.Join(out, ", ") + "]"
}

// dropAll is the configuration that drops every capability and adds back
// adds.
func (d dialect) dropAll(w workload.Workload, adds []string) string {
	switch d {
	// The add list is written out whenever the configuration has one:
	// under containerd and CRI-O a drop of ALL makes every add count, so
	// a name the old drops cancelled must not survive the fix.
	case dialectCompose:
		s := "cap_drop: [ALL]"
		if len(adds) > 0 || len(w.CapAdd) > 0 {
			s += "\ncap_add: " + quoteList(adds, false)
		}
		return s
	case dialectKube:
		s := "securityContext:\n  capabilities:\n    drop: [\"ALL\"]"
		if len(adds) > 0 || len(w.CapAdd) > 0 {
			s += "\n    add: " + quoteList(adds, true)
		}
		return s
	case dialectQuadlet:
		s := "DropCapability=ALL"
		if len(w.CapAdd) > 0 {
			s += "\nAddCapability=" // an empty assignment resets the list
		}
		if len(adds) > 0 {
			s += "\nAddCapability=" + strings.Join(adds, " ")
		}
		return s
	case dialectOCI:
		caps := make([]string, len(adds))
		for i, a := range adds {
			caps[i] = "CAP_" + strings.TrimPrefix(strings.ToUpper(a), "CAP_")
		}
		l := quoteList(caps, true)
		return fmt.Sprintf("\"capabilities\": {\"bounding\": %s, \"effective\": %s, \"permitted\": %s}", l, l, l)
	case dialectLabel:
		ins := []string{"--cap-drop=ALL"}
		for _, a := range adds {
			ins = append(ins, "--cap-add="+a)
		}
		if line, ok := labelRewrite(w, []labelOption{{long: []string{"cap-add", "cap-drop"}}}, ins); ok {
			return line
		}
	case dialectImage:
		return "LABEL io.containers.capabilities=\"" + strings.Join(adds, ",") + "\""
	}
	s := "--cap-drop=ALL"
	for _, a := range adds {
		s += " --cap-add=" + a
	}
	return s
}

// dropCaps is the configuration that adds caps to the drop list (keeping
// what is dropped already).
func (d dialect) dropCaps(w workload.Workload, caps []string) string {
	var all []string
	for _, x := range w.CapDrop {
		name := x.Text
		if c, ok := merge.Lenient(x.Text); ok {
			name = spelling(d, c)
		}
		if !slices.Contains(all, name) && !slices.Contains(caps, name) {
			all = append(all, name)
		}
	}
	all = append(all, caps...)
	switch d {
	case dialectCompose:
		return "cap_drop: " + quoteList(all, false)
	case dialectKube:
		return "securityContext:\n  capabilities:\n    drop: " + quoteList(all, true)
	case dialectQuadlet:
		return "DropCapability=" + strings.Join(caps, " ")
	case dialectOCI:
		return "remove " + strings.Join(caps, ", ") + " from every list of process.capabilities"
	}
	flags := make([]string, len(caps))
	for i, c := range caps {
		flags[i] = "--cap-drop=" + c
	}
	if d == dialectLabel {
		if line, ok := labelRewrite(w, nil, flags); ok {
			return line
		}
	}
	return strings.Join(flags, " ")
}

// removeAdd says how to take one added name out.
func (d dialect) removeAdd(word workload.Word) string {
	at := ""
	if word.Pos.Line > 0 {
		at = " (" + word.Pos.String() + ")"
	}
	switch d {
	case dialectCompose:
		return fmt.Sprintf("remove %s from cap_add%s", word.Text, at)
	case dialectKube:
		return fmt.Sprintf("remove %q from securityContext.capabilities.add%s", word.Text, at)
	case dialectQuadlet:
		return fmt.Sprintf("remove %s from AddCapability=%s", word.Text, at)
	case dialectOCI:
		return fmt.Sprintf("remove %s from every list of process.capabilities%s", word.Text, at)
	case dialectImage:
		return fmt.Sprintf("remove %s from the io.containers.capabilities label%s", word.Text, at)
	}
	return fmt.Sprintf("remove --cap-add=%s%s", word.Text, at)
}

// rename says how to rewrite one name.
func (d dialect) rename(word workload.Word, to string) string {
	at := ""
	if word.Pos.Line > 0 {
		at = " at " + word.Pos.String()
	}
	if d == dialectKube || d == dialectOCI {
		return fmt.Sprintf("write %q instead of %q%s", to, word.Text, at)
	}
	return fmt.Sprintf("write %s instead of %s%s", to, word.Text, at)
}

// noNewPrivs is the setting that turns no_new_privs on.
func (d dialect) noNewPrivs(w workload.Workload) string {
	switch d {
	case dialectCompose:
		return "add \"no-new-privileges:true\" to security_opt"
	case dialectKube:
		return "securityContext:\n  allowPrivilegeEscalation: false"
	case dialectQuadlet:
		return "NoNewPrivileges=true"
	case dialectOCI:
		return "\"noNewPrivileges\": true  (in \"process\")"
	case dialectLabel:
		if line, ok := labelRewrite(w, nil, []string{"--security-opt=no-new-privileges"}); ok {
			return line
		}
	}
	return "--security-opt=no-new-privileges"
}

// removePrivileged says how to stop running privileged.
func (d dialect) removePrivileged(w workload.Workload, adds []string) string {
	if d == dialectLabel {
		// The label's own --cap-add words stay; privileged ignored them.
		var ins []string
		if !dropsAll(w) {
			ins = []string{"--cap-drop=ALL"}
		}
		if line, ok := labelRewrite(w, []labelOption{privilegedOption}, ins); ok {
			return line
		}
	}
	var first string
	switch d {
	case dialectCompose:
		first = "remove privileged: true"
	case dialectKube:
		first = "remove privileged: true from securityContext"
	case dialectQuadlet:
		first = "remove --privileged from PodmanArgs="
	default:
		first = "remove --privileged"
	}
	if w.PrivilegedPos != nil && w.PrivilegedPos.Line > 0 {
		first += " (" + w.PrivilegedPos.String() + ")"
	}
	return first + "; then\n" + d.dropAll(w, adds)
}

// removeAdds says how to take several added names out of w, as one
// change: for a label, one rewritten LABEL line.
func (d dialect) removeAdds(w workload.Workload, words []workload.Word) string {
	if d == dialectLabel {
		names := workload.Texts(words)
		if line, ok := labelRewrite(w, []labelOption{capOption("cap-add", names...)}, nil); ok {
			return line
		}
	}
	parts := make([]string, len(words))
	for i, word := range words {
		parts[i] = d.removeAdd(word)
	}
	return strings.Join(parts, "; ")
}

// removeAddIn says how to take one added name out of w: for a label, the
// rewritten LABEL line.
func (d dialect) removeAddIn(w workload.Workload, word workload.Word) string {
	if d == dialectLabel {
		if line, ok := labelRewrite(w, []labelOption{capOption("cap-add", word.Text)}, nil); ok {
			return line
		}
	}
	return d.removeAdd(word)
}

// replaceAddAll says how to stop adding ALL: take the ALL out and, unless
// the configuration drops ALL already, drop everything but the named adds.
// Dropping ALL alone is not enough, since Docker lets an added ALL win.
func (d dialect) replaceAddAll(w workload.Workload, all workload.Word, adds []string) string {
	if d == dialectLabel {
		var ins []string
		if !dropsAll(w) {
			ins = []string{"--cap-drop=ALL"}
		}
		if line, ok := labelRewrite(w, []labelOption{capOption("cap-add", "ALL")}, ins); ok {
			return line
		}
	}
	fix := d.removeAdd(all)
	if !dropsAll(w) {
		fix += "; then\n" + d.dropAll(w, adds)
	}
	return fix
}
