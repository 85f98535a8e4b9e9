package report

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/capdrop/capdrop/patch"
)

// Recommend writes k8s recommend's patches as a YAML stream: before each
// workload's patch, comments saying what it does to each container and
// why, so the output can be saved and used as it is (kubectl patch,
// kustomize). Workloads without a patch are only comments.
func (t Text) Recommend(w io.Writer, res *patch.Result) error {
	var b strings.Builder
	if len(res.Recommendations) == 0 {
		fmt.Fprintf(&b, "# %s holds no workload profile to recommend from\n", res.Profiles)
	}
	for _, r := range res.Recommendations {
		b.WriteString(RecommendComments(r))
		if r.Patch == nil {
			continue
		}
		y, err := r.Patch.YAML()
		if err != nil {
			return err
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// RecommendComments says, as YAML comments, what a workload's patch does.
func RecommendComments(r *patch.Recommendation) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s", r.Workload)
	if r.Patch == nil {
		b.WriteString(": no patch")
	}
	b.WriteString("\n")
	for _, c := range r.Containers {
		what := c.Name
		if c.Type != "container" {
			what = c.Type + " " + c.Name
		}
		if c.Skipped != "" {
			fmt.Fprintf(&b, "#   %s: left out: %s\n", what, c.Skipped)
			continue
		}
		fmt.Fprintf(&b, "#   %s: drop ALL, add %s", what, addWords(c.Add))
		if c.Held != nil {
			fmt.Fprintf(&b, " (takes away %d of the %d it holds today)", len(c.Removed), len(c.Held))
		}
		state := "complete"
		if !c.Complete {
			state = "partial"
		}
		fmt.Fprintf(&b, "; from %s, %s\n", c.From, state)
		for _, n := range c.Notes {
			fmt.Fprintf(&b, "#     note: %s\n", n)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "#   note: %s\n", n)
	}
	if a := r.Apply; a != nil {
		fmt.Fprintf(&b, "#   apply: %s: %s\n", a.Status, a.Message)
	}
	return b.String()
}

func addWords(add []string) string {
	if len(add) == 0 {
		return "nothing"
	}
	return strings.Join(add, ", ")
}

// The rule of k8s recommend's SARIF results.
const recommendRule = "CDK001"

// RecommendSARIF writes k8s recommend's result as a SARIF 2.1.0 log: one
// result per container whose profile shows it holds more than it uses,
// located at the workload (namespace/Kind/name), with the patch in its
// properties; containers left out are notifications.
func RecommendSARIF(w io.Writer, res *patch.Result, tool string) error {
	rule := sarifRule{
		ID: recommendRule, Name: "HoldsMoreThanProfiled",
		ShortDescription: sarifText{Text: "A container holds capabilities its workload's profile never used"},
		FullDescription:  sarifText{Text: "capdrop's node agents profiled every replica of the workload; the container holds capabilities none of them used."},
		Help: sarifText{Text: "Merge the patch (properties.patch) into the workload's manifest, or apply it with capdrop k8s recommend --apply: the container drops ALL, adds what its profile recommends and sets allowPrivilegeEscalation: false. Prove it first with capdrop k8s verify.",
			Markdown: "**Merge the patch** (`properties.patch`) into the manifest, or `capdrop k8s recommend --apply`. Prove it first with `capdrop k8s verify`."},
		HelpURI:              "https://github.com/capdrop/capdrop/blob/main/docs/kubernetes.md#recommend",
		DefaultConfiguration: sarifConfig{Level: "warning"},
		Properties:           map[string]any{"tags": []string{"security", "capabilities", "kubernetes"}, "precision": "high", "security-severity": "5.0"},
	}
	run := sarifRun{Tool: sarifTool{Driver: sarifDriver{Name: "capdrop", Version: tool, InformationURI: "https://github.com/capdrop/capdrop", Rules: []sarifRule{rule}}},
		Results: []sarifResult{}, ColumnKind: "unicodeCodePoints"}
	inv := sarifInvocation{ExecutionSuccessful: true}
	for _, r := range res.Recommendations {
		loc := sarifLocation{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifact{URI: r.Workload.String()}}}
		for _, c := range r.Containers {
			logical := r.Workload.String() + "/" + c.Name
			if c.Skipped != "" {
				inv.ToolExecutionNotifications = append(inv.ToolExecutionNotifications, sarifNotification{Level: "note",
					Message: sarifText{Text: fmt.Sprintf("%s container %s: no recommendation: %s", r.Workload, c.Name, c.Skipped)}})
				continue
			}
			if c.Held != nil && len(c.Removed) == 0 {
				continue
			}
			msg := fmt.Sprintf("%s container %s: its profile recommends dropping ALL and adding %s", r.Workload, c.Name, addWords(c.Add))
			if c.Held != nil {
				msg += fmt.Sprintf("; it holds %d capabilities today, %d of them never used (%s)", len(c.Held), len(c.Removed), strings.Join(c.Removed, ", "))
			}
			for _, n := range r.Notes {
				msg += "\nNote: " + n
			}
			l := loc
			l.LogicalLocations = []sarifLogical{{Name: logical, Kind: "object"}}
			run.Results = append(run.Results, sarifResult{RuleID: recommendRule, Level: "warning", Message: sarifText{Text: msg},
				Locations:           []sarifLocation{l},
				PartialFingerprints: map[string]string{"capdropRecommend/v1": recommendPrint(logical, c.Set.Hex())},
				Properties: map[string]any{"add": c.Add, "drop": c.Drop, "removed": c.Removed, "patch": r.Patch,
					"complete": c.Complete, "managed_by": r.ManagedBy}})
		}
	}
	run.Invocations = []sarifInvocation{inv}
	return JSON(w, sarifLog{Schema: SARIFSchema, Version: "2.1.0", Runs: []sarifRun{run}})
}

// recommendPrint identifies a recommendation across runs: the rule, the
// workload container and the set.
func recommendPrint(container, set string) string {
	h := sha256.Sum256([]byte(recommendRule + "\x00" + container + "\x00" + set))
	return hex.EncodeToString(h[:16])
}
