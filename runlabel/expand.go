package runlabel

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/syntax"
)

// Vars are the values a label's variables take: the ones atomic run and
// podman container runlabel define, and the caller's environment for the
// rest.
type Vars struct {
	// Image replaces IMAGE, $IMAGE and ${IMAGE}; Name replaces NAME.
	Image, Name string
	// NameFrom says where Name came from: "--name" or "image name".
	NameFrom string
	// Opt are OPT1, OPT2 and OPT3 given as options (--opt1…); OptSet says
	// which were given. Those not given come from the environment.
	Opt    [3]string
	OptSet [3]bool
	// Dir is the working directory: PWD.
	Dir string
	// Env is the caller's environment ("NAME=value"), for every other
	// variable. Variables it does not define expand to nothing.
	Env []string
}

// Var is one variable a label uses, with the value it got.
type Var struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	// Set is false for a variable nothing defines: it expanded to nothing.
	Set bool `json:"set"`
	// From says where the value came from: "image", "--name", "image
	// name", "--opt1" (… "--opt3"), "working directory", "environment",
	// or "unset".
	From string `json:"from"`
}

// LabelError is a label capdrop cannot or will not turn into a command.
// Col is the 1-based character column in the label text (0 when the error
// is about the whole label).
type LabelError struct {
	Col int
	Msg string
	// Refused is true when the label is understood but refused (shell code
	// capdrop never runs), false when it cannot be read at all.
	Refused bool
}

func (e *LabelError) Error() string {
	if e.Col == 0 {
		return e.Msg
	}
	return fmt.Sprintf("column %d: %s", e.Col, e.Msg)
}

// ErrRefused is wrapped by every error that refuses to run a label.
var ErrRefused = errors.New("refused")

// Unwrap makes errors.Is(err, ErrRefused) true for refusals.
func (e *LabelError) Unwrap() error {
	if e.Refused {
		return ErrRefused
	}
	return nil
}

// Expand turns the text of a label into the words of one command, as
// atomic run and podman container runlabel do, but by shell-word rules and
// without ever running a shell:
//
//   - The text must be one simple command. Pipes, lists (; && ||),
//     redirections, background jobs, subshells, command and process
//     substitution, and leading VAR=value assignments are refused: the label
//     is written by the image's author, and capdrop never hands it to a
//     shell.
//   - A whole word IMAGE or NAME, and a word ending in =IMAGE or =NAME
//     (IMAGE=IMAGE, --name=NAME), is replaced by the image or container name
//     (podman's rules).
//   - Parameter expansions ($X, ${X}, ${X:-default}, …) take IMAGE, NAME,
//     OPT1–OPT3, PWD from vars and every other name from the caller's
//     environment; an undefined one expands to nothing. As in a shell, an
//     unquoted expansion is split into words on blanks (so OPT1="-v /a:/b"
//     adds two words) and one that expands to nothing adds no word, while a
//     quoted one ("$OPT1") stays one word. Quotes inside a value are not
//     interpreted, and there is no pathname expansion (a * stays a *).
//
// It returns the words and the variables the label used, in order of first
// use.
func Expand(label string, vars Vars) ([]string, []Var, error) {
	return expandLabel(label, vars, true)
}

// expandLabel is Expand, with the bare-word IMAGE/NAME rule only when bare
// is set.
func expandLabel(label string, vars Vars, bareWords bool) ([]string, []Var, error) {
	if i := strings.IndexByte(label, 0); i >= 0 {
		return nil, nil, &LabelError{Col: utf8.RuneCountInString(label[:i]) + 1, Msg: "the label contains a NUL byte"}
	}
	call, err := parseCommand(label)
	if err != nil {
		return nil, nil, err
	}
	env := newEnv(vars)
	cfg := &expand.Config{Env: env}
	var out []string
	for i, w := range call.Args {
		env.collect(w)
		if v, ok := bare(cfg, w, vars, env); ok && bareWords {
			out = append(out, v)
			continue
		}
		fields, err := fieldsOf(cfg, w)
		if err != nil {
			return nil, nil, &LabelError{Col: colOf(label, w.Pos()), Msg: fmt.Sprintf("word %d: %v", i+1, err)}
		}
		out = append(out, fields...)
	}
	if len(out) == 0 {
		return nil, nil, &LabelError{Msg: "the label expands to no command at all"}
	}
	return out, env.used(), nil
}

// fieldsOf expands one word, turning a panic in the expander into an error:
// label text is untrusted and must never crash capdrop.
func fieldsOf(cfg *expand.Config, w *syntax.Word) (fields []string, err error) {
	defer func() {
		if r := recover(); r != nil {
			fields, err = nil, fmt.Errorf("cannot expand %q", wordText(w))
		}
	}()
	return expand.Fields(cfg, w)
}

// parseCommand parses label as shell text and returns its one simple
// command, refusing everything else.
func parseCommand(label string) (call *syntax.CallExpr, err error) {
	p := syntax.NewParser(syntax.Variant(syntax.LangBash))
	var f *syntax.File
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = &LabelError{Msg: "shell syntax: the parser failed on this text"}
			}
		}()
		f, err = p.Parse(strings.NewReader(label), "")
	}()
	if err != nil {
		var le *LabelError
		if errors.As(err, &le) {
			return nil, err
		}
		var pe syntax.ParseError
		if errors.As(err, &pe) {
			return nil, &LabelError{Col: colOf(label, pe.Pos), Msg: "shell syntax: " + pe.Text}
		}
		var lang syntax.LangError
		if errors.As(err, &lang) {
			return nil, &LabelError{Col: colOf(label, lang.Pos), Msg: "shell syntax: " + lang.Error()}
		}
		return nil, &LabelError{Msg: "shell syntax: " + err.Error()}
	}
	refuse := func(n syntax.Node, format string, args ...any) error {
		return &LabelError{Col: colOf(label, n.Pos()), Msg: fmt.Sprintf(format, args...) +
			"; capdrop runs a label as one command without a shell", Refused: true}
	}
	switch len(f.Stmts) {
	case 0:
		return nil, &LabelError{Msg: "the label is empty"}
	case 1:
	default:
		return nil, refuse(f.Stmts[1], "the label holds more than one command")
	}
	st := f.Stmts[0]
	switch {
	case st.Background || st.Coprocess || st.Disown:
		return nil, refuse(st, "the label runs its command in the background")
	case st.Negated:
		return nil, refuse(st, "the label negates its command's status (!)")
	case len(st.Redirs) > 0:
		return nil, refuse(st.Redirs[0], "the label redirects input or output (%s)", st.Redirs[0].Op)
	}
	call, ok := st.Cmd.(*syntax.CallExpr)
	if !ok {
		return nil, refuse(st.Cmd, "the label is shell code (%s), not a command", construct(st.Cmd))
	}
	if len(call.Assigns) > 0 {
		a := call.Assigns[0]
		name := "a variable"
		if a.Name != nil {
			name = a.Name.Value
		}
		return nil, refuse(a, "the label sets %s in its command's environment", name)
	}
	if len(call.Args) == 0 {
		return nil, &LabelError{Msg: "the label holds no command"}
	}
	var bad error
	syntax.Walk(call, func(n syntax.Node) bool {
		if bad != nil {
			return false
		}
		switch n := n.(type) {
		case *syntax.CmdSubst:
			bad = refuse(n, "the label runs a command substitution ($(…) or `…`)")
		case *syntax.ProcSubst:
			bad = refuse(n, "the label runs a process substitution (%s…))", n.Op)
		}
		return bad == nil
	})
	if bad != nil {
		return nil, bad
	}
	return call, nil
}

// construct names a compound command for a message.
func construct(c syntax.Command) string {
	switch c := c.(type) {
	case *syntax.BinaryCmd:
		switch c.Op {
		case syntax.Pipe, syntax.PipeAll:
			return "a pipeline"
		case syntax.AndStmt:
			return "an && list"
		case syntax.OrStmt:
			return "an || list"
		}
	case *syntax.Subshell:
		return "a subshell"
	case *syntax.Block:
		return "a { } block"
	case *syntax.IfClause:
		return "an if statement"
	case *syntax.WhileClause:
		return "a loop"
	case *syntax.ForClause:
		return "a for loop"
	case *syntax.CaseClause:
		return "a case statement"
	case *syntax.FuncDecl:
		return "a function definition"
	case *syntax.DeclClause:
		return "a " + c.Variant.Value + " declaration"
	case *syntax.TimeClause:
		return "time"
	case *syntax.TestClause:
		return "a [[ ]] test"
	case *syntax.ArithmCmd, *syntax.LetClause:
		return "arithmetic"
	case *syntax.CoprocClause:
		return "a coprocess"
	}
	return "a compound command"
}

// bare replaces the whole words IMAGE and NAME, and a trailing =IMAGE or
// =NAME, in words without expansions (quoted or not), as podman does.
func bare(cfg *expand.Config, w *syntax.Word, vars Vars, env *labelEnv) (string, bool) {
	for _, p := range w.Parts {
		switch p := p.(type) {
		case *syntax.Lit:
		case *syntax.SglQuoted:
		case *syntax.DblQuoted:
			for _, q := range p.Parts {
				if _, ok := q.(*syntax.Lit); !ok {
					return "", false
				}
			}
		default:
			return "", false
		}
	}
	v, err := expand.Literal(cfg, w)
	if err != nil {
		return "", false
	}
	for _, name := range []string{"IMAGE", "NAME"} {
		val := vars.Image
		if name == "NAME" {
			val = vars.Name
		}
		switch {
		case v == name:
			env.use(name)
			return val, true
		case strings.HasSuffix(v, "="+name):
			env.use(name)
			return strings.TrimSuffix(v, name) + val, true
		}
	}
	return "", false
}

// labelEnv is the environment labels expand in. It records which names
// the label reads.
type labelEnv struct {
	vals  map[string]Var
	order []string
	seen  map[string]bool
}

func newEnv(vars Vars) *labelEnv {
	e := &labelEnv{vals: map[string]Var{}, seen: map[string]bool{}}
	for _, kv := range vars.Env {
		k, v, ok := strings.Cut(kv, "=")
		if ok && k != "" {
			e.vals[k] = Var{Name: k, Value: v, Set: true, From: "environment"}
		}
	}
	for i := range vars.Opt {
		if vars.OptSet[i] {
			n := fmt.Sprintf("OPT%d", i+1)
			e.vals[n] = Var{Name: n, Value: vars.Opt[i], Set: true, From: fmt.Sprintf("--opt%d", i+1)}
		}
	}
	e.vals["IMAGE"] = Var{Name: "IMAGE", Value: vars.Image, Set: true, From: "image"}
	e.vals["NAME"] = Var{Name: "NAME", Value: vars.Name, Set: true, From: cmpOr(vars.NameFrom, "image name")}
	e.vals["PWD"] = Var{Name: "PWD", Value: vars.Dir, Set: true, From: "working directory"}
	return e
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// use records that the label reads name.
func (e *labelEnv) use(name string) {
	if !e.seen[name] {
		e.seen[name] = true
		e.order = append(e.order, name)
	}
}

// collect records the variables a word reads: every parameter
// expansion, and HOME for a leading tilde. (An indirect ${!X} reads a
// variable named only at expansion time; it is not listed.)
func (e *labelEnv) collect(w *syntax.Word) {
	if len(w.Parts) > 0 {
		if l, ok := w.Parts[0].(*syntax.Lit); ok {
			e.tilde(l.Value)
		}
	}
	syntax.Walk(w, func(n syntax.Node) bool {
		if p, ok := n.(*syntax.ParamExp); ok && p.Param != nil {
			e.use(p.Param.Value)
		}
		return true
	})
}

// tilde records HOME for a word starting with ~ or ~/ (~user reads the
// user database instead).
func (e *labelEnv) tilde(lit string) {
	if lit == "~" || strings.HasPrefix(lit, "~/") || strings.HasPrefix(lit, "~:") {
		e.use("HOME")
	}
}

// used lists the variables the label read, in order.
func (e *labelEnv) used() []Var {
	out := make([]Var, 0, len(e.order))
	for _, n := range e.order {
		v, ok := e.vals[n]
		if !ok {
			v = Var{Name: n, From: "unset"}
		}
		out = append(out, v)
	}
	return out
}

// Get implements expand.Environ. IFS is always the shell's default, so the
// caller's environment cannot change how words split.
func (e *labelEnv) Get(name string) expand.Variable {
	if name == "IFS" {
		return expand.Variable{Set: true, Kind: expand.String, Str: " \t\n"}
	}
	if v, ok := e.vals[name]; ok {
		return expand.Variable{Set: true, Exported: true, Kind: expand.String, Str: v.Value}
	}
	return expand.Variable{}
}

// Each implements expand.Environ (for ${!prefix*}), in name order.
func (e *labelEnv) Each(f func(name string, vr expand.Variable) bool) {
	names := make([]string, 0, len(e.vals))
	for n := range e.vals {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if !f(n, expand.Variable{Set: true, Exported: true, Kind: expand.String, Str: e.vals[n].Value}) {
			return
		}
	}
}

// colOf converts a parser position into a 1-based character column of
// the whole label (labels may span lines: columns count from its start).
func colOf(label string, p syntax.Pos) int {
	off := int(p.Offset())
	if off > len(label) {
		off = len(label)
	}
	return utf8.RuneCountInString(label[:off]) + 1
}

func wordText(w *syntax.Word) string {
	var b strings.Builder
	_ = syntax.NewPrinter().Print(&b, w)
	return b.String()
}
