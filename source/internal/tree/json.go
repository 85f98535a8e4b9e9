package tree

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/capdrop/capdrop/source/textpos"
	"github.com/capdrop/capdrop/workload"
)

// ParseJSON parses a JSON text (one value, or several in a row) into
// yaml.v3 nodes with the line and column of every value (objects and arrays
// in flow style, strings and keys double-quoted, as JSON writes them), using
// encoding/json's exact grammar: yaml.v3 cannot stand in, it rejects valid
// JSON such as the "\/" escape. Nesting deeper than MaxDepth is an error.
func ParseJSON(file string, data []byte) ([]Doc, *workload.Error) {
	idx := textpos.New(file, data)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	p := &jsonParser{dec: dec, data: data, idx: idx}
	var docs []Doc
	for {
		if p.skip(); p.off >= len(data) {
			budgetFor(docs)
			return docs, nil
		}
		start := p.off
		n, err := p.value(0)
		if err != nil {
			var se *json.SyntaxError
			if errors.As(err, &se) {
				// The streaming decoder's offsets are not always absolute;
				// a whole-value scan from the value's start gives the
				// exact place.
				var v any
				if err2 := json.Unmarshal(data[start:], &v); errors.As(err2, &se) {
					budgetFor(docs)
					return docs, &workload.Error{Pos: idx.Pos(start + max(int(se.Offset)-1, 0)), Err: fmt.Errorf("invalid JSON: %w", se)}
				}
			}
			budgetFor(docs)
			return docs, p.error(err)
		}
		docs = append(docs, Doc{Root: n, Line: n.Line, Start: start, End: int(p.dec.InputOffset())})
	}
}

type jsonParser struct {
	dec  *json.Decoder
	data []byte
	idx  *textpos.Index
	off  int // where the next token starts, once skip has run
}

var errDepth = fmt.Errorf("nesting deeper than %d levels", MaxDepth)

func (p *jsonParser) error(err error) *workload.Error {
	off := p.off
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off = int(se.Offset) - 1
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		off = len(p.data)
		err = errors.New("unexpected end of JSON input")
	}
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		off = int(ute.Offset)
	}
	return &workload.Error{Pos: p.idx.Pos(max(off, 0)), Err: fmt.Errorf("invalid JSON: %w", err)}
}

// skip moves off past whitespace and the separators the decoder consumes
// silently, to the start of the next token.
func (p *jsonParser) skip() {
	p.off = int(p.dec.InputOffset())
	for p.off < len(p.data) {
		switch p.data[p.off] {
		case ' ', '\t', '\r', '\n', ',', ':':
			p.off++
			continue
		}
		return
	}
}

func (p *jsonParser) node(kind yaml.Kind, tag, value string) *yaml.Node {
	l, c := p.idx.LineCol(p.off)
	return &yaml.Node{Kind: kind, Tag: tag, Value: value, Line: l, Column: c}
}

func (p *jsonParser) value(depth int) (*yaml.Node, error) {
	if depth > MaxDepth {
		return nil, errDepth
	}
	p.skip()
	start := p.off
	tok, err := p.dec.Token()
	if err != nil {
		return nil, err
	}
	p.off = start
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n := p.node(yaml.MappingNode, "!!map", "")
			n.Style = yaml.FlowStyle
			for p.dec.More() {
				p.skip()
				kstart := p.off
				kt, err := p.dec.Token()
				if err != nil {
					return nil, err
				}
				p.off = kstart
				k := p.node(yaml.ScalarNode, "!!str", fmt.Sprint(kt))
				k.Style = yaml.DoubleQuotedStyle
				v, err := p.value(depth + 1)
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, k, v)
			}
			if _, err := p.dec.Token(); err != nil {
				return nil, err
			}
			return n, nil
		case '[':
			n := p.node(yaml.SequenceNode, "!!seq", "")
			n.Style = yaml.FlowStyle
			for p.dec.More() {
				v, err := p.value(depth + 1)
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, v)
			}
			if _, err := p.dec.Token(); err != nil {
				return nil, err
			}
			return n, nil
		}
		return nil, fmt.Errorf("unexpected %q", t)
	case string:
		n := p.node(yaml.ScalarNode, "!!str", t)
		n.Style = yaml.DoubleQuotedStyle
		return n, nil
	case json.Number:
		tag := "!!int"
		if _, err := strconv.ParseInt(t.String(), 10, 64); err != nil {
			tag = "!!float"
		}
		return p.node(yaml.ScalarNode, tag, t.String()), nil
	case bool:
		return p.node(yaml.ScalarNode, "!!bool", strconv.FormatBool(t)), nil
	case nil:
		return p.node(yaml.ScalarNode, "!!null", "null"), nil
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}
