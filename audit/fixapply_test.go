package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/capdrop/capdrop/source/runargs"
	"github.com/capdrop/capdrop/workload"
)

// This file applies a finding's fix to the file it is about, the way a
// person following it would: the fix's first alternative, step by step
// ("…; then\n…"), each step either a whole LABEL line, a removal or a
// rewrite at a file:line:column, an "add … to …", or a snippet in the
// file's own dialect merged where the workload is defined. What a fix
// says is all the applier knows; re-auditing the result with the real
// parsers is the judge (fixclear_test.go).

var (
	posRE     = regexp.MustCompile(`:(\d+):(\d+)\b`)
	writeRE   = regexp.MustCompile(`^write "?([^"]*?)"? instead of "?([^"]*?)"? at `)
	writeKVRE = regexp.MustCompile(`^write (\w+): (\S+) at `)
	addToRE   = regexp.MustCompile(`^add "([^"]+)" to (\w+)$`)
	ociAddRE  = regexp.MustCompile(`^add (\{.*\}) to "(\w+)" in "(\w+)"`)
	everyRE   = regexp.MustCompile(`^remove (.+) from every list of process\.capabilities`)
)

// fixSteps splits a fix into the changes it asks for, in order, keeping
// only its first alternative.
func fixSteps(fix string) []string {
	if strings.HasPrefix(fix, "LABEL ") {
		// The line ends with its quoted value; what follows is an
		// alternative.
		key, rest, _ := strings.Cut(fix, "=")
		if q, err := strconv.QuotedPrefix(rest); err == nil {
			return []string{key + "=" + q}
		}
		return []string{fix}
	}
	var out []string
	for _, part := range strings.Split(fix, "; then\n") {
		for _, alt := range []string{"; or ", "; only if ", ", or ", " (the container never had it)"} {
			if i := strings.Index(part, alt); i >= 0 {
				part = part[:i]
			}
		}
		// "remove A (…); remove B (…)" is two steps.
		for {
			i := strings.Index(part, "; remove ")
			if j := strings.Index(part, "; write "); j >= 0 && (i < 0 || j < i) {
				i = j
			}
			if i < 0 {
				out = append(out, part)
				break
			}
			out = append(out, part[:i])
			part = part[i+2:]
		}
	}
	return out
}

// stepPos is the line and column a step points at.
func stepPos(step string) (int, int, bool) {
	m := posRE.FindAllStringSubmatch(step, -1)
	if len(m) == 0 {
		return 0, 0, false
	}
	l, _ := strconv.Atoi(m[0][1])
	c, _ := strconv.Atoi(m[0][2])
	return l, c, true
}

// applyFix applies fix to data, the content of the file w is defined in.
// Positions in a fix are the original file's: a YAML or JSON file is
// parsed once and every step edits the same tree.
func applyFix(data []byte, w workload.Workload, fix string) ([]byte, error) {
	switch w.Kind {
	case workload.ComposeService, workload.KubeContainer, workload.KubeInitContainer, workload.KubeEphemeral,
		workload.OCISpec, workload.InspectRecord:
		isJSON := w.Kind == workload.OCISpec || w.Kind == workload.InspectRecord
		d, err := parseDocs(data, isJSON)
		if err != nil {
			return nil, err
		}
		for _, step := range fixSteps(fix) {
			if err := d.step(w, step); err != nil {
				return nil, fmt.Errorf("step %q: %w", step, err)
			}
		}
		return d.encode()
	}
	for _, step := range fixSteps(fix) {
		var err error
		switch w.Kind {
		case workload.RunLine:
			data, err = lineStep(data, w, step, runLine)
		case workload.QuadletUnit:
			data, err = lineStep(data, w, step, quadletLine)
		case workload.DockerfileLabel, workload.DockerfileImageCaps:
			data, err = lineStep(data, w, step, dockerfileLine)
		default:
			err = fmt.Errorf("no applier for %s", w.Kind)
		}
		if err != nil {
			return nil, fmt.Errorf("step %q: %w", step, err)
		}
	}
	return data, nil
}

// --- YAML and JSON -------------------------------------------------------

type ydoc struct {
	docs []*yaml.Node
	json bool
}

func parseDocs(data []byte, isJSON bool) (*ydoc, error) {
	d := &ydoc{json: isJSON}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			if err.Error() == "EOF" {
				break
			}
			return nil, err
		}
		d.docs = append(d.docs, &n)
	}
	return d, nil
}

func (d *ydoc) encode() ([]byte, error) {
	var b bytes.Buffer
	for _, n := range d.docs {
		if d.json {
			var v any
			if err := n.Decode(&v); err != nil {
				return nil, err
			}
			out, err := json.MarshalIndent(jsonable(v), "", "  ")
			if err != nil {
				return nil, err
			}
			b.Write(out)
			continue
		}
		b.WriteString("---\n")
		enc := yaml.NewEncoder(&b)
		enc.SetIndent(2)
		if err := enc.Encode(n); err != nil {
			return nil, err
		}
		enc.Close()
	}
	return b.Bytes(), nil
}

// jsonable turns YAML's map[string]any (and nested) into values
// encoding/json takes.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonable(e)
		}
	case []any:
		for i, e := range x {
			x[i] = jsonable(e)
		}
	}
	return v
}

// match is a node at a position, with its parent and its index there.
type match struct {
	parent *yaml.Node
	idx    int
	node   *yaml.Node
}

// matches returns every node at line:col: a block mapping starts where its
// first key does, so one position can name a list item, a mapping and a
// key at once.
func (d *ydoc) matches(line, col int) []match {
	var out []match
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		for i, c := range n.Content {
			if c.Line == line && c.Column == col && n.Kind != yaml.DocumentNode {
				out = append(out, match{n, i, c})
			}
			walk(c)
		}
	}
	for _, doc := range d.docs {
		walk(doc)
	}
	return out
}

// find returns what a position means to a fix: a list item first, then a
// mapping's value, then a key (whose value is meant).
func (d *ydoc) find(line, col int) (parent *yaml.Node, idx int, node *yaml.Node) {
	ms := d.matches(line, col)
	for _, want := range []func(m match) bool{
		func(m match) bool { return m.parent.Kind == yaml.SequenceNode },
		func(m match) bool { return m.parent.Kind == yaml.MappingNode && m.idx%2 == 1 },
		func(m match) bool { return m.parent.Kind == yaml.MappingNode && m.idx%2 == 0 },
	} {
		for _, m := range ms {
			if want(m) {
				if m.parent.Kind == yaml.MappingNode && m.idx%2 == 0 {
					return m.parent, m.idx + 1, m.parent.Content[m.idx+1]
				}
				return m.parent, m.idx, m.node
			}
		}
	}
	return nil, -1, nil
}

func (d *ydoc) remove(line, col int) error {
	p, i, _ := d.find(line, col)
	switch {
	case p == nil:
		return fmt.Errorf("nothing at %d:%d", line, col)
	case p.Kind == yaml.SequenceNode:
		p.Content = slices.Delete(p.Content, i, i+1)
	case p.Kind == yaml.MappingNode:
		p.Content = slices.Delete(p.Content, i-1, i+1)
	default:
		return fmt.Errorf("cannot remove at %d:%d", line, col)
	}
	return nil
}

func get(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func set(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
}

// mergeNode sets every key of src in dst: mappings merge, anything else is
// replaced.
func mergeNode(dst, src *yaml.Node) {
	for i := 0; i+1 < len(src.Content); i += 2 {
		k, v := src.Content[i].Value, src.Content[i+1]
		if cur := get(dst, k); cur != nil && cur.Kind == yaml.MappingNode && v.Kind == yaml.MappingNode {
			mergeNode(cur, v)
			continue
		}
		set(dst, k, v)
	}
}

// target is the mapping a snippet goes into: a compose service's, a
// container's, an OCI config's root or an inspect record's HostConfig.
func (d *ydoc) target(w workload.Workload) (*yaml.Node, error) {
	_, _, n := d.find(w.Pos.Line, w.Pos.Col)
	if w.Kind == workload.ComposeService {
		// A service is named by its key.
		n = nil
		for _, m := range d.matches(w.Pos.Line, w.Pos.Col) {
			if m.parent.Kind == yaml.MappingNode && m.idx%2 == 0 {
				n = m.parent.Content[m.idx+1]
			}
		}
	}
	if n == nil && w.Kind == workload.OCISpec && len(d.docs) == 1 {
		n = d.docs[0].Content[0]
	}
	if n == nil {
		return nil, fmt.Errorf("workload %s not found at %s", w.Name, w.Pos)
	}
	if w.Kind == workload.InspectRecord {
		return get(n, "HostConfig"), nil
	}
	return n, nil
}

// annotationRE is a fix's own alternative for a legacy annotation.
var annotationRE = regexp.MustCompile(`\((\S+) instead of (\S+) in the legacy annotation\)`)

func (d *ydoc) step(w workload.Workload, step string) error {
	line, col, hasPos := stepPos(step)
	switch m := writeRE.FindStringSubmatch(step); {
	case everyRE.MatchString(step):
		names := strings.Split(everyRE.FindStringSubmatch(step)[1], ", ")
		caps := get(get(d.docs[0].Content[0], "process"), "capabilities")
		for i := 1; i < len(caps.Content); i += 2 {
			l := caps.Content[i]
			l.Content = slices.DeleteFunc(l.Content, func(n *yaml.Node) bool {
				return slices.Contains(names, n.Value) || slices.Contains(names, strconv.Quote(n.Value))
			})
		}
	case strings.HasPrefix(step, "remove ") && hasPos:
		if err := d.remove(line, col); err != nil {
			return err
		}
	case m != nil && hasPos:
		_, _, n := d.find(line, col)
		if n == nil {
			return fmt.Errorf("nothing at %d:%d", line, col)
		}
		old := n.Value
		n.Value = m[1]
		if a := annotationRE.FindStringSubmatch(step); a != nil && old == a[2] {
			// The fix's own words for the annotation's spelling.
			n.Value = a[1]
		}
	case writeKVRE.MatchString(step) && hasPos:
		_, _, n := d.find(line, col)
		if n == nil {
			return fmt.Errorf("nothing at %d:%d", line, col)
		}
		n.Value = writeKVRE.FindStringSubmatch(step)[2]
	case addToRE.MatchString(step):
		m := addToRE.FindStringSubmatch(step)
		t, err := d.target(w)
		if err != nil {
			return err
		}
		l := get(t, m[2])
		if l == nil || l.Kind != yaml.SequenceNode {
			l = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
			set(t, m[2], l)
		}
		l.Content = append(l.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: m[1]})
	case ociAddRE.MatchString(step):
		m := ociAddRE.FindStringSubmatch(step)
		var v yaml.Node
		if err := yaml.Unmarshal([]byte(m[1]), &v); err != nil {
			return err
		}
		l := get(get(d.docs[0].Content[0], m[3]), m[2])
		l.Content = append(l.Content, v.Content[0])
	case strings.HasPrefix(step, `add "seccomp" to "linux"`):
		var v yaml.Node
		yaml.Unmarshal([]byte(`{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"], "syscalls": [{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"}]}`), &v)
		set(get(d.docs[0].Content[0], "linux"), "seccomp", v.Content[0])
	case strings.HasPrefix(step, `add "maskedPaths" and "readonlyPaths" to "linux"`):
		var v yaml.Node
		yaml.Unmarshal([]byte(`{"maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/sched_debug", "/proc/timer_list", "/sys/firmware"], "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]}`), &v)
		mergeNode(get(d.docs[0].Content[0], "linux"), v.Content[0])
	case w.Kind == workload.InspectRecord && strings.HasPrefix(step, "--"):
		t, err := d.target(w)
		if err != nil {
			return err
		}
		for _, f := range strings.Fields(step) {
			k, v, _ := strings.Cut(strings.TrimPrefix(f, "--"), "=")
			key := map[string]string{"cap-add": "CapAdd", "cap-drop": "CapDrop", "security-opt": "SecurityOpt"}[k]
			if key == "" {
				return fmt.Errorf("flag %s", f)
			}
			l := get(t, key)
			if l == nil || l.Kind != yaml.SequenceNode {
				l = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
				set(t, key, l)
			}
			l.Content = append(l.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v})
		}
	default:
		// A snippet: YAML for compose and Kubernetes, JSON members for OCI.
		text := step
		if w.Kind == workload.OCISpec {
			text, _, _ = strings.Cut(text, "  (in")
			text = "{" + text + "}"
		}
		var v yaml.Node
		if err := yaml.Unmarshal([]byte(text), &v); err != nil || len(v.Content) == 0 || v.Content[0].Kind != yaml.MappingNode {
			return fmt.Errorf("not a snippet: %v", err)
		}
		t, err := d.target(w)
		if err != nil {
			return err
		}
		if w.Kind == workload.OCISpec {
			t = get(t, "process")
		}
		mergeNode(t, v.Content[0])
	}
	return nil
}

// --- line-based files ----------------------------------------------------

type lineKind int

const (
	runLine lineKind = iota
	quadletLine
	dockerfileLine
)

func lineStep(data []byte, w workload.Workload, step string, kind lineKind) ([]byte, error) {
	lines := strings.Split(string(data), "\n")
	line, col, hasPos := stepPos(step)
	at := func(l int) (string, error) {
		if l < 1 || l > len(lines) {
			return "", fmt.Errorf("no line %d", l)
		}
		return lines[l-1], nil
	}
	switch m := writeRE.FindStringSubmatch(step); {
	case strings.HasPrefix(step, "LABEL "):
		key, _, _ := strings.Cut(strings.TrimPrefix(step, "LABEL "), "=")
		for i, l := range lines {
			if k, _, ok := strings.Cut(strings.TrimPrefix(l, "LABEL "), "="); strings.HasPrefix(l, "LABEL ") && ok && strings.EqualFold(k, key) {
				lines[i] = step
				return []byte(strings.Join(lines, "\n")), nil
			}
		}
		return nil, fmt.Errorf("no LABEL %s", key)
	case m != nil && hasPos:
		l, err := at(line)
		if err != nil {
			return nil, err
		}
		if !strings.HasPrefix(l[col-1:], m[2]) {
			return nil, fmt.Errorf("%q is not at %d:%d", m[2], line, col)
		}
		lines[line-1] = l[:col-1] + m[1] + l[col-1+len(m[2]):]
	case strings.HasPrefix(step, "remove ") && hasPos:
		l, err := at(line)
		if err != nil {
			return nil, err
		}
		switch {
		case kind == quadletLine && strings.Index(l, "=")+2 == col && !strings.HasPrefix(l, "PodmanArgs="):
			lines = slices.Delete(lines, line-1, line)
		case kind == dockerfileLine && strings.Contains(step, "io.containers.capabilities"):
			end := strings.IndexAny(l[col-1:], `,"`)
			if end < 0 {
				return nil, fmt.Errorf("no label item at %d:%d", line, col)
			}
			cut := col - 1 + end
			if l[cut] == ',' {
				cut++
			} else if l[col-2] == ',' {
				col--
			}
			lines[line-1] = l[:col-1] + l[cut:]
		default:
			lines[line-1], err = removeOption(l, col)
			if err != nil {
				return nil, err
			}
		}
	case kind == runLine && strings.HasPrefix(step, "--"):
		l, err := at(w.Pos.Line)
		if err != nil {
			return nil, err
		}
		cmds, err := runargs.ParseLine(l, runargs.Vars{})
		if err != nil || len(cmds) == 0 {
			return nil, fmt.Errorf("no run command on line %d", w.Pos.Line)
		}
		c := cmds[0]
		end := c.Args[c.SubArg].End.Offset
		lines[w.Pos.Line-1] = l[:end] + " " + step + l[end:]
	case kind == quadletLine && regexp.MustCompile(`^\w+=`).MatchString(step):
		// Keys go at the end of [Container], after what they amend.
		end := len(lines)
		in := false
		for i, l := range lines {
			switch {
			case strings.TrimSpace(l) == "[Container]":
				in = true
			case in && strings.HasPrefix(strings.TrimSpace(l), "["):
				end, in = i, false
			}
		}
		for end > 0 && strings.TrimSpace(lines[end-1]) == "" {
			end--
		}
		lines = slices.Insert(lines, end, strings.Split(step, "\n")...)
	default:
		return nil, fmt.Errorf("no way to apply it to a %v file", kind)
	}
	return []byte(strings.Join(lines, "\n")), nil
}

// removeOption takes the command-line option at col (1-based) out of a
// line: the option word itself or its value, and the value word of an
// option that takes one.
func removeOption(l string, col int) (string, error) {
	type word struct{ start, end int }
	var ws []word
	for i := 0; i < len(l); {
		for i < len(l) && (l[i] == ' ' || l[i] == '\t') {
			i++
		}
		s := i
		q := byte(0)
		for i < len(l) && (q != 0 || (l[i] != ' ' && l[i] != '\t')) {
			switch {
			case q == 0 && (l[i] == '"' || l[i] == '\''):
				q = l[i]
			case q != 0 && l[i] == q:
				q = 0
			}
			i++
		}
		if i > s {
			ws = append(ws, word{s, i})
		}
	}
	for k, wd := range ws {
		if col-1 < wd.start || col-1 >= wd.end {
			continue
		}
		text := strings.TrimLeft(l[wd.start:wd.end], "PodmanArgs=")
		if col-1 > wd.start && strings.Contains(l[wd.start:col-1], "=") && strings.HasPrefix(l[wd.start:], "--") {
			col = wd.start + 1 // the value inside --opt=value: the whole word goes
		}
		first, last := k, k
		if !strings.HasPrefix(text, "-") && k > 0 && strings.HasPrefix(l[ws[k-1].start:ws[k-1].end], "-") && !strings.Contains(l[ws[k-1].start:ws[k-1].end], "=") {
			first = k - 1 // the value of "--opt value"
		} else if strings.HasPrefix(text, "-") && !strings.Contains(text, "=") && k+1 < len(ws) {
			if takes, _ := runargs.TakesValue(longName(text)); takes {
				last = k + 1
			}
		}
		start, end := ws[first].start, ws[last].end
		if strings.HasPrefix(l[start:], "PodmanArgs=") {
			start += len("PodmanArgs=")
		}
		for end < len(l) && l[end] == ' ' {
			end++
		}
		return l[:start] + l[end:], nil
	}
	return "", fmt.Errorf("no option at column %d of %q", col, l)
}

func longName(opt string) string {
	opt = strings.TrimPrefix(opt, "PodmanArgs=")
	if strings.HasPrefix(opt, "--") {
		return strings.TrimPrefix(opt, "--")
	}
	return map[string]string{"-v": "volume", "-u": "user", "-e": "env"}[opt]
}

// writeFixture writes data under dir at rel, for a re-audit.
func writeFixture(dir, rel string, data []byte) (string, error) {
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", err
	}
	return p, os.WriteFile(p, data, 0o644)
}
