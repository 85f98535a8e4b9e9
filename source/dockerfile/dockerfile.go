// Package dockerfile reads Dockerfiles and Containerfiles for what decides
// a container's capabilities before anyone writes a run line: the LABEL
// RUN (and INSTALL, UNINSTALL) commands that atomic and podman container
// runlabel execute, the io.containers.capabilities label Podman honours,
// and the image's final USER. Only the final stage (and the stages it is
// built FROM) make the image.
package dockerfile

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/capdrop/capdrop/source/runargs"
	"github.com/capdrop/capdrop/source/textpos"
	"github.com/capdrop/capdrop/workload"
)

// Options tune reading.
type Options struct {
	// Vars substitutes IMAGE, NAME (and any other name it holds) in LABEL
	// RUN commands as atomic and podman runlabel do: whole words IMAGE and
	// NAME, $IMAGE and ${IMAGE}. nil keeps them as written, which is what
	// an audit wants (the image is the one being built).
	Vars map[string]string
}

// RunLabels are the labels whose value is a command line to run the image.
var RunLabels = []string{"RUN", "INSTALL", "UNINSTALL"}

// CapsLabel is the label Podman reads as the image's capability set.
const CapsLabel = "io.containers.capabilities"

// text is a piece of the file after escape and quote processing, each byte
// knowing its offset in the file.
type text struct {
	s   []byte
	off []int
}

func (t *text) add(b byte, off int) {
	t.s = append(t.s, b)
	t.off = append(t.off, off)
}

func (t text) String() string { return string(t.s) }

// label is one LABEL key=value.
type label struct {
	key, value text
	instr      int // offset of the LABEL keyword
}

type stage struct {
	from, name string
	labels     []label
	user       *text
}

// Parse reads a Dockerfile.
func Parse(file string, data []byte, opts Options) ([]workload.Workload, []*workload.Error) {
	p := &parser{file: file, data: data, idx: textpos.New(file, data), escape: '\\'}
	p.run()
	return p.workloads(opts)
}

type parser struct {
	file   string
	data   []byte
	idx    *textpos.Index
	escape byte
	stages []*stage
	errs   []*workload.Error
	// lastCmd is the command runLabel parsed last, for RunCommands.
	lastCmd *runargs.Command
}

func (p *parser) errorf(off int, format string, args ...any) {
	p.errs = append(p.errs, &workload.Error{Pos: p.idx.Pos(off), Err: fmt.Errorf(format, args...)})
}

// lines splits the file into lines as [start,end) without the newline.
func lines(data []byte) [][2]int {
	var out [][2]int
	s := 0
	for i := 0; i <= len(data); i++ {
		if i == len(data) || data[i] == '\n' {
			e := i
			if e > s && data[e-1] == '\r' {
				e--
			}
			out = append(out, [2]int{s, e})
			s = i + 1
		}
	}
	return out
}

func (p *parser) run() {
	ls := lines(p.data)
	directives := true
	for i := 0; i < len(ls); i++ {
		line := p.data[ls[i][0]:ls[i][1]]
		trimmed := bytes.TrimLeft(line, " \t")
		if len(trimmed) == 0 {
			continue
		}
		if trimmed[0] == '#' {
			if directives {
				p.directive(trimmed)
			}
			continue
		}
		directives = false
		// Collect the logical instruction: escape-newline continues it;
		// comment and empty lines inside a continuation are dropped.
		var t text
		j := i
		for {
			s, e := ls[j][0], ls[j][1]
			body := bytes.TrimRight(p.data[s:e], " \t")
			cont := len(body) > 0 && body[len(body)-1] == p.escape && j+1 < len(ls)
			if cont {
				body = body[:len(body)-1]
			}
			for k := range body {
				t.add(body[k], s+k)
			}
			if !cont {
				break
			}
			j++
			for j+1 < len(ls) {
				nt := bytes.TrimLeft(p.data[ls[j][0]:ls[j][1]], " \t")
				if len(nt) > 0 && nt[0] != '#' {
					break
				}
				j++
			}
		}
		i = j
		i = p.instruction(t, ls, i)
	}
}

func (p *parser) directive(c []byte) {
	d := strings.TrimSpace(string(c[1:]))
	k, v, ok := strings.Cut(d, "=")
	if ok && strings.EqualFold(strings.TrimSpace(k), "escape") {
		if v = strings.TrimSpace(v); v == "`" {
			p.escape = '`'
		}
	}
}

// instruction handles one logical instruction; it returns the index of
// the last line it consumed (heredoc bodies included).
func (p *parser) instruction(t text, ls [][2]int, last int) int {
	s := bytes.TrimLeft(t.s, " \t")
	skip := len(t.s) - len(s)
	kw := s
	if i := bytes.IndexAny(s, " \t"); i >= 0 {
		kw = s[:i]
	}
	rest := skip + len(kw)
	for rest < len(t.s) && (t.s[rest] == ' ' || t.s[rest] == '\t') {
		rest++
	}
	args := text{s: t.s[rest:], off: t.off[rest:]}
	switch strings.ToUpper(string(kw)) {
	case "FROM":
		f := strings.Fields(string(args.s))
		st := &stage{}
		for len(f) > 0 && strings.HasPrefix(f[0], "--") {
			f = f[1:]
		}
		if len(f) > 0 {
			st.from = f[0]
		}
		if len(f) >= 3 && strings.EqualFold(f[1], "as") {
			st.name = strings.ToLower(f[2])
		}
		p.stages = append(p.stages, st)
	case "LABEL":
		p.labels(args, t.off[skip])
	case "USER":
		if st := p.current(); st != nil {
			u := trimText(args)
			st.user = &u
		}
	case "RUN", "COPY", "ADD":
		return p.heredocs(args.s, ls, last)
	}
	return last
}

func trimText(t text) text {
	i, j := 0, len(t.s)
	for i < j && (t.s[i] == ' ' || t.s[i] == '\t') {
		i++
	}
	for j > i && (t.s[j-1] == ' ' || t.s[j-1] == '\t') {
		j--
	}
	return text{s: t.s[i:j], off: t.off[i:j]}
}

func (p *parser) current() *stage {
	if len(p.stages) == 0 {
		return nil
	}
	return p.stages[len(p.stages)-1]
}

// heredocs skips the bodies of BuildKit here-documents (<<EOF, <<-EOF,
// <<"EOF") so their lines are not read as instructions.
func (p *parser) heredocs(args []byte, ls [][2]int, last int) int {
	s := string(args)
	for {
		i := strings.Index(s, "<<")
		if i < 0 {
			return last
		}
		s = s[i+2:]
		dash := strings.HasPrefix(s, "-")
		s = strings.TrimPrefix(s, "-")
		w := strings.TrimLeft(s, `"'`)
		n := 0
		for n < len(w) && (w[n] == '_' || w[n] >= 'A' && w[n] <= 'Z' || w[n] >= 'a' && w[n] <= 'z' || w[n] >= '0' && w[n] <= '9') {
			n++
		}
		if n == 0 {
			continue
		}
		word := w[:n]
		s = w[n:]
		for last+1 < len(ls) {
			last++
			l := string(p.data[ls[last][0]:ls[last][1]])
			if dash {
				l = strings.TrimLeft(l, "\t")
			}
			if l == word {
				break
			}
		}
	}
}

// labels reads LABEL arguments: key=value pairs (keys and values may be
// quoted; the escape character escapes the next character outside single
// quotes), or the legacy single "LABEL key value".
func (p *parser) labels(args text, instr int) {
	st := p.current()
	if st == nil {
		p.errorf(instr, "LABEL before FROM")
		return
	}
	words, err := p.words(args)
	if err != nil {
		p.errorf(err.off, "LABEL: %s", err.msg)
		return
	}
	if len(words) > 0 && !words[0].eq {
		// Legacy form: the first word is the key, the rest of the line
		// the value.
		key := words[0].t
		var val text
		if len(words) > 1 {
			val = words[1].t
			for _, w := range words[2:] {
				val.add(' ', w.t.off[0])
				val.s = append(val.s, w.t.s...)
				val.off = append(val.off, w.t.off...)
			}
		}
		st.labels = append(st.labels, label{key: key, value: val, instr: instr})
		return
	}
	for _, w := range words {
		if !w.eq {
			p.errorf(w.start, "LABEL: %q is not key=value", w.t.String())
			continue
		}
		k, v := w.split()
		st.labels = append(st.labels, label{key: k, value: v, instr: instr})
	}
}

type word struct {
	t     text
	eq    bool // has an unquoted '='
	eqAt  int  // index in t of that '='
	start int
}

func (w word) split() (text, text) {
	return text{s: w.t.s[:w.eqAt], off: w.t.off[:w.eqAt]}, text{s: w.t.s[w.eqAt+1:], off: w.t.off[w.eqAt+1:]}
}

type wordErr struct {
	off int
	msg string
}

// words splits with quote removal, keeping offsets.
func (p *parser) words(args text) ([]word, *wordErr) {
	var out []word
	i := 0
	for i < len(args.s) {
		for i < len(args.s) && (args.s[i] == ' ' || args.s[i] == '\t') {
			i++
		}
		if i >= len(args.s) {
			break
		}
		w := word{start: args.off[i]}
		for i < len(args.s) && args.s[i] != ' ' && args.s[i] != '\t' {
			c := args.s[i]
			switch {
			case c == p.escape && i+1 < len(args.s):
				w.t.add(args.s[i+1], args.off[i+1])
				i += 2
			case c == '"' || c == '\'':
				q := c
				open := args.off[i]
				i++
				for i < len(args.s) && args.s[i] != q {
					if q == '"' && args.s[i] == p.escape && i+1 < len(args.s) {
						i++
					}
					w.t.add(args.s[i], args.off[i])
					i++
				}
				if i >= len(args.s) {
					return nil, &wordErr{open, fmt.Sprintf("unterminated %c quote", q)}
				}
				i++
			case c == '=' && !w.eq:
				w.eq, w.eqAt = true, len(w.t.s)
				w.t.add(c, args.off[i])
				i++
			default:
				w.t.add(c, args.off[i])
				i++
			}
		}
		if len(w.t.s) > 0 || w.eq {
			out = append(out, w)
		}
	}
	return out, nil
}
