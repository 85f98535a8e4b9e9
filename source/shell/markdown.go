package shell

import (
	"bytes"
	"strings"

	"github.com/capdrop/capdrop/workload"
)

// shellInfo are the fence info strings (first word, lower case) read as
// shell; "" is an untagged block.
var shellInfo = map[string]bool{
	"": true, "sh": true, "bash": true, "shell": true, "console": true, "zsh": true, "ksh": true,
	"shell-session": true, "shellsession": true, "sh-session": true, "bash-session": true,
	"session": true, "terminal": true, "posix": true, "dash": true,
}

// sessionInfo are the info strings where # starts a root prompt, not a
// comment.
var sessionInfo = map[string]bool{
	"console": true, "shell-session": true, "shellsession": true, "sh-session": true,
	"bash-session": true, "session": true, "terminal": true,
}

type line struct{ start, end int }

// markdown reads fenced code blocks (``` or ~~~). When a block has prompts
// ("$ ", or "# " in console blocks), only the prompted lines and their
// continuations ("> " prompts blanked too) are commands; the rest is
// output and is blanked.
func (p *parser) markdown() {
	var lines []line
	s := 0
	for i := 0; i <= len(p.data); i++ {
		if i == len(p.data) || p.data[i] == '\n' {
			lines = append(lines, line{s, i})
			s = i + 1
		}
	}
	for i := 0; i < len(lines); i++ {
		text := p.data[lines[i].start:lines[i].end]
		fence, info, ok := openFence(text)
		if !ok {
			continue
		}
		j := i + 1
		for j < len(lines) && !closesFence(p.data[lines[j].start:lines[j].end], fence) {
			j++
		}
		if shellInfo[info] && j > i+1 {
			p.block(lines[i+1:j], sessionInfo[info])
		}
		i = j
	}
}

// openFence recognises an opening fence: optional indentation, three or
// more backticks or tildes, an info string whose first word is returned.
func openFence(text []byte) (fence string, info string, ok bool) {
	t := bytes.TrimLeft(text, " \t")
	if len(t) < 3 || (t[0] != '`' && t[0] != '~') {
		return "", "", false
	}
	n := 0
	for n < len(t) && t[n] == t[0] {
		n++
	}
	if n < 3 {
		return "", "", false
	}
	rest := strings.TrimSpace(string(bytes.TrimRight(t[n:], "\r")))
	if t[0] == '`' && strings.Contains(rest, "`") {
		return "", "", false
	}
	rest = strings.TrimPrefix(rest, "{")
	rest = strings.TrimPrefix(rest, ".")
	if f := strings.FieldsFunc(rest, func(r rune) bool { return r == ' ' || r == ',' || r == '}' || r == '{' }); len(f) > 0 {
		info = strings.ToLower(f[0])
	}
	return string(t[:n]), info, true
}

func closesFence(text []byte, fence string) bool {
	t := bytes.TrimSpace(text)
	return len(t) >= len(fence) && bytes.Count(t, []byte{fence[0]}) == len(t) && bytes.HasPrefix(t, []byte(fence))
}

func (p *parser) block(ls []line, session bool) {
	start, end := ls[0].start, ls[len(ls)-1].end
	src := clone(p.data, start, end)
	if windows := windowsContinuations(src, start, ls); len(windows) > 0 {
		first := len(p.workloads)
		defer func() {
			for i := first; i < len(p.workloads); i++ {
				p.workloads[i].Uncertain = append(p.workloads[i].Uncertain, workload.Uncertainty{Pos: p.idx.Pos(windows[0]),
					Reason: "a Windows command line (^ or ` line continuations), read as POSIX shell: cmd and PowerShell quote and expand differently"})
			}
		}()
	}
	prompted := false
	for _, l := range ls {
		if _, ok := prompt(p.data[l.start:l.end], session); ok {
			prompted = true
			break
		}
	}
	if prompted {
		cont := false
		for _, l := range ls {
			text := p.data[l.start:l.end]
			n, ok := prompt(text, session)
			switch {
			case ok:
				blank(src, start, [2]int{l.start, l.start + n})
			case cont:
				t := bytes.TrimLeft(text, " \t")
				if bytes.HasPrefix(t, []byte("> ")) {
					k := l.start + len(text) - len(t)
					blank(src, start, [2]int{k, k + 2})
				}
			default:
				blank(src, start, [2]int{l.start, l.end})
				continue
			}
			cont = continued(text)
		}
	}
	if p.snippet(span{start, src}, quiet) {
		return
	}
	// One bad line (a placeholder like <image>) must not hide the others.
	for _, l := range logicalLines(src, 0, len(src)) {
		p.snippet(span{start + l[0], src[l[0]:l[1]]}, lenient)
	}
}

// windowsContinuations turns the line continuations of cmd (" ^") and
// PowerShell (" `") at the ends of lines into the shell's backslash, in
// place (the text keeps its length, so positions stay places in the file),
// and returns where they were.
func windowsContinuations(src []byte, start int, ls []line) []int {
	var at []int
	for _, l := range ls[:len(ls)-1] {
		e := l.end - start // the newline
		k := e
		for k > l.start-start && (src[k-1] == ' ' || src[k-1] == '\t' || src[k-1] == '\r') {
			k--
		}
		if k == l.start-start || (src[k-1] != '^' && src[k-1] != '`') {
			continue
		}
		if k-1 > l.start-start && src[k-2] != ' ' && src[k-2] != '\t' {
			continue // x^ or a`: part of a word
		}
		at = append(at, start+k-1)
		src[k-1] = ' '
		src[e-1] = '\\' // the last byte before the newline: a space, the \r, or the mark itself
	}
	return at
}

// prompt returns the length of a "$ " (or, in sessions, "# ") prompt at
// the start of a line, indentation included.
func prompt(text []byte, session bool) (int, bool) {
	t := bytes.TrimLeft(text, " \t")
	ind := len(text) - len(t)
	if bytes.HasPrefix(t, []byte("$ ")) || (session && bytes.HasPrefix(t, []byte("# "))) {
		return ind + 2, true
	}
	if string(t) == "$" {
		return ind + 1, true
	}
	return 0, false
}
