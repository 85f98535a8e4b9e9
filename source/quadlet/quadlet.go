// Package quadlet reads Podman Quadlet .container units: the [Container]
// section's AddCapability=, DropCapability=, User=, NoNewPrivileges=,
// Image=, ContainerName=, the keys that open it onto the host (Volume=,
// Mount=, AddDevice=, Network=, UserNS=, SeccompProfile=,
// SecurityLabelDisable=, SecurityLabelType=, Unmask=) and PodmanArgs=
// (read as podman run options) become one workload.Workload under
// Podman's rules.
//
// Quadlet in Podman 4.4 dropped all capabilities and set no_new_privs by
// default; since 4.5 it adds nothing of its own, which is what this package
// models: the unit says everything.
package quadlet

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/capdrop/capdrop/source/runargs"
	"github.com/capdrop/capdrop/source/textpos"
	"github.com/capdrop/capdrop/workload"
)

type entry struct {
	key        string
	value      []byte
	start      int // offset of the key
	valueStart int // offset of the value
	end        int
}

// Entry is one key=value line of a unit's [Container] section, with byte
// offsets: Start is the key's, ValueStart the value's, End the end of the
// logical line (backslash continuations joined, line break excluded).
type Entry struct {
	Key                    string
	Value                  string
	Start, ValueStart, End int
}

// Section returns the entries of a unit's [Container] section, in order,
// and the offset of the section's header line; ok is false when the unit
// has no [Container] section.
func Section(data []byte) (entries []Entry, header int, ok bool) {
	es, at, _ := scan("", data, textpos.New("", data))
	for _, e := range es {
		entries = append(entries, Entry{Key: e.key, Value: string(e.value), Start: e.start, ValueStart: e.valueStart, End: e.end})
	}
	return entries, at, at >= 0
}

// Words splits an AddCapability= or DropCapability= value into its
// space-separated words, with systemd's quotes, as Parse reads them.
func Words(value string) []string {
	return workload.Texts(splitWords(textpos.New("", []byte(value)), entry{value: []byte(value)}))
}

// scan reads the [Container] section's entries and where its header is
// (-1 without one).
func scan(file string, data []byte, idx *textpos.Index) ([]entry, int, []*workload.Error) {
	var errs []*workload.Error
	errorf := func(off int, format string, args ...any) {
		errs = append(errs, &workload.Error{Pos: idx.Pos(off), Err: fmt.Errorf(format, args...)})
	}
	section, sectionAt := "", -1
	var entries []entry
	for _, l := range logicalLines(data) {
		line := data[l[0]:l[1]]
		t := bytes.TrimSpace(line)
		if len(t) == 0 || t[0] == '#' || t[0] == ';' {
			continue
		}
		lead := l[0] + len(line) - len(bytes.TrimLeft(line, " \t"))
		if t[0] == '[' {
			if t[len(t)-1] != ']' {
				errorf(lead, "unterminated section header %q", t)
				continue
			}
			section = string(t[1 : len(t)-1])
			if section == "Container" && sectionAt < 0 {
				sectionAt = lead
			}
			continue
		}
		eq := bytes.IndexByte(line, '=')
		if eq < 0 {
			errorf(lead, "line is not key=value: %q", t)
			continue
		}
		if section != "Container" {
			continue
		}
		v := l[0] + eq + 1
		for v < l[1] && (data[v] == ' ' || data[v] == '\t') {
			v++
		}
		entries = append(entries, entry{
			key: string(bytes.TrimSpace(line[:eq])), value: data[v:l[1]],
			start: lead, valueStart: v, end: l[1],
		})
	}
	return entries, sectionAt, errs
}

// Parse reads a .container unit.
func Parse(file string, data []byte) ([]workload.Workload, []*workload.Error) {
	idx := textpos.New(file, data)
	entries, sectionAt, errs := scan(file, data, idx)
	errorf := func(off int, format string, args ...any) {
		errs = append(errs, &workload.Error{Pos: idx.Pos(off), Err: fmt.Errorf(format, args...)})
	}
	if sectionAt < 0 {
		return nil, errs
	}
	base := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	w := workload.Workload{
		Pos: idx.Pos(sectionAt), Kind: workload.QuadletUnit, Name: "systemd-" + base, Runtime: workload.Podman,
		CapAdd: []workload.Word{}, CapDrop: []workload.Word{}, Attrs: map[string]string{"unit": filepath.Base(file)},
	}
	var podmanArgs []entry
	for _, e := range entries {
		pos := idx.Pos(e.valueStart)
		switch e.key {
		case "AddCapability", "DropCapability":
			list := &w.CapAdd
			if e.key == "DropCapability" {
				list = &w.CapDrop
			}
			if len(bytes.TrimSpace(e.value)) == 0 {
				*list = []workload.Word{} // an empty assignment resets the list
				continue
			}
			*list = append(*list, splitWords(idx, e)...)
			if w.CapsPos == nil {
				p := idx.Pos(e.start)
				w.CapsPos = &p
			}
		case "User":
			w.User, w.UserPos = strings.TrimSpace(string(e.value)), &pos
		case "Group":
			w.Attrs["group"] = strings.TrimSpace(string(e.value))
		case "NoNewPrivileges":
			v, ok := systemdBool(strings.TrimSpace(string(e.value)))
			if !ok {
				errorf(e.valueStart, "NoNewPrivileges: %q is not a boolean", e.value)
				continue
			}
			w.NoNewPrivs, w.NoNewPrivsPos = &v, &pos
		case "Image":
			w.Image = strings.TrimSpace(string(e.value))
		case "ContainerName":
			w.Name = strings.TrimSpace(string(e.value))
			w.Attrs["container_name"] = w.Name
		case "PodmanArgs":
			if len(bytes.TrimSpace(e.value)) == 0 {
				podmanArgs = nil
				continue
			}
			podmanArgs = append(podmanArgs, e)
		default:
			hostEntry(&w, e.key, strings.TrimSpace(string(e.value)), pos)
		}
	}
	// Quadlet puts PodmanArgs after its own options, so they come last.
	for _, e := range podmanArgs {
		src := append(bytes.Repeat([]byte{' '}, e.valueStart-e.start), data[e.valueStart:e.end]...)
		// Line continuations were joined by systemd; the shell reads
		// backslash-newline the same way.
		args, err := runargs.SplitWords(src, e.start, idx, runargs.Vars{})
		if err != nil {
			pe := err.(*runargs.ParseError)
			errs = append(errs, &workload.Error{Pos: workload.Position{File: file, Line: pe.Loc.Line, Col: pe.Loc.Col}, Err: fmt.Errorf("PodmanArgs: %s", pe.Msg)})
			continue
		}
		c := runargs.FromWords("podman", args)
		if c.ImageArg >= 0 {
			errorf(e.valueStart, "PodmanArgs: %q is not an option", c.Args[c.ImageArg].Raw)
		}
		pw, perrs := c.Workload(file, workload.QuadletUnit)
		errs = append(errs, perrs...)
		w.CapAdd = append(w.CapAdd, pw.CapAdd...)
		w.CapDrop = append(w.CapDrop, pw.CapDrop...)
		if w.CapsPos == nil && (len(pw.CapAdd) > 0 || len(pw.CapDrop) > 0) {
			w.CapsPos = pw.CapsPos
		}
		if pw.PrivilegedPos != nil {
			w.Privileged, w.PrivilegedPos = pw.Privileged, pw.PrivilegedPos
		}
		if pw.UserPos != nil {
			w.User, w.UserPos = pw.User, pw.UserPos
		}
		if pw.NoNewPrivs != nil {
			w.NoNewPrivs, w.NoNewPrivsPos = pw.NoNewPrivs, pw.NoNewPrivsPos
		}
		mergeHost(&w.Host, pw.Host)
		w.Uncertain = append(w.Uncertain, pw.Uncertain...)
		w.Attrs["podman_args"] = strings.TrimSpace(strings.Join([]string{w.Attrs["podman_args"], string(data[e.valueStart:e.end])}, " "))
	}
	if w.CapsPos == nil {
		p := w.Pos
		w.CapsPos = &p
	}
	w.Rootless = userUnit(file)
	if u := w.Host.Namespaces.User; u != nil && runargs.RootlessOnly(u.Text) && !systemUnit(file) {
		w.Rootless = true // Podman refuses these modes run as root: the unit is meant for a user
	}
	return []workload.Workload{w}, errs
}

// systemUnit reports a Quadlet unit in a place only root's systemd reads
// (/etc/containers/systemd outside users/, /usr/share/containers/systemd).
func systemUnit(file string) bool {
	p := "/" + filepath.ToSlash(file)
	return !userUnit(file) && (strings.Contains(p, "/etc/containers/systemd/") || strings.Contains(p, "/usr/share/containers/systemd/"))
}

// userUnit reports a Quadlet unit in a place systemd --user reads, which
// rootless Podman runs: ~/.config/containers/systemd (and
// $XDG_CONFIG_HOME/containers/systemd), /etc/containers/systemd/users.
func userUnit(file string) bool {
	p := filepath.ToSlash(file)
	return strings.Contains(p, ".config/containers/systemd/") || strings.Contains(p, "containers/systemd/users/")
}

// splitWords splits a space-separated value, with systemd's quotes.
func splitWords(idx *textpos.Index, e entry) []workload.Word {
	var out []workload.Word
	v := e.value
	for i := 0; i < len(v); {
		for i < len(v) && (v[i] == ' ' || v[i] == '\t' || v[i] == '\\' || v[i] == '\n' || v[i] == '\r') {
			i++
		}
		if i >= len(v) {
			break
		}
		start := i
		var w []byte
		if q := v[i]; q == '"' || q == '\'' {
			i++
			for i < len(v) && v[i] != q {
				w = append(w, v[i])
				i++
			}
			i++
		} else {
			for i < len(v) && v[i] != ' ' && v[i] != '\t' && v[i] != '\n' && !(v[i] == '\\' && i+1 < len(v) && v[i+1] == '\n') {
				w = append(w, v[i])
				i++
			}
		}
		out = append(out, workload.Word{Text: string(w), Pos: idx.Pos(e.valueStart + start)})
	}
	return out
}

func systemdBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "1", "yes", "y", "true", "t", "on":
		return true, true
	case "0", "no", "n", "false", "f", "off":
		return false, true
	}
	return false, false
}

// logicalLines joins lines ending in a backslash with the next.
func logicalLines(data []byte) [][2]int {
	var out [][2]int
	s := 0
	for i := 0; i <= len(data); i++ {
		if i < len(data) && data[i] != '\n' {
			continue
		}
		l := bytes.TrimRight(data[s:i], " \t\r")
		if i < len(data) && len(l) > 0 && l[len(l)-1] == '\\' {
			continue
		}
		e := i
		if e > s && data[e-1] == '\r' {
			e--
		}
		out = append(out, [2]int{s, e})
		s = i + 1
	}
	return out
}
