// Package runargs understands `docker run`, `docker create`, `podman run`,
// `nerdctl run` (and their `container run` spellings, behind sudo, env,
// exec…) command lines: it finds them in shell text with a real shell parser
// (mvdan.cc/sh), splits their options from the image and the command the way
// the CLIs do, and keeps the exact position of every word and option so that
// audit can point at them and fix can rewrite them in place.
//
// The capability-relevant options become a workload.Workload (Workload);
// every option stays available in Command.Flags.
package runargs

import (
	"fmt"
	"path"
	"strings"

	"github.com/capdrop/capdrop/source/textpos"
)

// Loc is a place in the original text: a byte offset from its start, and
// the 1-based line and character column.
type Loc struct {
	Offset int `json:"offset"`
	Line   int `json:"line"`
	Col    int `json:"column"`
}

// Arg is one shell word of a command line.
type Arg struct {
	// Value is the word after quote removal. Expansions the parser cannot
	// resolve ($VAR, $(cmd), globs) stay as written, and Literal is false.
	Value   string `json:"value"`
	Literal bool   `json:"literal"`
	// Raw is the word exactly as written in the source.
	Raw string `json:"raw"`
	// Multi is true when the word may expand to any number of words,
	// options included: "$@", "${args[@]}", $*, an unquoted $(cmd), an
	// unquoted variable named like an option list ($DOCKER_OPTS).
	Multi bool `json:"multi,omitempty"`
	// Unknown lists the expansions in the word that capdrop cannot
	// resolve, as written ("$CAP", "$(id -u)"). The default of an unknown
	// variable (${CAP:-NET_ADMIN}) is used as its value and not listed.
	Unknown []string `json:"unknown,omitempty"`
	// Start is the word's first byte, End just past its last.
	Start Loc `json:"start"`
	End   Loc `json:"end"`
}

// Flag is one option of a run command, as written.
type Flag struct {
	// Name is the long option name without dashes ("cap-add", "user",
	// "privileged"); shorthands are resolved ("-u" → "user") and so are
	// aliases ("net" stays "net": Canonical gives "network").
	Name string `json:"name"`
	// Spelling is the option as written: "--cap-add", "-u", "-i" (for the
	// i of -it).
	Spelling string `json:"spelling"`
	// Value is the option's value; HasValue says one was given (--x=v,
	// --x v, -uv, -u v).
	Value    string `json:"value,omitempty"`
	HasValue bool   `json:"has_value"`
	// Inline is true when the value is in the same word (--x=v, -uv).
	Inline bool `json:"inline"`
	// Known is false for an option in no tool's table (taken as boolean).
	Known bool `json:"known"`
	// Arg and ValueArg index Command.Args: the option's word and its
	// value's word (ValueArg == Arg when Inline, -1 without a value).
	Arg      int `json:"arg"`
	ValueArg int `json:"value_arg"`
	// Start and End span the whole option, its separate value word included,
	// so that deleting Start..End removes it. For a letter inside a group
	// like -it they span the whole group word.
	Start Loc `json:"start"`
	End   Loc `json:"end"`
	// ValueStart and ValueEnd span the value alone (inside the word when
	// Inline, exact when the word is unquoted); zero without a value.
	ValueStart Loc `json:"value_start"`
	ValueEnd   Loc `json:"value_end"`
}

// Canonical returns the option's name with aliases resolved ("net" →
// "network", "net-alias" → "network-alias", "dns-opt" → "dns-option").
func (f Flag) Canonical() string {
	switch f.Name {
	case "net":
		return "network"
	case "net-alias":
		return "network-alias"
	case "dns-opt":
		return "dns-option"
	}
	return f.Name
}

// Command is one docker/podman/nerdctl run or create command line.
type Command struct {
	// Tool is "docker", "podman" or "nerdctl"; Sub is "run" or "create".
	Tool string `json:"tool"`
	Sub  string `json:"subcommand"`
	// Args are all the words of the command, wrappers (sudo, env, …)
	// included. ToolArg and SubArg index the tool and the subcommand word.
	Args    []Arg `json:"args"`
	ToolArg int   `json:"tool_arg"`
	SubArg  int   `json:"sub_arg"`
	// Wrappers are the commands in front of the tool ("sudo", "env").
	Wrappers []string `json:"wrappers,omitempty"`
	// Flags are the run options, in order.
	Flags []Flag `json:"flags"`
	// ImageArg indexes the image word in Args (-1 when missing); the
	// words after it are the container's command.
	ImageArg int `json:"image_arg"`
	// Spread indexes the words among the options that may expand to any
	// number of words ("$@", "${args[@]}", $DOCKER_OPTS): what they hold
	// is decided when the command runs. They are passed over when looking
	// for the image.
	Spread []int `json:"spread,omitempty"`
	// Placeholder is a documentation placeholder the command holds, like
	// "<image>": the shell reads it as redirections, so the words are not
	// the command people will run.
	Placeholder string `json:"placeholder,omitempty"`
	// Start and End span the whole command in the source; Text is it as
	// written.
	Start Loc    `json:"start"`
	End   Loc    `json:"end"`
	Text  string `json:"text"`
}

// Image returns the image word, if any.
func (c *Command) Image() (Arg, bool) {
	if c.ImageArg < 0 || c.ImageArg >= len(c.Args) {
		return Arg{}, false
	}
	return c.Args[c.ImageArg], true
}

// CmdArgs returns the words after the image: the container's command.
func (c *Command) CmdArgs() []Arg {
	if c.ImageArg < 0 {
		return nil
	}
	return c.Args[c.ImageArg+1:]
}

// Lookup returns every option with the given long name (aliases resolved).
func (c *Command) Lookup(name string) []Flag {
	var out []Flag
	for _, f := range c.Flags {
		if f.Canonical() == name {
			out = append(out, f)
		}
	}
	return out
}

// wrappers are commands that run their arguments as a command; the map
// holds their options that take a value.
var wrappers = map[string]map[string]bool{
	"sudo":    set("-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-T", "-U", "--user", "--group", "--host", "--prompt", "--close-from", "--chdir", "--role", "--type", "--command-timeout", "--other-user"),
	"doas":    set("-u", "-C"),
	"env":     set("-u", "-C", "-S", "--unset", "--chdir", "--split-string"),
	"exec":    set("-a"),
	"command": set(),
	"nohup":   set(),
	"time":    set("-f", "-o", "--format", "--output"),
	"nice":    set("-n", "--adjustment"),
	"ionice":  set("-c", "-n", "-p", "--class", "--classdata"),
	"setsid":  set(),
	"stdbuf":  set("-i", "-o", "-e"),
	"timeout": set("-s", "-k", "--signal", "--kill-after"),
}

// Tools are the container CLIs whose run lines are recognised.
var Tools = []string{"docker", "podman", "nerdctl"}

// FromArgs recognises a run or create command in the words of one simple
// command, returning nil when the words are something else. Options are
// split the way pflag (which all three CLIs use) splits them.
func FromArgs(args []Arg) *Command {
	i := 0
	var wrapped []string
	// Skip wrappers, their options and VAR=value words (env).
	for i < len(args) {
		name := path.Base(args[i].Value)
		opts, ok := wrappers[name]
		if !ok || !args[i].Literal {
			break
		}
		wrapped = append(wrapped, name)
		i++
		for i < len(args) {
			a := args[i].Value
			if a == "--" {
				i++
				break
			}
			if name == "env" && strings.Contains(a, "=") && !strings.HasPrefix(a, "-") {
				i++
				continue
			}
			if name == "timeout" && !strings.HasPrefix(a, "-") && i+1 < len(args) && isDuration(a) {
				i++ // timeout DURATION CMD
				continue
			}
			if !strings.HasPrefix(a, "-") || a == "-" {
				break
			}
			i++
			if opts[a] && i < len(args) {
				i++
			}
		}
	}
	if i >= len(args) || !args[i].Literal {
		return nil
	}
	tool := path.Base(args[i].Value)
	if tool != "docker" && tool != "podman" && tool != "nerdctl" {
		return nil
	}
	c := &Command{Tool: tool, Args: args, ToolArg: i, ImageArg: -1, Wrappers: wrapped}
	i++
	// Global options before the subcommand.
	for i < len(args) && strings.HasPrefix(args[i].Value, "-") && args[i].Value != "-" {
		a := args[i].Value
		i++
		if strings.Contains(a, "=") {
			continue
		}
		var long string
		if strings.HasPrefix(a, "--") {
			long = a[2:]
		} else if len(a) == 2 {
			long = globalShort[tool][a[1]]
		}
		if globalValue[tool][long] && i < len(args) {
			i++
		}
	}
	if i >= len(args) || !args[i].Literal {
		return nil
	}
	if args[i].Value == "container" {
		i++
		if i >= len(args) || !args[i].Literal {
			return nil
		}
	}
	switch args[i].Value {
	case "run", "create":
	default:
		return nil
	}
	c.Sub = args[i].Value
	c.SubArg = i
	c.parseOptions(i + 1)
	return c
}

func isDuration(s string) bool {
	s = strings.TrimRight(s, "smhd")
	if s == "" {
		return false
	}
	for _, r := range s {
		if (r < '0' || r > '9') && r != '.' {
			return false
		}
	}
	return true
}

// parseOptions reads options from Args[i:] up to the image.
func (c *Command) parseOptions(i int) {
	args := c.Args
	for i < len(args) {
		a := args[i]
		v := a.Value
		switch {
		case v == "--":
			if i+1 < len(args) {
				c.ImageArg = i + 1
			}
			return
		case strings.HasPrefix(v, "--") && len(v) > 2:
			i = c.longOption(i)
		case strings.HasPrefix(v, "-") && len(v) > 1:
			i = c.shortOptions(i)
		case a.Multi:
			c.Spread = append(c.Spread, i)
			i++
		default:
			c.ImageArg = i
			return
		}
	}
}

func (c *Command) longOption(i int) int {
	a := c.Args[i]
	body := a.Value[2:]
	name, val, inline := strings.Cut(body, "=")
	takes, known := TakesValue(name)
	f := Flag{Name: name, Spelling: "--" + name, Known: known, Arg: i, ValueArg: -1, Start: a.Start, End: a.End}
	switch {
	case inline:
		f.Value, f.HasValue, f.Inline, f.ValueArg = val, true, true, i
		f.ValueStart, f.ValueEnd = inlineValueLocs(a, len("--"+name+"="))
	case takes && i+1 < len(c.Args):
		v := c.Args[i+1]
		f.Value, f.HasValue, f.ValueArg = v.Value, true, i+1
		f.ValueStart, f.ValueEnd, f.End = v.Start, v.End, v.End
		i++
	}
	c.Flags = append(c.Flags, f)
	return i + 1
}

func (c *Command) shortOptions(i int) int {
	a := c.Args[i]
	v := a.Value
	for j := 1; j < len(v); j++ {
		long, known := shorthands[v[j]]
		if !known {
			long = string(v[j])
		}
		takes, _ := TakesValue(long)
		f := Flag{Name: long, Spelling: "-" + string(v[j]), Known: known, Arg: i, ValueArg: -1, Start: a.Start, End: a.End}
		if !takes {
			if j+1 < len(v) && v[j+1] == '=' { // -d=false
				f.Value, f.HasValue, f.Inline, f.ValueArg = v[j+2:], true, true, i
				f.ValueStart, f.ValueEnd = inlineValueLocs(a, j+2)
				c.Flags = append(c.Flags, f)
				return i + 1
			}
			c.Flags = append(c.Flags, f)
			continue
		}
		switch {
		case j+1 < len(v):
			off := j + 1
			if v[off] == '=' {
				off++
			}
			f.Value, f.HasValue, f.Inline, f.ValueArg = v[off:], true, true, i
			f.ValueStart, f.ValueEnd = inlineValueLocs(a, off)
		case i+1 < len(c.Args):
			w := c.Args[i+1]
			f.Value, f.HasValue, f.ValueArg = w.Value, true, i+1
			f.ValueStart, f.ValueEnd, f.End = w.Start, w.End, w.End
			i++
		}
		c.Flags = append(c.Flags, f)
		return i + 1
	}
	return i + 1
}

// inlineValueLocs locates the value that starts n bytes into the word's
// value. It is exact when the word is written unquoted; otherwise it is
// the best guess: same offset into the raw text, clamped to the word.
func inlineValueLocs(a Arg, n int) (Loc, Loc) {
	if n > len(a.Raw) {
		n = len(a.Raw)
	}
	start := a.Start
	start.Offset += n
	start.Col += len([]rune(a.Raw[:n]))
	if strings.Contains(a.Raw[:n], "\n") { // a line continuation inside the option name: give up precision
		start = a.Start
	}
	return start, a.End
}

// ParseError is a shell syntax error, located in the original text.
type ParseError struct {
	Loc Loc
	Msg string
}

func (e *ParseError) Error() string { return fmt.Sprintf("%d:%d: %s", e.Loc.Line, e.Loc.Col, e.Msg) }

func locOf(idx *textpos.Index, off int) Loc {
	l, c := idx.LineCol(off)
	return Loc{Offset: off, Line: l, Col: c}
}

// Remap moves every location of c through f: for a command parsed from a
// rewritten text (a LABEL value with its quotes removed) back to the file.
// f receives byte offsets of the parsed text and returns file locations;
// end locations are mapped as one past their last byte.
func (c *Command) Remap(f func(off int) Loc) {
	end := func(l Loc) Loc {
		if l.Offset == 0 {
			return f(0)
		}
		m := f(l.Offset - 1)
		m.Offset++
		m.Col++
		return m
	}
	for i := range c.Args {
		c.Args[i].Start, c.Args[i].End = f(c.Args[i].Start.Offset), end(c.Args[i].End)
	}
	for i := range c.Flags {
		fl := &c.Flags[i]
		fl.Start, fl.End = f(fl.Start.Offset), end(fl.End)
		if fl.HasValue {
			fl.ValueStart, fl.ValueEnd = f(fl.ValueStart.Offset), end(fl.ValueEnd)
		}
	}
	c.Start, c.End = f(c.Start.Offset), end(c.End)
}
