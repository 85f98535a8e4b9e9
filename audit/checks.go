package audit

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/knowledge"
	"github.com/capdrop/capdrop/merge"
	"github.com/capdrop/capdrop/workload"
)

// checks holds the code of every rule in rules.yaml, by ID.
var checks = map[string]checkFunc{
	"CD001": checkPrivileged,
	"CD002": checkNoDropAll,
	"CD003": checkRootEquivalent,
	"CD004": checkRiskyDefaults,
	"CD005": checkIgnoredDrop,
	"CD006": checkIgnoredAdd,
	"CD007": checkRefused,
	"CD008": checkPSASpelling,
	"CD009": checkRuntimeDependent,
	"CD010": checkNonRootAdd,
	"CD011": checkNoNewPrivs,
	"CD012": checkLabelRun,
	"CD013": checkSuppressions,
	"CD020": checkPSABaselineCaps,
	"CD021": checkPSABaselinePrivileged,
	"CD022": checkPSARestrictedCaps,
	"CD023": checkPSARestrictedEscalation,
	"CD024": checkPSARestrictedNonRoot,
	"CD025": checkPSARestrictedUser0,
	// Host access (host.go).
	"CD030": checkHostMounts,
	"CD031": checkHostMounts,
	"CD032": checkHostMounts,
	"CD033": checkHostMounts,
	"CD034": checkHostMounts,
	"CD035": checkHostNamespaces,
	"CD036": checkHostNamespaces,
	"CD037": checkHostNamespaces,
	"CD038": checkHostNamespaces,
	"CD039": checkHostNamespaces,
	"CD040": checkHostNamespaces,
	"CD041": checkHostDevices,
	"CD042": checkSecurityOpts,
	"CD043": checkSecurityOpts,
	"CD044": checkSecurityOpts,
	"CD045": checkSecurityOpts,
}

func isKube(w workload.Workload) bool {
	switch w.Kind {
	case workload.KubeContainer, workload.KubeInitContainer, workload.KubeEphemeral:
		return true
	}
	return false
}

// windows reports a Kubernetes pod with spec.os.name: windows, which the
// restricted checks exempt.
func windows(w workload.Workload) bool { return strings.EqualFold(w.Attrs["os"], "windows") }

// reachable is what the main process holds or can gain: its effective,
// permitted and ambient sets, plus the bounding set when nothing stops it
// from gaining capabilities at execve (no no_new_privs: a setuid-root or
// file-capability binary brings them back).
func reachable(r merge.Result) capset.Set {
	s := r.Sets.Effective | r.Sets.Permitted | r.Sets.Ambient
	if !r.NoNewPrivs {
		s |= r.Sets.Bounding
	}
	return s
}

func hasSource(rs []merge.Reason, srcs ...merge.Source) bool {
	return slices.ContainsFunc(rs, func(r merge.Reason) bool { return slices.Contains(srcs, r.Source) })
}

// explicitAdds returns the capabilities the configuration adds by name and
// the runtime really grants (as it would without privileged), in the short
// form every dialect accepts, for fixes that keep them. A name the runtime
// ignores is left out: a fix must never grant what the container does not
// already get.
func (c *ctx) explicitAdds() []string {
	res := c.res
	if c.w.Privileged {
		alt := c.w
		alt.Privileged = false
		res = merge.Compute(alt, c.opts.Merge)
	}
	var out []string
	for _, cw := range res.Why {
		if hasSource(cw.Reasons, merge.FromAdd) {
			out = append(out, cw.Cap.Short())
		}
	}
	return out
}

func riskOf(c capset.Cap) knowledge.Risk {
	if e, ok := knowledge.Lookup(c); ok {
		return e.Risk
	}
	return knowledge.High // a capability capdrop does not know is not known to be harmless
}

func describe(caps capset.Set) string {
	var parts []string
	for _, c := range caps.Caps() {
		parts = append(parts, fmt.Sprintf("%s (%s)", c.Short(), riskOf(c)))
	}
	return strings.Join(parts, ", ")
}

func holdsOrGains(r merge.Result, c capset.Cap) string {
	if r.Sets.Effective.Has(c) || r.Sets.Ambient.Has(c) {
		return "the main process holds it"
	}
	return "the main process runs as a non-root user without no_new_privs, so a setuid-root or file-capability binary can gain it"
}

func checkPrivileged(c *ctx) {
	if !c.w.Privileged || c.w.Kind == workload.OCISpec {
		return
	}
	msg := fmt.Sprintf("%s runs privileged: every capability, every host device, no seccomp", c.w.Name)
	if c.res.Refusal == nil {
		msg += fmt.Sprintf(" (%d capabilities in its bounding set)", c.res.Sets.Bounding.Len())
	}
	c.report(c.at(c.w.PrivilegedPos, c.w.CapsPos), SeverityUnset, c.res.Sets.Bounding,
		dialectOf(c.w).removePrivileged(c.w, c.explicitAdds()), "%s", msg)
}

// dropsAll reports whether the runtime honours an ALL in cap_drop.
func dropsAll(w workload.Workload) bool {
	for _, d := range w.CapDrop {
		if strings.EqualFold(d.Text, "ALL") {
			return true
		}
	}
	return false
}

// kept is what a container holds because it does not drop ALL: the
// runtime's defaults, or every capability an added ALL gives, and the
// word that adds ALL.
func (c *ctx) kept() (fromDefault, fromAll capset.Set, allWord *workload.Word) {
	for _, why := range c.res.Why {
		if hasSource(why.Reasons, merge.FromDefault) {
			fromDefault = fromDefault.With(why.Cap)
		}
		for _, r := range why.Reasons {
			if r.Source == merge.FromAll {
				fromAll = fromAll.With(why.Cap)
				allWord = r.Word
			}
		}
	}
	return fromDefault, fromAll, allWord
}

// keepsDefaults reports the one finding of a container that keeps its
// runtime's defaults (or adds ALL) instead of an explicit list: CD002, or
// CD012 for a run label, whose message ends with also. Its fix drops ALL;
// the fix that also sets no_new_privs waits in the finding for fold,
// which uses it when CD011 is folded in.
func (c *ctx) keepsDefaults(also string) {
	fromDefault, fromAll, allWord := c.kept()
	if fromDefault|fromAll == 0 {
		return
	}
	d, adds := dialectOf(c.w), c.explicitAdds()
	fix, hardened := d.dropAll(c.w, adds), d.harden(c.w, adds)
	if fromAll != 0 {
		if allWord != nil {
			fix, hardened = d.replaceAddAll(c.w, *allWord, adds), d.hardenAll(c.w, *allWord, adds)
		}
		c.report(c.at(c.w.CapsPos), SeverityUnset, fromAll, fix,
			"%s adds ALL capabilities (%d) instead of an explicit list%s", c.w.Name, fromAll.Len(), also)
	} else {
		c.report(c.at(c.w.CapsPos), SeverityUnset, fromDefault, fix,
			"%s does not drop ALL, so it keeps %d default capabilities of %s: %s%s",
			c.w.Name, fromDefault.Len(), c.res.Runtime, strings.Join(fromDefault.ShortNames(), " "), also)
	}
	c.out[len(c.out)-1].hardened = hardened
}

func checkNoDropAll(c *ctx) {
	switch {
	case c.w.Privileged, c.w.Kind == workload.DockerfileLabel, c.w.Kind == workload.OCISpec,
		c.w.Kind == workload.DockerfileImageCaps, c.res.Refusal != nil:
		return
	}
	c.keepsDefaults("")
}

func checkRootEquivalent(c *ctx) {
	if c.w.Privileged || c.res.Refusal != nil {
		return
	}
	reach := reachable(c.res)
	defaults := c.res.Default
	d := dialectOf(c.w)
	var viaAll capset.Set
	var allWord *workload.Word
	for _, cw := range c.res.Why {
		rootEq := knowledge.RootEquivalent().Has(cw.Cap)
		if !reach.Has(cw.Cap) || (!rootEq && riskOf(cw.Cap) < knowledge.Medium) {
			continue
		}
		for _, r := range cw.Reasons {
			switch r.Source {
			case merge.FromAll:
				if rootEq {
					viaAll = viaAll.With(cw.Cap)
					allWord = r.Word
				}
			case merge.FromAdd, merge.FromExplicit, merge.FromImageLabel:
				e, _ := knowledge.Lookup(cw.Cap)
				fix := d.removeAddIn(c.w, *r.Word)
				what := "a risky capability"
				if rootEq {
					what = "root-equivalent"
				}
				// Severity is the risk of what the container gains over
				// its runtime's default: adding back a default after
				// dropping ALL gains nothing, and never scores above
				// keeping the defaults.
				sev, gain := FromRisk(riskOf(cw.Cap)), ""
				if defaults.Has(cw.Cap) {
					sev, gain = Low, fmt.Sprintf("; it is in %s's default set, so the container gains nothing over the default by it", c.res.Runtime)
				}
				c.report(c.at(&r.Word.Pos, c.w.CapsPos), sev, capset.Of(cw.Cap), fix,
					"%s grants %s, %s (%s risk: %s), and %s%s",
					c.w.Name, cw.Cap.Short(), what, riskOf(cw.Cap), strings.TrimSuffix(e.Summary, "."), holdsOrGains(c.res, cw.Cap), gain)
			default:
				continue
			}
			break
		}
	}
	if viaAll != 0 {
		worst := knowledge.Low
		for _, x := range viaAll.Caps() {
			worst = max(worst, riskOf(x))
		}
		var pos *workload.Position
		if allWord != nil {
			pos = &allWord.Pos
		}
		fix := d.dropAll(c.w, nil)
		if allWord != nil {
			fix = d.replaceAddAll(c.w, *allWord, c.explicitAdds())
		}
		c.report(c.at(pos, c.w.CapsPos), FromRisk(worst), viaAll, fix,
			"%s adds ALL, which grants %d root-equivalent capabilities: %s",
			c.w.Name, viaAll.Len(), strings.Join(viaAll.ShortNames(), " "))
	}
}

func checkRiskyDefaults(c *ctx) {
	if c.w.Privileged || c.res.Refusal != nil {
		return
	}
	reach := reachable(c.res)
	var risky capset.Set
	for _, cw := range c.res.Why {
		if !reach.Has(cw.Cap) || hasSource(cw.Reasons, merge.FromAdd, merge.FromAll, merge.FromExplicit, merge.FromImageLabel) {
			continue
		}
		if riskOf(cw.Cap) >= knowledge.Medium {
			risky = risky.With(cw.Cap)
		}
	}
	if risky == 0 {
		return
	}
	how := "holds"
	if c.res.Sets.Effective&risky == 0 {
		how = "can regain through setuid-root or file-capability binaries (no no_new_privs)"
	}
	fix := dialectOf(c.w).dropCaps(c.w, risky.ShortNames())
	if dialectOf(c.w) == dialectImage {
		// The label is the image's default set: list what stays.
		fix = "LABEL io.containers.capabilities=\"" + strings.Join((c.res.Sets.Bounding&^risky).ShortNames(), ",") + "\""
	}
	c.report(c.at(c.w.CapsPos), SeverityUnset, risky, fix,
		"%s %s risky capabilities only because they are in %s's default set: %s",
		c.w.Name, how, c.res.Runtime, describe(risky))
}

func checkIgnoredDrop(c *ctx) {
	for _, n := range c.res.Names {
		if n.Effect != merge.Ignored || n.List != "cap_drop" {
			continue
		}
		c.report(c.at(&n.Word.Pos, c.w.CapsPos), SeverityUnset, 0, fixName(c.w, n.Word),
			"%s: %s", c.w.Name, n.Message)
	}
}

func checkIgnoredAdd(c *ctx) {
	for _, n := range c.res.Names {
		if n.Effect == merge.Rejected || n.List == "cap_drop" {
			continue
		}
		// The container runs without this capability today, so the fix
		// that changes nothing is to remove the word; granting it is the
		// author's call.
		fix := dialectOf(c.w).removeAdd(n.Word) + " (the container never had it)"
		if rename := fixName(c.w, n.Word); !strings.HasPrefix(rename, "remove") && !strings.HasPrefix(rename, "write "+n.Word.Text+" instead of "+n.Word.Text) &&
			!strings.HasPrefix(rename, fmt.Sprintf("write %q instead of %q", n.Word.Text, n.Word.Text)) {
			fix += "; only if the workload needs it: " + rename
		}
		c.report(c.at(&n.Word.Pos, c.w.CapsPos), SeverityUnset, 0, fix, "%s: %s", c.w.Name, n.Message)
	}
}

// fixName suggests the spelling the runtime applies for a word it did not.
func fixName(w workload.Workload, word workload.Word) string {
	d := dialectOf(w)
	c, err := capset.Parse(word.Text)
	if err != nil {
		var ue *capset.UnknownError
		if errors.As(err, &ue) && ue.Suggestion != "" {
			s, _ := capset.Parse(ue.Suggestion)
			return d.rename(word, spelling(d, s))
		}
		if strings.EqualFold(strings.TrimPrefix(strings.ToUpper(word.Text), "CAP_"), "ALL") {
			return d.rename(word, "ALL")
		}
		return d.removeAdd(word) + " (it is not a capability)"
	}
	return d.rename(word, spelling(d, c))
}

// spelling is how a dialect writes a capability so every runtime reading
// it applies it.
func spelling(d dialect, c capset.Cap) string {
	if d == dialectOCI {
		return c.Name()
	}
	return c.Short()
}

func checkRefused(c *ctx) {
	r := c.res.Refusal
	if r == nil {
		return
	}
	var pos *workload.Position
	fix := "make the configuration one the runtime accepts"
	if r.Word != nil {
		pos = &r.Word.Pos
		switch {
		case strings.Contains(r.Message, "cannot be dropped and added"), strings.Contains(r.Message, "adding all caps and removing all caps"):
			what, _ := conflict(c.w)
			fix = conflictFix(c.w, what)
		case strings.Contains(r.Message, "not available") || strings.Contains(r.Hint, "does not know"):
			fix = dialectOf(c.w).removeAdd(*r.Word) + ", or use a runtime release and host that have it"
		default:
			fix = fixName(c.w, *r.Word)
		}
	} else if strings.Contains(r.Message, "unable to apply caps") {
		fix = "the runtime itself lacks a capability this container asks for (" + r.Hint + "); remove it from the configuration or run on a host whose engine holds it"
	}
	msg := fmt.Sprintf("%s: %s refuses it at %s: %s", c.w.Name, c.res.Runtime, r.Stage, r.Message)
	if r.Hint != "" {
		msg += " (" + r.Hint + ")"
	}
	c.report(c.at(pos, c.w.CapsPos), SeverityUnset, 0, fix, "%s", msg)
}

func checkPSASpelling(c *ctx) {
	if !isKube(c.w) {
		return
	}
	var odd *workload.Word
	for i, d := range c.w.CapDrop {
		if d.Text == "ALL" {
			return
		}
		if strings.EqualFold(d.Text, "ALL") && odd == nil {
			odd = &c.w.CapDrop[i]
		}
	}
	if odd == nil {
		return
	}
	c.report(c.at(&odd.Pos, c.w.CapsPos), SeverityUnset, 0, dialectOf(c.w).rename(*odd, "ALL"),
		"%s drops %q: containerd and CRI-O accept it, but Pod Security restricted compares the literal \"ALL\" and rejects the pod",
		c.w.Name, odd.Text)
}

// conflict finds a capability both added and dropped, or ALL in both lists.
func conflict(w workload.Workload) (string, *workload.Word) {
	addAll, dropAll := -1, -1
	for i, a := range w.CapAdd {
		if strings.EqualFold(a.Text, "ALL") {
			addAll = i
		}
	}
	for i, d := range w.CapDrop {
		if strings.EqualFold(d.Text, "ALL") {
			dropAll = i
		}
	}
	if addAll >= 0 && dropAll >= 0 {
		return "ALL", &w.CapDrop[dropAll]
	}
	for _, a := range w.CapAdd {
		ca, ok := merge.Lenient(a.Text)
		if !ok {
			continue
		}
		for i, d := range w.CapDrop {
			if cd, ok := merge.Lenient(d.Text); ok && cd == ca {
				return ca.Short(), &w.CapDrop[i]
			}
		}
	}
	return "", nil
}

func outcome(r merge.Result) string {
	if r.Refusal != nil {
		return "refused (" + r.Refusal.Message + ")"
	}
	b := r.Sets.Bounding
	switch {
	case b == 0:
		return "no capabilities"
	case b.Len() > 20:
		return fmt.Sprintf("%d capabilities", b.Len())
	}
	return strings.Join(b.ShortNames(), " ")
}

// conflictFix takes the added name out of a capability both added and
// dropped (or an ALL in both lists): every runtime then agrees, on the
// narrower result.
func conflictFix(w workload.Workload, what string) string {
	for _, a := range w.CapAdd {
		if c, ok := merge.Lenient(a.Text); (ok && c.Short() == what) || (what == "ALL" && strings.EqualFold(a.Text, "ALL")) {
			return dialectOf(w).removeAddIn(w, a) + "; or take it out of the drop list instead, if the workload needs it"
		}
	}
	return fmt.Sprintf("name %s in only one of the two lists", what)
}

func checkRuntimeDependent(c *ctx) {
	what, word := conflict(c.w)
	if word == nil || c.w.Privileged {
		return
	}
	var parts []string
	seen := map[string]bool{}
	for _, rt := range []workload.Runtime{workload.Docker, workload.Podman, workload.Nerdctl, workload.Containerd, workload.CRIO} {
		alt := c.w
		alt.Runtime = rt
		o := outcome(merge.Compute(alt, c.opts.Merge))
		seen[o] = true
		parts = append(parts, fmt.Sprintf("%s: %s", rt, o))
	}
	if len(seen) < 2 {
		return
	}
	c.report(c.at(&word.Pos, c.w.CapsPos), SeverityUnset, 0,
		conflictFix(c.w, what),
		"%s both adds and drops %s; the runtimes disagree — %s", c.w.Name, what, strings.Join(parts, "; "))
}

func checkNonRootAdd(c *ctx) {
	r := c.res
	if r.Root || r.Refusal != nil || r.Runtime == workload.Podman || r.Runtime == workload.OCI {
		return
	}
	var never capset.Set
	var words []workload.Word
	for _, cw := range r.Why {
		if r.Sets.Effective.Has(cw.Cap) || r.Sets.Ambient.Has(cw.Cap) {
			continue
		}
		for _, rs := range cw.Reasons {
			if rs.Source == merge.FromAdd || rs.Source == merge.FromAll {
				never = never.With(cw.Cap)
				if rs.Word != nil && !slices.ContainsFunc(words, func(w workload.Word) bool { return w.Pos == rs.Word.Pos }) {
					words = append(words, *rs.Word)
				}
			}
		}
	}
	if never == 0 {
		return
	}
	var pos *workload.Position
	if len(words) > 0 {
		pos = &words[0].Pos
	}
	gain := "only a binary with file capabilities could use them"
	if r.NoNewPrivs {
		gain = "and no_new_privs stops even file capabilities, so they are never used"
	}
	c.report(c.at(pos, c.w.CapsPos), SeverityUnset, never,
		fmt.Sprintf("%s; or give the binary a file capability in the image (setcap cap_%s+ep BINARY) and run without no_new_privs",
			dialectOf(c.w).removeAdds(c.w, words), strings.ToLower(never.Caps()[0].Short())),
		"%s runs as %s: %s puts added capabilities only in the bounding set, so %s never holds %s; %s",
		c.w.Name, r.User, r.Runtime, c.w.Name, strings.Join(never.ShortNames(), " "), gain)
}

func checkNoNewPrivs(c *ctx) {
	if c.res.NoNewPrivs || c.w.Privileged || c.w.Kind == workload.DockerfileImageCaps {
		return
	}
	msg := fmt.Sprintf("%s does not set no_new_privs, so setuid and file-capability binaries can raise privileges up to its bounding set", c.w.Name)
	if isKube(c.w) {
		msg = fmt.Sprintf("%s does not set allowPrivilegeEscalation: false, so the kubelet does not set no_new_privs and setuid binaries can raise privileges", c.w.Name)
	}
	c.report(c.at(c.w.NoNewPrivsPos, c.w.CapsPos), SeverityUnset, 0, dialectOf(c.w).noNewPrivs(c.w), "%s", msg)
}

// checkSuppressions is empty: CD013 is reported while suppressions are
// applied, from the comments of the files the findings point into.
func checkSuppressions(*ctx) {}

func checkLabelRun(c *ctx) {
	if c.w.Kind != workload.DockerfileLabel || c.w.Privileged || c.res.Refusal != nil {
		return
	}
	// CD002 for a label: whoever runs it gets what it does not drop.
	c.keepsDefaults(", and whoever runs the label gets them")
}

// psaBaselineAllowed is the list the Pod Security baseline level lets a
// container add, compared as exact strings (pod-security-admission
// policy/check_capabilities_baseline.go).
var psaBaselineAllowed = []string{"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
	"NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}

func checkPSABaselineCaps(c *ctx) {
	if !isKube(c.w) {
		return
	}
	var bad []string
	var badWords []workload.Word
	for _, a := range c.w.CapAdd {
		if !slices.Contains(psaBaselineAllowed, a.Text) {
			bad = append(bad, a.Text)
			badWords = append(badWords, a)
		}
	}
	if len(badWords) == 0 {
		return
	}
	first := &badWords[0]
	fix := fmt.Sprintf("%s (baseline allows only %s, spelled exactly so)",
		dialectKube.removeAdds(c.w, badWords), strings.Join(psaBaselineAllowed, ", "))
	if len(bad) == 1 {
		if cp, err := capset.Parse(bad[0]); err == nil && slices.Contains(psaBaselineAllowed, cp.Short()) {
			fix = dialectKube.rename(*first, cp.Short())
			if !c.res.Sets.Bounding.Has(cp) {
				// The runtime ignores the spelling today: renaming would
				// grant it, so removing it is the change that keeps the
				// container as it is.
				fix = dialectKube.removeAdd(*first) + "; only if the workload needs it: " + fix
			}
		}
	}
	c.report(c.at(&first.Pos, c.w.CapsPos), SeverityUnset, 0, fix,
		"container %q must not include %s in securityContext.capabilities.add (Pod Security baseline: non-default capabilities)",
		containerName(c.w), quoteList(bad, true))
}

func containerName(w workload.Workload) string {
	if n := w.Attrs["container"]; n != "" {
		return n
	}
	if i := strings.LastIndex(w.Name, "/"); i >= 0 {
		return w.Name[i+1:]
	}
	return w.Name
}

func checkPSABaselinePrivileged(c *ctx) {
	if !isKube(c.w) || !c.w.Privileged {
		return
	}
	c.report(c.at(c.w.PrivilegedPos, c.w.CapsPos), SeverityUnset, 0, dialectKube.removePrivileged(c.w, c.explicitAdds()),
		"container %q must not set securityContext.privileged=true (Pod Security baseline: privileged)", containerName(c.w))
}

func checkPSARestrictedCaps(c *ctx) {
	if !isKube(c.w) || windows(c.w) {
		return
	}
	droppedAll := slices.ContainsFunc(c.w.CapDrop, func(w workload.Word) bool { return w.Text == "ALL" })
	var bad []string
	var first *workload.Word
	for i, a := range c.w.CapAdd {
		if a.Text != "NET_BIND_SERVICE" {
			bad = append(bad, a.Text)
			if first == nil {
				first = &c.w.CapAdd[i]
			}
		}
	}
	if droppedAll && first == nil {
		return
	}
	var details []string
	if !droppedAll {
		details = append(details, fmt.Sprintf(`container %q must set securityContext.capabilities.drop=["ALL"]`, containerName(c.w)))
	}
	if first != nil {
		details = append(details, fmt.Sprintf("container %q must not include %s in securityContext.capabilities.add", containerName(c.w), quoteList(bad, true)))
	}
	var adds []string
	if slices.ContainsFunc(c.w.CapAdd, func(w workload.Word) bool { return w.Text == "NET_BIND_SERVICE" }) {
		adds = []string{"NET_BIND_SERVICE"}
	}
	var pos *workload.Position
	if first != nil {
		pos = &first.Pos
	}
	c.report(c.at(pos, c.w.CapsPos), SeverityUnset, 0, dialectKube.dropAll(c.w, adds),
		"%s (Pod Security restricted: unrestricted capabilities)", strings.Join(details, "; "))
	if first != nil {
		c.out[len(c.out)-1].addsOnly = details[len(details)-1] + " (Pod Security restricted: unrestricted capabilities)"
	}
}

func checkPSARestrictedEscalation(c *ctx) {
	if !isKube(c.w) || windows(c.w) {
		return
	}
	if ape := c.w.AllowPrivilegeEscalation; ape != nil && !*ape {
		return
	}
	c.report(c.at(c.w.NoNewPrivsPos, c.w.CapsPos), SeverityUnset, 0, dialectKube.noNewPrivs(c.w),
		"container %q must set securityContext.allowPrivilegeEscalation=false (Pod Security restricted)", containerName(c.w))
}

func checkPSARestrictedNonRoot(c *ctx) {
	if !isKube(c.w) {
		return
	}
	if v := c.w.RunAsNonRoot; v != nil && *v {
		return
	}
	msg := fmt.Sprintf("pod or container %q must set securityContext.runAsNonRoot=true (Pod Security restricted)", containerName(c.w))
	if c.w.RunAsNonRoot != nil {
		msg = fmt.Sprintf("container %q must not set securityContext.runAsNonRoot=false (Pod Security restricted)", containerName(c.w))
	}
	c.report(c.at(c.w.UserPos, c.w.CapsPos), SeverityUnset, 0, "securityContext:\n  runAsNonRoot: true", "%s", msg)
}

func checkPSARestrictedUser0(c *ctx) {
	if !isKube(c.w) || c.w.RunAsUser == nil || *c.w.RunAsUser != 0 {
		return
	}
	c.report(c.at(c.w.UserPos, c.w.CapsPos), SeverityUnset, 0, "securityContext:\n  runAsUser: 1000  # any non-zero uid the image works with",
		"container %q must not set runAsUser=0 (Pod Security restricted)", containerName(c.w))
}
