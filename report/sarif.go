package report

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/capdrop/capdrop/audit"
	"github.com/capdrop/capdrop/workload"
)

// SARIF 2.1.0 (OASIS), the subset capdrop writes. GitHub code scanning reads
// rules (with help and security-severity), results with locations and
// levels, and partialFingerprints to follow a finding across commits.

// SARIFSchema is the schema URI written into every log.
const SARIFSchema = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool        sarifTool         `json:"tool"`
	Invocations []sarifInvocation `json:"invocations"`
	Results     []sarifResult     `json:"results"`
	ColumnKind  string            `json:"columnKind"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown,omitempty"`
}

type sarifRule struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name"`
	ShortDescription     sarifText      `json:"shortDescription"`
	FullDescription      sarifText      `json:"fullDescription"`
	Help                 sarifText      `json:"help"`
	HelpURI              string         `json:"helpUri,omitempty"`
	DefaultConfiguration sarifConfig    `json:"defaultConfiguration"`
	Properties           map[string]any `json:"properties"`
}

type sarifConfig struct {
	Level string `json:"level"`
}

type sarifInvocation struct {
	ExecutionSuccessful        bool                `json:"executionSuccessful"`
	ToolExecutionNotifications []sarifNotification `json:"toolExecutionNotifications,omitempty"`
}

type sarifNotification struct {
	Level     string          `json:"level"`
	Message   sarifText       `json:"message"`
	Locations []sarifLocation `json:"locations,omitempty"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             sarifText         `json:"message"`
	Locations           []sarifLocation   `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
	Properties          map[string]any    `json:"properties"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical  `json:"physicalLocation"`
	LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn,omitempty"`
}

type sarifLogical struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
}

// sarifLevel maps a severity to SARIF's level.
func sarifLevel(s audit.Severity) string {
	switch s {
	case audit.Critical, audit.High:
		return "error"
	case audit.Medium:
		return "warning"
	}
	return "note"
}

// securitySeverity is the CVSS-like score GitHub reads from a rule's
// "security-severity" property to rank alerts (critical ≥ 9, high ≥ 7,
// medium ≥ 4, low below).
func securitySeverity(s audit.Severity) string {
	switch s {
	case audit.Critical:
		return "9.5"
	case audit.High:
		return "8.0"
	case audit.Medium:
		return "5.5"
	}
	return "2.0"
}

// sarifURI turns a file path into the URI SARIF wants: relative paths stay
// relative (GitHub resolves them against the repository root), with forward
// slashes; absolute paths become file URIs; standard input is "stdin".
func sarifURI(path string) string {
	switch {
	case path == "" || path == "-":
		return "stdin"
	case filepath.IsAbs(path):
		return "file://" + filepath.ToSlash(path)
	}
	p := filepath.ToSlash(filepath.Clean(path))
	return strings.TrimPrefix(p, "./")
}

func sarifLoc(pos workload.Position, logical string) sarifLocation {
	loc := sarifLocation{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifact{URI: sarifURI(pos.File)}}}
	if pos.Line > 0 {
		loc.PhysicalLocation.Region = &sarifRegion{StartLine: pos.Line, StartColumn: pos.Col}
	}
	if logical != "" {
		loc.LogicalLocations = []sarifLogical{{Name: logical, Kind: "object"}}
	}
	return loc
}

func ruleHelp(r audit.Rule) sarifText {
	text := fmt.Sprintf("%s\n\n%s\n\nWhy it matters: %s\n\nHow to fix: %s", r.Title, r.Description, r.Rationale, r.Remediation)
	md := fmt.Sprintf("**%s** (%s, default severity %s)\n\n%s\n\n**Why it matters.** %s\n\n**How to fix.** %s",
		r.Title, r.ID, r.Severity, r.Description, r.Rationale, r.Remediation)
	return sarifText{Text: text, Markdown: md}
}

// AuditSARIF writes the audit as a SARIF 2.1.0 log. Every rule of the
// catalogue is listed (GitHub shows rule help from there); each finding is
// a result at its file, line and column, with its fix in the message and in
// properties.fix.
func AuditSARIF(w io.Writer, a Audit) error {
	rules := audit.Rules()
	index := map[string]int{}
	driver := sarifDriver{Name: "capdrop", Version: a.Tool, InformationURI: "https://github.com/capdrop/capdrop"}
	for i, r := range rules {
		index[r.ID] = i
		tags := []string{"security", "capabilities"}
		if strings.HasPrefix(r.Name, "pod-security") {
			tags = append(tags, "kubernetes", "pod-security")
		}
		driver.Rules = append(driver.Rules, sarifRule{
			ID: r.ID, Name: ruleName(r.Name),
			ShortDescription:     sarifText{Text: r.Title},
			FullDescription:      sarifText{Text: r.Description},
			Help:                 ruleHelp(r),
			HelpURI:              "https://github.com/capdrop/capdrop/blob/main/docs/audit.md#" + strings.ToLower(r.ID),
			DefaultConfiguration: sarifConfig{Level: sarifLevel(r.Severity)},
			Properties: map[string]any{"tags": tags, "precision": "very-high",
				"security-severity": securitySeverity(r.Severity)},
		})
	}
	run := sarifRun{Tool: sarifTool{Driver: driver}, Results: []sarifResult{}, ColumnKind: "unicodeCodePoints"}
	inv := sarifInvocation{ExecutionSuccessful: len(a.Errors) == 0}
	for _, e := range a.Errors {
		inv.ToolExecutionNotifications = append(inv.ToolExecutionNotifications, sarifNotification{
			Level: "error", Message: sarifText{Text: errText(e)}, Locations: []sarifLocation{sarifLoc(e.Pos, "")}})
	}
	run.Invocations = []sarifInvocation{inv}
	for _, f := range a.Report.Findings {
		wl := a.Report.Workloads[f.Workload].Workload
		msg := f.Message
		if f.Fix != "" {
			msg += "\nFix: " + f.Fix
		}
		run.Results = append(run.Results, sarifResult{
			RuleID: f.Rule, RuleIndex: index[f.Rule], Level: sarifLevel(f.Severity),
			Message:             sarifText{Text: msg},
			Locations:           []sarifLocation{sarifLoc(f.Pos, wl.Name)},
			PartialFingerprints: map[string]string{"capdropFinding/v2": f.Fingerprint},
			Properties: map[string]any{"severity": f.Severity.String(), "fix": f.Fix, "workload": wl.Name,
				"capabilities": f.Caps.Names()},
		})
	}
	return JSON(w, sarifLog{Schema: SARIFSchema, Version: "2.1.0", Runs: []sarifRun{run}})
}

// ruleName turns "no-drop-all" into "NoDropAll", the form SARIF viewers
// show as a rule's name.
func ruleName(slug string) string {
	var b strings.Builder
	for _, part := range strings.Split(slug, "-") {
		if part == "" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

// fingerprint identifies a finding independently of line numbers, so code
// scanning follows it when lines move: rule, file, workload and the
// capabilities it is about.
