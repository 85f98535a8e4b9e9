// Package tree parses YAML and JSON into position-carrying yaml.v3 nodes for
// the source parsers, and walks them safely: alias chains and `<<` merges
// are followed under a budget, so an alias bomb ("billion laughs") or a
// deeply nested document costs bounded time and memory and ends in an
// error, never a hang or a crash.
package tree

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/capdrop/capdrop/source/textpos"
	"github.com/capdrop/capdrop/workload"
)

// Limits on what a document may cost to walk.
const (
	// DefaultBudget is how many nodes one document's walk may visit,
	// aliases and merges counted each time they are followed.
	DefaultBudget = 1 << 20
	// MaxDepth bounds nesting, for JSON (yaml.v3 stops at 10000 itself)
	// and for merge chains.
	MaxDepth = 1000
)

// ErrBudget is reported when a document needs more work than the budget
// allows: almost always an alias bomb.
var ErrBudget = errors.New("document too complex: alias/merge expansion budget exceeded (alias bomb?)")

// Share makes every document's budget draw on run (see Allowance) once
// the file's own visits are spent.
func Share(docs []Doc, run *Allowance) {
	for _, d := range docs {
		d.Budget.Share(run)
	}
}

// Doc is one YAML document (or JSON value) of a file.
type Doc struct {
	// Root is the document's top node (the content of the DocumentNode).
	Root *yaml.Node
	// Line is the file line the document starts on.
	Line int
	// Start and End are the byte span of the document's text in the file
	// (for YAML, from its "---" line to the next document's).
	Start, End int
	// Budget is what walking the file's documents may cost, shared by
	// all of them (see NewBudget); nil gives each walker its own.
	Budget *Budget
}

var lineRE = regexp.MustCompile(`^yaml: line (\d+): `)

// SplitYAML parses every document of a YAML stream. Documents are split at
// "---" and "..." marker lines before parsing, so a syntax error in one
// document is reported (with its file line) and the others are still read.
// Node lines are file lines.
func SplitYAML(file string, data []byte) ([]Doc, []*workload.Error) {
	var docs []Doc
	var errs []*workload.Error
	for _, chunk := range splitDocs(data) {
		if len(bytes.TrimSpace(chunk.data)) == 0 {
			continue
		}
		var n yaml.Node
		err := unmarshal(chunk.data, &n)
		if err != nil {
			pos := workload.Position{File: file, Line: chunk.line}
			msg := err.Error()
			if m := lineRE.FindStringSubmatch(msg); m != nil {
				l, _ := strconv.Atoi(m[1])
				pos.Line = chunk.line + l - 1
				msg = msg[len(m[0]):]
			} else {
				msg = strings.TrimPrefix(msg, "yaml: ")
			}
			errs = append(errs, &workload.Error{Pos: pos, Err: fmt.Errorf("invalid YAML: %s", msg)})
			continue
		}
		if n.Kind != yaml.DocumentNode || len(n.Content) == 0 {
			continue
		}
		shift(n.Content[0], chunk.line-1)
		docs = append(docs, Doc{Root: n.Content[0], Line: chunk.line, Start: chunk.start, End: chunk.start + len(chunk.data)})
	}
	budgetFor(docs)
	return docs, errs
}

// unmarshal parses one document, turning a panic in the parser into an
// error: bad input must never crash capdrop.
func unmarshal(data []byte, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: parser failure: %v", r)
		}
	}()
	return yaml.Unmarshal(data, n)
}

// shift moves every node down by delta lines. Aliases are not followed, so
// this visits each node of the parsed text once.
func shift(n *yaml.Node, delta int) {
	if delta == 0 {
		return
	}
	stack := []*yaml.Node{n}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		n.Line += delta
		stack = append(stack, n.Content...) // a tree: aliases point through Alias, not Content
	}
}

type chunk struct {
	data  []byte
	line  int // file line of the chunk's first line
	start int // byte offset of the chunk in the file
}

// splitDocs cuts a YAML stream at document markers. A chunk that starts at
// a "---" line keeps that line with the marker blanked (it may carry
// content: "--- {a: 1}"), so yaml.v3 line numbers plus chunk.line - 1 are
// file lines.
func splitDocs(data []byte) []chunk {
	var out []chunk
	start, startLine, marked := 0, 1, false
	emit := func(end int) {
		c := data[start:end]
		if marked {
			c = append([]byte("   "), c[3:]...)
		}
		out = append(out, chunk{c, startLine, start})
	}
	// Lines end at the breaks yaml.v3 counts lines by, so that chunk lines
	// plus node lines are the lines of the file as YAML counts them.
	line := 1
	for i := 0; i < len(data); line++ {
		end, next := len(data), len(data)
		for e := i; e < len(data); e++ {
			if b := textpos.Break(data, e); b > 0 {
				end, next = e, e+b
				break
			}
		}
		l := data[i:end]
		switch {
		case isMarker(l, "---"):
			emit(i)
			start, startLine, marked = i, line, true
		case isMarker(l, "..."):
			emit(i)
			start, startLine, marked = next, line+1, false
		}
		i = next
	}
	emit(len(data))
	return out
}

func isMarker(l []byte, m string) bool {
	return bytes.HasPrefix(l, []byte(m)) && (len(l) == 3 || l[3] == ' ' || l[3] == '\t')
}
