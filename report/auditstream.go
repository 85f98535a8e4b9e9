package report

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/capdrop/capdrop/audit"
	"github.com/capdrop/capdrop/workload"
)

// The formats AuditStream writes.
const (
	StreamJSON    = "json"
	StreamSARIF   = "sarif"
	StreamText    = "text"    // findings, one line each, and the summary
	StreamQuiet   = "quiet"   // findings alone
	StreamVerbose = "verbose" // every workload with its sets and fixes
)

// AuditStream renders an audit as audit.Stream hands it over, part by
// part, so that what is kept does not grow with the input: workloads and
// findings are written as they arrive, and only counts stay. JSON lists
// every workload before the first finding, so findings wait in a
// temporary file until the workloads are done; SARIF, which has no
// workloads, keeps the findings until Close. The output is the one the
// one-shot renderers give for the same report, but for order: findings
// come part by part (each part sorted), not sorted across the whole run.
type AuditStream struct {
	w      io.Writer
	format string
	text   Text
	policy string
	tool   string

	tally tally
	errs  []*workload.Error
	// JSON.
	jw    *jsonWriter
	spool *os.File
	sw    *bufio.Writer
	// text: the file of the last heading.
	file string
	// SARIF: what its results need.
	sarif []audit.Assessment
	found []audit.Finding
}

// NewAuditStream starts rendering an audit under policy in format (one of
// the Stream constants; text ones drawn with t). tool is capdrop's
// version, for SARIF.
func NewAuditStream(w io.Writer, format string, t Text, policy, tool string) (*AuditStream, error) {
	s := &AuditStream{w: w, format: format, text: t, policy: policy, tool: tool, file: "\x00"}
	if format == StreamJSON {
		f, err := os.CreateTemp("", "capdrop-audit-findings-*")
		if err != nil {
			return nil, fmt.Errorf("a temporary file for the findings: %w", err)
		}
		s.spool, s.sw = f, bufio.NewWriterSize(f, 256<<10)
		s.jw = newJSONWriter(w)
		s.jw.begin(policy)
		s.jw.open("workloads")
	}
	return s, nil
}

// Add renders one part.
func (s *AuditStream) Add(p audit.Part) error {
	base := s.tally.workloads
	firstFinding := s.tally.findings == 0
	s.tally.add(len(p.Workloads), p.Findings, p.Errors, p.Files, p.Skipped, p.SkippedBy)
	s.errs = append(s.errs, p.Errors...)
	var b strings.Builder
	switch s.format {
	case StreamJSON:
		for i, as := range p.Workloads {
			s.jw.elem(base+i == 0, s.jw.value(NewAuditWorkload(as), "    "))
		}
		for i, f := range p.Findings {
			if !firstFinding || i > 0 {
				s.sw.WriteString(",")
			}
			s.sw.WriteString("\n    ")
			s.sw.Write(s.jw.value(NewAuditFinding(f, p.Workloads[f.Workload-base].Workload.Name), "    "))
		}
		return nil
	case StreamSARIF:
		for _, as := range p.Workloads {
			// A fingerprint needs the workload's name and kind only.
			s.sarif = append(s.sarif, audit.Assessment{Workload: workload.Workload{Name: as.Workload.Name, Kind: as.Workload.Kind}})
		}
		s.found = append(s.found, p.Findings...)
		return nil
	case StreamQuiet:
		quietLines(&b, p.Findings)
	case StreamVerbose:
		s.text.auditBlocks(&b, p.Workloads, p.Findings, base, &s.file)
	default:
		s.text.findingLines(&b, p.Findings, &s.file)
	}
	_, err := io.WriteString(s.w, b.String())
	return err
}

// Max is the highest severity seen so far, SeverityUnset for none.
func (s *AuditStream) Max() audit.Severity { return s.tally.max }

// Errors are the input errors seen so far.
func (s *AuditStream) Errors() []*workload.Error { return s.errs }

// Discard removes the temporary file of a stream that will not be closed
// (the audit failed half-way); it does nothing after Close.
func (s *AuditStream) Discard() {
	if s.spool != nil {
		s.spool.Close()
		os.Remove(s.spool.Name())
	}
}

// Close writes what comes after the workloads: the findings (JSON,
// SARIF), the errors and the summary; and removes the temporary file.
func (s *AuditStream) Close() error {
	switch s.format {
	case StreamJSON:
		defer s.Discard()
		s.jw.close(s.tally.workloads)
		s.jw.open("findings")
		if err := s.sw.Flush(); err != nil {
			return fmt.Errorf("the findings' temporary file: %w", err)
		}
		if _, err := s.spool.Seek(0, io.SeekStart); err != nil {
			return err
		}
		if _, err := io.Copy(s.jw.bw, s.spool); err != nil {
			return fmt.Errorf("the findings' temporary file: %w", err)
		}
		s.jw.close(s.tally.findings)
		s.jw.list("errors", len(s.errs), func(i int) any { return newAuditError(s.errs[i]) })
		s.jw.field("summary", s.tally.summary(), true)
		s.jw.end()
		return s.jw.bw.Flush()
	case StreamSARIF:
		return AuditSARIF(s.w, Audit{Report: &audit.Report{Policy: s.policy, Workloads: s.sarif, Findings: s.found},
			Errors: s.errs, Files: s.tally.files, Skipped: s.tally.skipped, SkippedBy: s.tally.skippedBy, Tool: s.tool})
	case StreamQuiet:
		return nil
	}
	var b strings.Builder
	if (s.format == StreamVerbose && s.tally.workloads > 0) || (s.format != StreamVerbose && s.tally.findings > 0) {
		b.WriteString("\n")
	}
	b.WriteString(auditSummary(&s.tally, s.policy))
	_, err := io.WriteString(s.w, b.String())
	return err
}
