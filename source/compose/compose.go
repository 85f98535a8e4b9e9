// Package compose reads Docker Compose files (the compose spec, file
// formats 2 and 3): each service becomes a workload.Workload with its
// cap_add, cap_drop, privileged, user, security_opt, image and
// container_name, and what it opens onto the host (volumes, devices, pid,
// network_mode, ipc, uts, userns_mode, cgroup), after ${VAR}
// interpolation, YAML anchors, aliases and << merges, and extends within
// the same file.
package compose

import (
	"cmp"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/capdrop/capdrop/internal/input"
	"github.com/capdrop/capdrop/source/internal/tree"
	"github.com/capdrop/capdrop/source/runargs"
	"github.com/capdrop/capdrop/workload"
)

// Options tune reading.
type Options struct {
	// Env is the environment for interpolation; nil means the process
	// environment. It wins over DotEnv, as the shell wins over .env in
	// docker compose.
	Env map[string]string
	// DotEnv holds the variables of the .env file beside the compose file.
	DotEnv map[string]string
	// Runtime overrides the runtime (Docker when empty).
	Runtime workload.Runtime
	// ReadFile reads an env_file (relative to the compose file's
	// directory); nil reads regular files only, of bounded size.
	ReadFile func(path string) ([]byte, error)
}

// Parse reads a compose file.
func Parse(file string, data []byte, opts Options) ([]workload.Workload, []*workload.Error) {
	docs, errs := tree.SplitYAML(file, data)
	ws, more := FromDocs(file, docs, opts)
	return ws, append(errs, more...)
}

// IsCompose reports whether a document's root is a compose file: a
// mapping with a services mapping and no Kubernetes apiVersion/kind.
func IsCompose(root *yaml.Node) bool {
	w := tree.NewWalker(0)
	s := w.Get(root, "services")
	if s == nil || (!tree.IsMap(s) && s.Tag != "!!null") {
		return false
	}
	_, k := tree.Scalar(w.Get(root, "kind"))
	_, a := tree.Scalar(w.Get(root, "apiVersion"))
	return !(k && a)
}

// FromDocs reads parsed documents (a compose file has one).
func FromDocs(file string, docs []tree.Doc, opts Options) ([]workload.Workload, []*workload.Error) {
	rt := opts.Runtime
	if rt == "" {
		rt = workload.Docker
	}
	lookup := func(name string) (string, bool) {
		if opts.Env != nil {
			if v, ok := opts.Env[name]; ok {
				return v, true
			}
		} else if v, ok := os.LookupEnv(name); ok {
			return v, true
		}
		v, ok := opts.DotEnv[name]
		return v, ok
	}
	r := &reader{file: file, runtime: rt, lookup: lookup, readFile: opts.ReadFile}
	if r.readFile == nil {
		r.readFile = func(p string) ([]byte, error) { return input.ReadFile(p, input.DefaultLimit) }
	}
	for _, d := range docs {
		r.w = tree.WalkerFor(d)
		r.doc(d.Root)
		if r.w.Err != nil {
			r.errorf(d.Root, "%w", r.w.Err)
		}
	}
	return r.out, r.errs
}

type reader struct {
	readFile    func(string) ([]byte, error)
	projectName string               // volumes are named after it
	topVolumes  map[string]topVolume // the top-level volumes
	file        string
	runtime     workload.Runtime
	lookup      Lookup
	w           *tree.Walker
	out         []workload.Workload
	errs        []*workload.Error
	services    map[string]tree.Pair
	// resolved holds each service's settings once worked out (nil while
	// being worked out), so a chain of extends is followed once, not once
	// per service built on it.
	resolved map[string]*svc
	// unset collects the variables without a value met by interpolate,
	// for service to charge to the key being read.
	unset []unsetVar
}

// unsetVar is a value holding variables that have no value and no
// default: compose makes them empty.
type unsetVar struct {
	names []string
	node  *yaml.Node
}

// decides are the service keys whose values decide the container's
// capabilities, privileges and host access: a variable without a value
// in one of them makes the workload uncertain. The value of true marks a
// key whose extending service's value replaces the base's (a scalar);
// the others merge.
var decides = map[string]bool{
	"image": true, "privileged": true, "user": true,
	"pid": true, "network_mode": true, "ipc": true, "uts": true, "userns_mode": true, "cgroup": true,
	"cap_add": false, "cap_drop": false, "security_opt": false, "volumes": false, "devices": false,
}

func (r *reader) pos(n *yaml.Node) workload.Position {
	return workload.Position{File: r.file, Line: n.Line, Col: n.Column}
}

func (r *reader) ptr(n *yaml.Node) *workload.Position {
	p := r.pos(n)
	return &p
}

func (r *reader) errorf(n *yaml.Node, format string, args ...any) {
	r.errs = append(r.errs, &workload.Error{Pos: r.pos(n), Err: fmt.Errorf(format, args...)})
}

func (r *reader) doc(root *yaml.Node) {
	if !IsCompose(root) {
		return
	}
	services := r.w.Get(root, "services")
	if !tree.IsMap(services) {
		return
	}
	r.services = map[string]tree.Pair{}
	r.resolved = map[string]*svc{}
	r.project(root)
	pairs := r.w.Pairs(services)
	for _, p := range pairs {
		r.services[p.Key.Value] = p
	}
	for _, p := range pairs {
		if !tree.IsMap(p.Value) && p.Value.Tag != "!!null" {
			r.errorf(p.Value, "service %s must be a mapping", p.Key.Value)
			continue
		}
		s := r.service(p.Key.Value)
		if s == nil {
			continue
		}
		r.out = append(r.out, r.workload(p, s))
	}
}

// svc is a service's capability-relevant settings, extends applied.
type svc struct {
	image, containerName           *field
	privileged, user               *field
	capAdd, capDrop, securityOpt   []field
	capAddKey, capDropKey, mapping *yaml.Node
	extends                        []string
	host                           hostSvc
	// uncertain holds, by key, the variables without a value in the
	// keys that decide capabilities, privileges and host access.
	uncertain map[string][]workload.Uncertainty
	// nodes holds every key's values, extended services' first: run.go
	// folds them by the compose merge rules.
	nodes map[string][]*yaml.Node
	keys  map[string]*yaml.Node // the last key node of each key, for positions
}

// field is one interpolated scalar with its node.
type field struct {
	text string
	node *yaml.Node
}

// service collects a service's settings, following extends (in this file)
// with the compose merge rules: scalars of the extending service win;
// cap_add, cap_drop and security_opt are the union, base first.
func (r *reader) service(name string) *svc {
	p, ok := r.services[name]
	if !ok {
		return nil
	}
	if s, done := r.resolved[name]; done {
		if s == nil {
			r.errorf(p.Key, "service %s: extends cycle", name)
		}
		return s
	}
	r.resolved[name] = nil
	s := &svc{mapping: p.Value}
	if ext := r.w.Get(p.Value, "extends"); ext != nil {
		base, file := "", ""
		if v, ok := tree.Scalar(ext); ok {
			base = v
		} else {
			base, _ = tree.Scalar(r.w.Get(ext, "service"))
			file, _ = tree.Scalar(r.w.Get(ext, "file"))
		}
		switch {
		case file != "":
			r.errorf(ext, "service %s: extends from another file (%s) is not followed; its settings are not audited", name, file)
		case base == "":
			r.errorf(ext, "service %s: extends needs a service name", name)
		default:
			if _, ok := r.services[base]; !ok {
				r.errorf(ext, "service %s extends unknown service %s", name, base)
			} else if b := r.service(base); b != nil && r.w.Spend(b.size()) {
				*s = b.clone()
				s.mapping = p.Value
				s.extends = append([]string{base}, b.extends...)
				s.nodes, s.keys = maps.Clone(b.nodes), maps.Clone(b.keys)
			}
		}
	}
	if s.nodes == nil {
		s.nodes, s.keys = map[string][]*yaml.Node{}, map[string]*yaml.Node{}
	}
	for _, kv := range r.w.Pairs(p.Value) {
		k := kv.Key.Value
		s.nodes[k] = append(slices.Clone(s.nodes[k]), kv.Value)
		s.keys[k] = kv.Key
		r.unset = r.unset[:0]
		switch kv.Key.Value {
		case "image":
			s.image = r.scalar(kv.Value, name)
		case "container_name":
			s.containerName = r.scalar(kv.Value, name)
		case "privileged":
			s.privileged = r.scalar(kv.Value, name)
		case "user":
			s.user = r.scalar(kv.Value, name)
		case "cap_add":
			s.capAdd, s.capAddKey = union(s.capAdd, r.list(kv.Value, name, "cap_add")), kv.Key
		case "cap_drop":
			s.capDrop, s.capDropKey = union(s.capDrop, r.list(kv.Value, name, "cap_drop")), kv.Key
		case "security_opt":
			s.securityOpt = union(s.securityOpt, r.list(kv.Value, name, "security_opt"))
		default:
			r.hostKey(s, kv, name)
		}
		r.charge(s, k)
	}
	r.resolved[name] = s
	return s
}

// charge records the variables without a value that reading key met as
// the service's uncertainty about that key: replacing a base service's
// for a scalar key, beside it for a list.
func (r *reader) charge(s *svc, key string) {
	replace, ok := decides[key]
	if !ok {
		return
	}
	var us []workload.Uncertainty
	for _, u := range r.unset {
		var vars []string
		for _, n := range u.names {
			vars = append(vars, "${"+n+"}")
		}
		us = append(us, workload.Uncertainty{Pos: r.pos(u.node), Reason: fmt.Sprintf(
			"%s: %s %s no value here and no default (not in the environment or .env), so compose makes it empty; where it is set, the container may differ",
			key, strings.Join(vars, ", "), map[bool]string{true: "has", false: "have"}[len(vars) == 1])})
	}
	if replace {
		if len(us) == 0 && s.uncertain[key] == nil {
			return
		}
		if s.uncertain == nil {
			s.uncertain = map[string][]workload.Uncertainty{}
		}
		s.uncertain[key] = us
		return
	}
	if len(us) > 0 {
		if s.uncertain == nil {
			s.uncertain = map[string][]workload.Uncertainty{}
		}
		s.uncertain[key] = append(slices.Clone(s.uncertain[key]), us...)
	}
}

// size is what copying s costs, for the walk budget: every service built
// on a base holds a copy of the base's lists.
func (s *svc) size() int {
	return 1 + len(s.capAdd) + len(s.capDrop) + len(s.securityOpt) + len(s.extends) +
		len(s.host.namespaces) + len(s.host.volumes) + len(s.host.devices)
}

// clone copies s so that a service built on it can change its own copy.
func (s *svc) clone() svc {
	c := *s
	c.capAdd, c.capDrop, c.securityOpt = slices.Clone(s.capAdd), slices.Clone(s.capDrop), slices.Clone(s.securityOpt)
	c.extends = slices.Clone(s.extends)
	c.uncertain = maps.Clone(s.uncertain)
	c.host.namespaces = maps.Clone(s.host.namespaces)
	c.host.volumes, c.host.devices = slices.Clone(s.host.volumes), slices.Clone(s.host.devices)
	return c
}

func union(base, more []field) []field {
	out := slices.Clone(base)
	have := make(map[string]bool, len(base))
	for _, b := range base {
		have[b.text] = true
	}
	for _, m := range more {
		if !have[m.text] {
			out = append(out, m)
		}
	}
	return out
}

func (r *reader) interpolate(n *yaml.Node, service string) (string, bool) {
	v, unset, err := Interpolate(n.Value, r.lookup)
	if err != nil {
		r.errorf(n, "service %s: %v", service, err)
		return "", false
	}
	if len(unset) > 0 {
		r.unset = append(r.unset, unsetVar{names: slices.Compact(slices.Sorted(slices.Values(unset))), node: n})
	}
	return v, true
}

func (r *reader) scalar(n *yaml.Node, service string) *field {
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		if n != nil && n.Tag != "!!null" {
			r.errorf(n, "service %s: expected a single value", service)
		}
		return nil
	}
	v, ok := r.interpolate(n, service)
	if !ok {
		return nil
	}
	return &field{text: v, node: n}
}

func (r *reader) list(n *yaml.Node, service, key string) []field {
	if n == nil || n.Tag == "!!null" {
		return nil
	}
	if !tree.IsSeq(n) {
		r.errorf(n, "service %s: %s must be a list", service, key)
		return nil
	}
	var out []field
	for _, it := range r.w.Items(n) {
		if it.Kind != yaml.ScalarNode {
			r.errorf(it, "service %s: %s items must be strings", service, key)
			continue
		}
		if v, ok := r.interpolate(it, service); ok {
			out = append(out, field{text: v, node: it})
		}
	}
	return out
}

func (r *reader) words(fs []field) []workload.Word {
	out := []workload.Word{}
	for _, f := range fs {
		out = append(out, workload.Word{Text: f.text, Pos: r.pos(f.node)})
	}
	return out
}

func (r *reader) workload(p tree.Pair, s *svc) workload.Workload {
	name := p.Key.Value
	w := workload.Workload{
		Pos: r.pos(p.Key), Kind: workload.ComposeService, Name: name, Runtime: r.runtime,
		CapAdd: r.words(s.capAdd), CapDrop: r.words(s.capDrop),
		Attrs: map[string]string{"service": name},
	}
	if s.image != nil {
		w.Image = s.image.text
	}
	if s.containerName != nil {
		w.Attrs["container_name"] = s.containerName.text
	}
	if len(s.extends) > 0 {
		w.Attrs["extends"] = strings.Join(s.extends, " ")
	}
	if f := s.privileged; f != nil {
		v, ok := tree.Bool(f.text)
		if !ok {
			r.errorf(f.node, "service %s: privileged must be true or false, not %q", name, f.text)
		} else {
			w.Privileged, w.PrivilegedPos = v, r.ptr(f.node)
		}
	}
	if f := s.user; f != nil && f.text != "" {
		w.User, w.UserPos = f.text, r.ptr(f.node)
	}
	for _, o := range s.securityOpt {
		if on, ok := runargs.NoNewPrivileges(o.text); ok {
			w.NoNewPrivs, w.NoNewPrivsPos = &on, r.ptr(o.node)
		}
	}
	r.host(&w, s)
	w.Run = r.run(name, s)
	for _, k := range slices.Sorted(maps.Keys(s.uncertain)) {
		w.Uncertain = append(w.Uncertain, s.uncertain[k]...)
	}
	slices.SortStableFunc(w.Uncertain, func(a, b workload.Uncertainty) int {
		return cmp.Or(cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Col, b.Pos.Col))
	})
	switch {
	case s.capAddKey != nil:
		w.CapsPos = r.ptr(s.capAddKey)
	case s.capDropKey != nil:
		w.CapsPos = r.ptr(s.capDropKey)
	case tree.IsMap(p.Value) && len(p.Value.Content) > 0:
		w.CapsPos = r.ptr(p.Value)
	default:
		w.CapsPos = r.ptr(p.Key)
	}
	return w
}
