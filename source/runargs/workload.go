package runargs

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/capdrop/capdrop/workload"
)

// Runtime returns the runtime whose rules apply to a command of tool.
func Runtime(tool string) workload.Runtime {
	switch tool {
	case "podman":
		return workload.Podman
	case "nerdctl":
		return workload.Nerdctl
	}
	return workload.Docker
}

// Workload returns the capability-relevant settings of c as a workload of
// the given kind, located in file. The last --user, --privileged and
// no-new-privileges win, as they do in the CLIs. Podman and nerdctl split
// --cap-add/--cap-drop values on commas; Docker does not (a comma there is
// part of the name, which Docker then rejects), so neither does this.
//
// The errors are files the options name that exist but cannot be read (an
// --env-file that is a pipe, a device or too large): the workload is still
// returned, with the option among its unmodelled settings, and the caller
// reports the errors as the input's.
func (c *Command) Workload(file string, kind workload.Kind) (workload.Workload, []*workload.Error) {
	w := workload.Workload{
		Pos:     c.pos(file, c.Start),
		Kind:    kind,
		Runtime: Runtime(c.Tool),
		CapAdd:  []workload.Word{},
		CapDrop: []workload.Word{},
		Attrs:   map[string]string{"tool": c.Tool, "subcommand": c.Sub},
	}
	if c.Text != "" {
		w.Attrs["command"] = c.Text
	}
	if len(c.Wrappers) > 0 {
		w.Attrs["wrappers"] = strings.Join(c.Wrappers, " ")
	}
	if img, ok := c.Image(); ok {
		w.Image = img.Value
	}
	var name string
	for _, f := range c.Flags {
		switch f.Canonical() {
		case "cap-add", "cap-drop":
			if !f.HasValue {
				continue
			}
			words := c.CapWords(file, f)
			if f.Name == "cap-add" {
				w.CapAdd = append(w.CapAdd, words...)
			} else {
				w.CapDrop = append(w.CapDrop, words...)
			}
			if w.CapsPos == nil {
				p := c.pos(file, f.Start)
				w.CapsPos = &p
			}
		case "privileged":
			on := true
			if f.HasValue {
				b, err := strconv.ParseBool(f.Value)
				on = err == nil && b
			}
			p := c.pos(file, f.Start)
			w.Privileged, w.PrivilegedPos = on, &p
		case "user":
			if f.HasValue {
				p := c.pos(file, f.ValueStart)
				w.User, w.UserPos = f.Value, &p
			}
		case "security-opt":
			if on, ok := NoNewPrivileges(f.Value); ok && f.HasValue {
				p := c.pos(file, f.ValueStart)
				w.NoNewPrivs, w.NoNewPrivsPos = &on, &p
			}
		case "name":
			if f.HasValue {
				name = f.Value
				w.Attrs["container_name"] = f.Value
			}
		}
	}
	w.Uncertain = c.uncertain(file)
	c.host(file, &w)
	if u := w.Host.Namespaces.User; u != nil && c.Tool == "podman" && RootlessOnly(u.Text) {
		w.Rootless = true // Podman refuses these modes run as root
	}
	errs := c.run(file, filepath.Dir(file), &w)
	if w.CapsPos == nil && c.SubArg >= 0 {
		p := c.pos(file, c.Args[c.SubArg].End)
		w.CapsPos = &p
	}
	switch {
	case name != "":
		w.Name = name
	case w.Image != "":
		w.Name = w.Image
	default:
		w.Name = c.Tool + " " + c.Sub
	}
	return w, errs
}

// decisive are the options whose value decides a container's
// capabilities or who it runs as.
var decisive = map[string]bool{
	"cap-add": true, "cap-drop": true, "privileged": true, "user": true, "security-opt": true,
	"userns": true, "uidmap": true, "gidmap": true, "subuidname": true, "subgidname": true,
}

// uncertain says what about c is decided only when it runs: words that may
// hold any options, options capdrop does not know (which may take a value
// and shift the image), and decisive options whose value is a variable
// without a known value or default.
func (c *Command) uncertain(file string) []workload.Uncertainty {
	var out []workload.Uncertainty
	for _, i := range c.Spread {
		a := c.Args[i]
		out = append(out, workload.Uncertainty{Pos: c.pos(file, a.Start),
			Reason: fmt.Sprintf("%s may hold any options, and the image; they are decided when the command runs", a.Raw)})
	}
	for _, f := range c.Flags {
		if !f.Known {
			out = append(out, workload.Uncertainty{Pos: c.pos(file, f.Start),
				Reason: fmt.Sprintf("unknown option %s: if it takes a value, the image and the options after it are misread", f.Spelling)})
			continue
		}
		if !decisive[f.Canonical()] || f.ValueArg < 0 {
			continue
		}
		if u := c.Args[f.ValueArg].Unknown; len(u) > 0 {
			out = append(out, workload.Uncertainty{Pos: c.pos(file, f.ValueStart),
				Reason: fmt.Sprintf("%s %s: decided when the command runs (%s)", f.Spelling, f.Value, strings.Join(u, ", "))})
		}
	}
	return out
}

func (c *Command) pos(file string, l Loc) workload.Position {
	return workload.Position{File: file, Line: l.Line, Col: l.Col}
}

// CapWords returns the capability names one --cap-add/--cap-drop option
// carries, as its tool reads them (split on commas for podman and nerdctl,
// whole for docker): the words Workload puts in CapAdd and CapDrop.
func (c *Command) CapWords(file string, f Flag) []workload.Word {
	if !f.HasValue {
		return nil
	}
	return c.capWords(file, f, c.Tool != "docker")
}

// capWords turns one --cap-add/--cap-drop value into words, split on
// commas when the tool does so, each located as exactly as the source
// allows.
func (c *Command) capWords(file string, f Flag, split bool) []workload.Word {
	if !split || !strings.Contains(f.Value, ",") {
		return []workload.Word{{Text: f.Value, Pos: c.pos(file, f.ValueStart)}}
	}
	var out []workload.Word
	// Exact positions only when the value is written as plain text.
	exact := f.ValueEnd.Offset-f.ValueStart.Offset == len(f.Value) && f.ValueStart.Line == f.ValueEnd.Line
	off := 0
	for _, part := range strings.Split(f.Value, ",") {
		l := f.ValueStart
		if exact {
			l.Col += len([]rune(f.Value[:off]))
			l.Offset += off
		}
		off += len(part) + 1
		if part == "" {
			continue
		}
		out = append(out, workload.Word{Text: part, Pos: c.pos(file, l)})
	}
	return out
}

// RootlessOnly reports a Podman user namespace mode that Podman accepts
// only rootless: keep-id (with or without uid=/gid=/size=) and nomap.
func RootlessOnly(userns string) bool {
	mode, _, _ := strings.Cut(userns, ":")
	return mode == "keep-id" || mode == "nomap"
}

// NoNewPrivileges reads a --security-opt value: "no-new-privileges",
// "no-new-privileges:true|false" or "no-new-privileges=true|false" (the
// forms Docker and Podman accept). ok is false for any other option or an
// unreadable boolean.
func NoNewPrivileges(opt string) (on, ok bool) {
	name, val, has := strings.Cut(opt, ":")
	if !has {
		name, val, has = strings.Cut(opt, "=")
	}
	if name != "no-new-privileges" {
		return false, false
	}
	if !has {
		return true, true
	}
	b, err := strconv.ParseBool(val)
	if err != nil {
		return false, false
	}
	return b, true
}

// FromRunArgs reads docker run arguments given as a list, without "docker
// run" (what capdrop verify and profile --docker take after --), as a run
// line: the workload it configures, positions being columns of the
// arguments quoted on one line (file "arguments").
func FromRunArgs(args []string) (workload.Workload, error) {
	c := FromArgv(append([]string{"docker", "run"}, args...), Quote)
	if c == nil {
		return workload.Workload{}, fmt.Errorf("docker run arguments: cannot read %s", Join(args))
	}
	if _, ok := c.Image(); !ok {
		return workload.Workload{}, fmt.Errorf("docker run arguments name no image: %s", Join(args))
	}
	w, errs := c.Workload("arguments", workload.RunLine)
	if len(errs) > 0 {
		return w, fmt.Errorf("docker run arguments: %w", errs[0].Err)
	}
	return w, nil
}
