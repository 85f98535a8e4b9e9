package audit

import (
	"fmt"
	"slices"
	"strings"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/knowledge"
	"github.com/capdrop/capdrop/workload"
)

// keepsDefaults are the rules that say a container keeps its runtime's
// defaults (or adds ALL) instead of an explicit list: CD002, and CD012 for
// a run label. A container gets at most one of them.
var keepsDefaults = []string{"CD002", "CD012"}

// fold makes one finding of what is one problem of a container. A
// container that keeps its runtime's defaults gets one finding (CD002, or
// CD012 for a run label) naming the risky defaults (what CD004 says) and
// the missing no_new_privs (what CD011 says), with one fix for all three
// and the worst of their severities; under the restricted policy a
// Kubernetes container's CD022 keeps only what CD002 does not say (adds
// beyond NET_BIND_SERVICE), and CD023 folds into CD002 or replaces CD011,
// which says the same. out holds one workload's findings.
func fold(w workload.Workload, out []Finding) []Finding {
	ik := slices.IndexFunc(out, func(f Finding) bool { return slices.Contains(keepsDefaults, f.Rule) })
	if ik >= 0 {
		keep := &out[ik]
		var extra []string
		if i := slices.IndexFunc(out, func(f Finding) bool { return f.Rule == "CD004" }); i >= 0 {
			keep.Severity = max(keep.Severity, out[i].Severity)
			extra = append(extra, fmt.Sprintf("%d of them risky: %s", out[i].Caps.Len(), byRisk(out[i].Caps)))
		}
		if i := slices.IndexFunc(out, func(f Finding) bool { return f.Rule == "CD011" || f.Rule == "CD023" }); i >= 0 {
			keep.Severity = max(keep.Severity, out[i].Severity)
			if isKube(w) {
				extra = append(extra, "and allowPrivilegeEscalation is not false, so setuid binaries can raise privileges")
			} else {
				extra = append(extra, "and no_new_privs is not set, so setuid binaries can raise privileges")
			}
			keep.Fix = keep.hardened
		}
		if len(extra) > 0 {
			keep.Message += "; " + strings.Join(extra, "; ")
		}
		out = slices.DeleteFunc(out, func(f Finding) bool {
			return f.Rule == "CD004" || f.Rule == "CD011" || f.Rule == "CD023" || (f.Rule == "CD022" && f.addsOnly == "")
		})
		for i := range out {
			if out[i].Rule == "CD022" {
				out[i].Message = out[i].addsOnly // the missing drop ALL is CD002's
			}
		}
	}
	// Under the restricted policy CD023 says what CD011 says, in the
	// words of Pod Security: it stays, CD011 goes.
	if slices.ContainsFunc(out, func(f Finding) bool { return f.Rule == "CD023" }) {
		out = slices.DeleteFunc(out, func(f Finding) bool { return f.Rule == "CD011" })
	}
	return out
}

// harden is the configuration that drops every capability, adds back adds
// and sets no_new_privs: the fix of a container that keeps its runtime's
// defaults.
func (d dialect) harden(w workload.Workload, adds []string) string {
	switch d {
	case dialectKube:
		s := "securityContext:\n  allowPrivilegeEscalation: false\n  capabilities:\n    drop: [\"ALL\"]"
		if len(adds) > 0 || len(w.CapAdd) > 0 {
			s += "\n    add: " + quoteList(adds, true)
		}
		return s
	case dialectLabel:
		ins := []string{"--cap-drop=ALL"}
		for _, a := range adds {
			ins = append(ins, "--cap-add="+a)
		}
		ins = append(ins, "--security-opt=no-new-privileges")
		if line, ok := labelRewrite(w, []labelOption{{long: []string{"cap-add", "cap-drop"}}}, ins); ok {
			return line
		}
	case dialectImage:
		return d.dropAll(w, adds)
	}
	return d.dropAll(w, adds) + "; then\n" + d.noNewPrivs(w)
}

// hardenAll is harden for a container that adds ALL: the ALL taken out
// (dropping ALL does not undo it under Docker), everything but adds
// dropped, and no_new_privs set.
func (d dialect) hardenAll(w workload.Workload, all workload.Word, adds []string) string {
	if d == dialectLabel {
		var ins []string
		if !dropsAll(w) {
			ins = []string{"--cap-drop=ALL"}
		}
		ins = append(ins, "--security-opt=no-new-privileges")
		if line, ok := labelRewrite(w, []labelOption{capOption("cap-add", "ALL")}, ins); ok {
			return line
		}
	}
	if dropsAll(w) {
		return d.removeAddIn(w, all) + "; then\n" + d.noNewPrivs(w)
	}
	return d.removeAdd(all) + "; then\n" + d.harden(w, adds)
}

// uncertain marks the findings of a workload whose configuration capdrop
// cannot fully see, and says why in each message: they are about the
// configuration as read, not a confident set.
func uncertain(w workload.Workload, out []Finding) {
	if len(w.Uncertain) == 0 {
		return
	}
	var why []string
	for _, u := range w.Uncertain {
		why = append(why, u.Reason)
	}
	for i := range out {
		out[i].Uncertain = true
		out[i].Message += " (uncertain: " + strings.Join(why, "; ") + ")"
	}
}

// byRisk lists capabilities grouped by their knowledge-base risk, the
// worst first: "SETUID SETGID (high), NET_RAW (medium)".
func byRisk(caps capset.Set) string {
	var parts []string
	for r := knowledge.Critical; r >= knowledge.Low; r-- {
		var names []string
		for _, c := range caps.Caps() {
			if riskOf(c) == r {
				names = append(names, c.Short())
			}
		}
		if len(names) > 0 {
			parts = append(parts, fmt.Sprintf("%s (%s)", strings.Join(names, " "), r))
		}
	}
	return strings.Join(parts, ", ")
}

// rendered names the chart or overlay a finding's container came from
// when the finding's place does not: a base file is shared by every
// overlay that builds it.
func rendered(w workload.Workload, out []Finding) {
	for i := range out {
		switch {
		case w.Attrs["overlay"] != "":
			out[i].Message += " (built by the overlay " + w.Attrs["overlay"] + ")"
		case w.Attrs["chart"] != "" && !strings.HasPrefix(out[i].Pos.File, w.Attrs["chart"]):
			out[i].Message += " (rendered from the chart " + w.Attrs["chart"] + ")"
		}
	}
}
