package runargs

import (
	"bytes"
	"errors"
	"regexp"
	"strconv"
	"strings"

	"mvdan.cc/sh/v3/syntax"

	"github.com/capdrop/capdrop/source/textpos"
)

// Vars tunes how words are read.
type Vars struct {
	// Values substitutes simple parameter expansions ($X, ${X}) whose name
	// it holds; every other expansion stays as written.
	Values map[string]string
	// Bare also replaces whole words equal to a name in Values, and
	// NAME=NAME words, as atomic and podman runlabel do for IMAGE and NAME
	// in a LABEL RUN.
	Bare bool
	// Raw keeps every expansion exactly as written, defaults included:
	// for words no shell will expand (an exec'd command line).
	Raw bool
}

// Find returns every run/create command in the shell text src. src is the
// part of a file that starts at byte offset base, with the same length as
// it there (callers blank out what is not shell, like a Makefile recipe's
// tab or a Markdown prompt, with spaces); idx indexes the whole file, so
// every Loc is a place in the file. A syntax error is returned as a
// *ParseError; commands are only returned when src parses.
func Find(src []byte, base int, idx *textpos.Index, vars Vars) ([]*Command, error) {
	p := syntax.NewParser(syntax.Variant(syntax.LangBash))
	f, err := parse(p, src)
	if err != nil {
		var pe syntax.ParseError
		if errors.As(err, &pe) {
			return nil, &ParseError{Loc: locOf(idx, base+int(pe.Pos.Offset())), Msg: pe.Text}
		}
		var le syntax.LangError
		if errors.As(err, &le) {
			return nil, &ParseError{Loc: locOf(idx, base+int(le.Pos.Offset())), Msg: le.Error()}
		}
		return nil, &ParseError{Loc: locOf(idx, base), Msg: err.Error()}
	}
	var out []*Command
	syntax.Walk(f, func(n syntax.Node) bool {
		st, ok := n.(*syntax.Stmt)
		if !ok {
			return true
		}
		call, ok := st.Cmd.(*syntax.CallExpr)
		if !ok || len(call.Args) < 2 {
			return true
		}
		args := make([]Arg, len(call.Args))
		for i, w := range call.Args {
			args[i] = wordArg(w, src, base, idx, vars)
		}
		if c := FromArgs(args); c != nil {
			c.Start, c.End = args[0].Start, args[len(args)-1].End
			c.Text = string(idx.Bytes(c.Start.Offset, c.End.Offset))
			c.Placeholder = placeholder(st.Redirs, src)
			out = append(out, c)
		}
		return true
	})
	return out, nil
}

// placeholder spots a documentation placeholder like <image> or
// <your-image>, which the shell reads as two redirections written back to
// back ("<image" and ">…"), and returns it as written.
func placeholder(rs []*syntax.Redirect, src []byte) string {
	for i := 0; i+1 < len(rs); i++ {
		in, out := rs[i], rs[i+1]
		if in.Op == syntax.RdrIn && in.Word != nil && out.Op == syntax.RdrOut && in.Word.End() == out.OpPos {
			return string(src[in.OpPos.Offset() : out.OpPos.Offset()+1])
		}
	}
	return ""
}

// parse runs the shell parser, turning a panic inside it into an error:
// bad input must never crash capdrop.
func parse(p *syntax.Parser, src []byte) (f *syntax.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, errors.New("shell parser failure")
		}
	}()
	return p.Parse(bytes.NewReader(src), "")
}

// ParseLine reads one command line (a LABEL RUN value, a PodmanArgs=
// value) on its own, with positions relative to it.
func ParseLine(line string, vars Vars) ([]*Command, error) {
	idx := textpos.New("", []byte(line))
	return Find([]byte(line), 0, idx, vars)
}

// SplitWords splits shell text into words with positions, without looking
// for a run command: for option lists like Quadlet's PodmanArgs=. src is
// the part of the file at base, as for Find.
func SplitWords(src []byte, base int, idx *textpos.Index, vars Vars) ([]Arg, error) {
	p := syntax.NewParser(syntax.Variant(syntax.LangBash))
	f, err := parse(p, src)
	if err != nil {
		var pe syntax.ParseError
		if errors.As(err, &pe) {
			return nil, &ParseError{Loc: locOf(idx, base+int(pe.Pos.Offset())), Msg: pe.Text}
		}
		return nil, &ParseError{Loc: locOf(idx, base), Msg: err.Error()}
	}
	var out []Arg
	syntax.Walk(f, func(n syntax.Node) bool {
		if call, ok := n.(*syntax.CallExpr); ok {
			for _, w := range call.Args {
				out = append(out, wordArg(w, src, base, idx, vars))
			}
			return false
		}
		return true
	})
	return out, nil
}

// FromWords parses options given without the tool and subcommand (as in
// Quadlet's PodmanArgs=), as if they followed `tool run`. Every word is an
// option or an option's value; the first other word ends the options and
// becomes ImageArg.
func FromWords(tool string, args []Arg) *Command {
	c := &Command{Tool: tool, Sub: "run", Args: args, ToolArg: -1, SubArg: -1, ImageArg: -1}
	c.parseOptions(0)
	if len(args) > 0 {
		c.Start, c.End = args[0].Start, args[len(args)-1].End
	}
	return c
}

func wordArg(w *syntax.Word, src []byte, base int, idx *textpos.Index, vars Vars) Arg {
	s, e := int(w.Pos().Offset()), int(w.End().Offset())
	raw := string(src[s:e])
	ws := &wordState{src: src, vars: vars, lit: true}
	for _, part := range w.Parts {
		ws.part(part, false)
	}
	val, lit := ws.b.String(), ws.lit
	if vars.Bare && lit {
		if v, ok := vars.Values[val]; ok {
			val = v
		} else if k, rest, ok := strings.Cut(val, "="); ok && k == rest {
			if v, ok := vars.Values[k]; ok { // -e IMAGE=IMAGE
				val = k + "=" + v
			}
		}
	}
	return Arg{Value: val, Literal: lit, Raw: raw, Start: locOf(idx, base+s), End: locOf(idx, base+e),
		Multi: ws.multi, Unknown: ws.unknown}
}

// wordState accumulates a word's value: quotes removed, known variables
// and the defaults of unknown ones substituted, every other expansion kept
// as written (which makes the word non-literal).
type wordState struct {
	src     []byte
	vars    Vars
	b       strings.Builder
	lit     bool
	multi   bool
	unknown []string
}

// listName spots variables that by their name hold option lists.
var listName = regexp.MustCompile(`(?i)(opts|args|flags|options|params|arguments)$`)

func (ws *wordState) part(part syntax.WordPart, quoted bool) {
	raw := func() string { return string(ws.src[part.Pos().Offset():part.End().Offset()]) }
	switch p := part.(type) {
	case *syntax.Lit:
		if quoted {
			ws.b.WriteString(unescapeDouble(p.Value))
		} else {
			ws.b.WriteString(unescapePlain(p.Value))
		}
		return
	case *syntax.SglQuoted:
		if p.Dollar {
			ws.b.WriteString(unescapeANSI(p.Value))
		} else {
			ws.b.WriteString(p.Value)
		}
		return
	case *syntax.DblQuoted:
		for _, q := range p.Parts {
			ws.part(q, true)
		}
		return
	case *syntax.ParamExp:
		if v, ok := simpleParam(p, ws.vars); ok {
			ws.b.WriteString(v)
			return
		}
		if p.Param != nil && (p.Param.Value == "@" || p.Param.Value == "*" || arrayIndex(p.Index)) && !p.Length {
			ws.multi = true // "$@", ${a[@]}: any number of words, quoted or not
		} else if !quoted && p.Param != nil && listName.MatchString(p.Param.Value) {
			ws.multi = true // $DOCKER_OPTS: split into words
		}
		if d, ok := defaultParam(p, ws); ok && !ws.vars.Raw {
			ws.lit = false
			ws.b.WriteString(d)
			return
		}
		ws.unknown = append(ws.unknown, raw())
	case *syntax.CmdSubst:
		// $(cmd) unquoted is split into words; in a Makefile $(NAME) is a
		// make variable. Either way a name like $(EXTRA_ARGS) holds a list.
		if !quoted && listName.MatchString(strings.TrimRight(strings.TrimSpace(raw()), ")")) {
			ws.multi = true
		}
		ws.unknown = append(ws.unknown, raw())
	default:
		ws.unknown = append(ws.unknown, raw())
	}
	ws.lit = false
	ws.b.WriteString(raw())
}

// arrayIndex reports an [@] or [*] subscript.
func arrayIndex(x syntax.ArithmExpr) bool {
	w, ok := x.(*syntax.Word)
	if !ok || len(w.Parts) != 1 {
		return false
	}
	l, ok := w.Parts[0].(*syntax.Lit)
	return ok && (l.Value == "@" || l.Value == "*")
}

// defaultParam evaluates ${X:-d}, ${X-d}, ${X:=d} and ${X=d} for an X
// capdrop does not know: the default, as the shell would use it when X is
// unset.
func defaultParam(p *syntax.ParamExp, ws *wordState) (string, bool) {
	if p.Exp == nil || p.Exp.Word == nil || p.Param == nil || p.Index != nil || p.Excl || p.Length {
		return "", false
	}
	switch p.Exp.Op {
	case syntax.DefaultUnset, syntax.DefaultUnsetOrNull, syntax.AssignUnset, syntax.AssignUnsetOrNull:
	default:
		return "", false
	}
	sub := &wordState{src: ws.src, vars: ws.vars, lit: true}
	for _, q := range p.Exp.Word.Parts {
		sub.part(q, true)
	}
	ws.multi = ws.multi || sub.multi
	ws.unknown = append(ws.unknown, sub.unknown...)
	return sub.b.String(), true
}

// simpleParam resolves $X and ${X} when vars holds X.
func simpleParam(p *syntax.ParamExp, vars Vars) (string, bool) {
	if vars.Values == nil || p.Param == nil || p.Excl || p.Length || p.Width || p.Index != nil ||
		p.Slice != nil || p.Repl != nil || p.Names != 0 || p.Exp != nil {
		return "", false
	}
	v, ok := vars.Values[p.Param.Value]
	return v, ok
}

// unescapePlain removes the backslashes of an unquoted word: \x is x, and
// a backslash-newline (a line continuation) is nothing.
func unescapePlain(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			if s[i] == '\n' {
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unescapeDouble removes the backslashes that escape inside double quotes:
// before $ ` " \ and newline.
func unescapeDouble(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("$`\"\\\n", s[i+1]) >= 0 {
			i++
			if s[i] == '\n' {
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unescapeANSI decodes the common escapes of a $'…' string.
func unescapeANSI(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch c := s[i]; c {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'e', 'E':
			b.WriteByte(0x1b)
		case 'f':
			b.WriteByte('\f')
		case 'v':
			b.WriteByte('\v')
		case 'x':
			// \xHH: one or two hex digits, as bash reads them.
			j := i + 1
			for j < len(s) && j < i+3 && strings.IndexByte("0123456789abcdefABCDEF", s[j]) >= 0 {
				j++
			}
			if j == i+1 {
				b.WriteString(`\x`)
				continue
			}
			n, _ := strconv.ParseUint(s[i+1:j], 16, 8)
			b.WriteByte(byte(n))
			i = j - 1
		case '\\', '\'', '"':
			b.WriteByte(c)
		default:
			b.WriteByte('\\')
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Split splits a command line into words as a POSIX shell would for a
// simple command, without running or expanding anything: quotes are
// removed, and an expansion ($VAR, $(cmd)) stays as written. It reads
// compose's string-form command and entrypoint, and verify's --check-exec.
func Split(line string) ([]string, error) {
	args, err := SplitWords([]byte(line), 0, textpos.New("", []byte(line)), Vars{Raw: true})
	if err != nil {
		return nil, err
	}
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a.Value
	}
	return out, nil
}

// FromArgv reads a command given as an argument list (docker run arguments
// passed to capdrop, a label's expanded words) as if it were written on one
// line with each word quoted as Quote would: positions are columns of that
// line. argv starts at the tool ("docker", "run", …); nil is returned when
// it is not a run or create command.
func FromArgv(argv []string, quote func(string) string) *Command {
	args := make([]Arg, len(argv))
	off, col := 0, 1
	var text strings.Builder
	for i, a := range argv {
		q := quote(a)
		if i > 0 {
			text.WriteByte(' ')
			off++
			col++
		}
		n := len([]rune(q))
		args[i] = Arg{Value: a, Literal: true, Raw: q,
			Start: Loc{Offset: off, Line: 1, Col: col}, End: Loc{Offset: off + len(q), Line: 1, Col: col + n}}
		text.WriteString(q)
		off += len(q)
		col += n
	}
	c := FromArgs(args)
	if c != nil && len(args) > 0 {
		c.Start, c.End, c.Text = args[0].Start, args[len(args)-1].End, text.String()
	}
	return c
}
