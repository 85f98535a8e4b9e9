// Package wltest condenses workloads into comparable summaries for the
// source parsers' table-driven tests: every capability-relevant field with
// its position written as "value@line:col".
package wltest

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/workload"
)

// Summary is a workload's fields with positions as "line:col".
type Summary struct {
	Pos        string
	Kind       workload.Kind
	Name       string
	Image      string
	Runtime    workload.Runtime
	Privileged string // "true@3:5", "false@3:5", "" when unset
	Add, Drop  []string
	CapsPos    string
	User       string
	ImageUser  string
	NNP        string
	RunAsUser  string
	NonRoot    string
	APE        string
	ImageCaps  []string
	Explicit   string
	Attrs      map[string]string // only the keys the test lists are compared
	Uncertain  []string          // "line:col reason"
}

func at(p *workload.Position) string {
	if p == nil {
		return ""
	}
	return fmt.Sprintf("%d:%d", p.Line, p.Col)
}

func words(ws []workload.Word) []string {
	out := []string{}
	for _, w := range ws {
		out = append(out, fmt.Sprintf("%s@%d:%d", w.Text, w.Pos.Line, w.Pos.Col))
	}
	return out
}

func ptrBool(b *bool) string {
	if b == nil {
		return ""
	}
	return strconv.FormatBool(*b)
}

// Summarize condenses w; attrs are the Attrs keys to keep.
func Summarize(w workload.Workload, attrs ...string) Summary {
	s := Summary{
		Pos: at(&w.Pos), Kind: w.Kind, Name: w.Name, Image: w.Image, Runtime: w.Runtime,
		Add: words(w.CapAdd), Drop: words(w.CapDrop), CapsPos: at(w.CapsPos),
		ImageUser: w.ImageUser, NonRoot: ptrBool(w.RunAsNonRoot), APE: ptrBool(w.AllowPrivilegeEscalation),
	}
	if w.PrivilegedPos != nil || w.Privileged {
		s.Privileged = fmt.Sprintf("%v@%s", w.Privileged, at(w.PrivilegedPos))
	}
	if w.User != "" || w.UserPos != nil {
		s.User = w.User + "@" + at(w.UserPos)
	}
	if w.NoNewPrivs != nil {
		s.NNP = fmt.Sprintf("%v@%s", *w.NoNewPrivs, at(w.NoNewPrivsPos))
	}
	if w.RunAsUser != nil {
		s.RunAsUser = strconv.FormatInt(*w.RunAsUser, 10)
	}
	if len(w.ImageCaps) > 0 {
		s.ImageCaps = words(w.ImageCaps)
	}
	if e := w.Explicit; e != nil {
		s.Explicit = fmt.Sprintf("B%v E%v P%v I%v A%v", words(e.Bounding), words(e.Effective), words(e.Permitted), words(e.Inheritable), words(e.Ambient))
	}
	for _, u := range w.Uncertain {
		s.Uncertain = append(s.Uncertain, fmt.Sprintf("%d:%d %s", u.Pos.Line, u.Pos.Col, u.Reason))
	}
	if len(attrs) > 0 {
		s.Attrs = map[string]string{}
		for _, k := range attrs {
			if v, ok := w.Attrs[k]; ok {
				s.Attrs[k] = v
			}
		}
	}
	return s
}

// Compare fails t for every workload that differs from want, field by
// field; attrs are compared only for the keys want lists.
func Compare(t *testing.T, got []workload.Workload, want []Summary) {
	t.Helper()
	if len(got) != len(want) {
		for _, w := range got {
			t.Logf("got %+v", Summarize(w))
		}
		t.Fatalf("got %d workloads, want %d", len(got), len(want))
	}
	for i := range want {
		var keys []string
		for k := range want[i].Attrs {
			keys = append(keys, k)
		}
		g := Summarize(got[i], keys...)
		if want[i].Attrs == nil {
			g.Attrs = nil
		}
		if d := diff(g, want[i]); d != "" {
			t.Errorf("workload %d (%s):\n%s", i, want[i].Name, d)
		}
	}
}

func diff(g, w Summary) string {
	gs, ws := strings.Split(fmt.Sprintf("%#v", g), ", "), strings.Split(fmt.Sprintf("%#v", w), ", ")
	if len(gs) != len(ws) {
		return fmt.Sprintf("got  %#v\nwant %#v", g, w)
	}
	var b strings.Builder
	for i := range gs {
		if gs[i] != ws[i] {
			fmt.Fprintf(&b, "  got  %s\n  want %s\n", gs[i], ws[i])
		}
	}
	return b.String()
}

// Errors formats errors one per line for comparison.
func Errors(errs []*workload.Error) []string {
	out := []string{}
	for _, e := range errs {
		if e.Warning {
			out = append(out, "warning: "+e.Error())
			continue
		}
		out = append(out, e.Error())
	}
	return out
}

// Host condenses h into one line: each namespace, mount, device and
// security option with its position as "line:col".
func Host(h workload.Host) string {
	var out []string
	ns := func(name string, w *workload.Word) {
		if w != nil {
			out = append(out, fmt.Sprintf("%s=%s@%d:%d", name, w.Text, w.Pos.Line, w.Pos.Col))
		}
	}
	ns("pid", h.Namespaces.PID)
	ns("net", h.Namespaces.Network)
	ns("ipc", h.Namespaces.IPC)
	ns("uts", h.Namespaces.UTS)
	ns("user", h.Namespaces.User)
	ns("cgroup", h.Namespaces.Cgroup)
	for _, m := range h.Mounts {
		s := fmt.Sprintf("%s:%s>%s", m.Type, m.Source, m.Target)
		if m.ReadOnly {
			s += ",ro"
		}
		if len(m.Options) > 0 {
			s += "," + strings.Join(m.Options, ",")
		}
		out = append(out, fmt.Sprintf("%s@%d:%d", s, m.Pos.Line, m.Pos.Col))
	}
	for _, d := range h.Devices {
		out = append(out, fmt.Sprintf("dev=%s@%d:%d", d.Text, d.Pos.Line, d.Pos.Col))
	}
	for _, o := range h.SecurityOpt {
		out = append(out, fmt.Sprintf("opt=%s@%d:%d", o.Text, o.Pos.Line, o.Pos.Col))
	}
	return strings.Join(out, " ")
}
