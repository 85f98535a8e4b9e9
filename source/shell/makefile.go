package shell

import (
	"bytes"
)

// makefile reads recipe lines: lines starting with a tab after a rule
// header. Make passes a recipe's backslash-newlines to the shell, which
// reads them as line continuations; the leading tab and the @ - +
// prefixes are blanked. Make's own $(VAR) references parse as command
// substitutions and so stay as written (non-literal words).
func (p *parser) makefile() {
	inRule := false
	for _, l := range logicalLines(p.data, 0, len(p.data)) {
		line := p.data[l[0]:l[1]]
		if len(line) > 0 && line[0] == '\t' {
			if !inRule {
				continue
			}
			v := l[0] + 1
			for v < l[1] && (p.data[v] == ' ' || p.data[v] == '\t' || p.data[v] == '@' || p.data[v] == '-' || p.data[v] == '+') {
				v++
			}
			src := blank(clone(p.data, l[0], l[1]), l[0], [2]int{l[0], v})
			p.snippet(span{l[0], src}, lenient)
			continue
		}
		trimmed := bytes.TrimSpace(line)
		if len(trimmed) == 0 || trimmed[0] == '#' || isConditional(trimmed) {
			continue
		}
		inRule = isRule(trimmed)
	}
}

func isConditional(line []byte) bool {
	for _, d := range []string{"ifeq", "ifneq", "ifdef", "ifndef", "else", "endif"} {
		if bytes.HasPrefix(line, []byte(d)) && (len(line) == len(d) || line[len(d)] == ' ' || line[len(d)] == '(' || line[len(d)] == '\t') {
			return true
		}
	}
	return false
}

// isRule reports whether a line is a rule header ("target: prereqs"), not a
// variable assignment (":=", "::=", "=" before the colon) or a directive.
func isRule(line []byte) bool {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return false
	}
	if eq := bytes.IndexByte(line, '='); eq >= 0 && eq < colon {
		return false
	}
	rest := line[colon+1:]
	if bytes.HasPrefix(rest, []byte("=")) || bytes.HasPrefix(rest, []byte(":=")) {
		return false
	}
	for _, d := range []string{"define ", "export ", "override ", "include ", "-include ", "vpath "} {
		if bytes.HasPrefix(line, []byte(d)) {
			return false
		}
	}
	return true
}
