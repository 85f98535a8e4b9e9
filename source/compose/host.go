package compose

import (
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/capdrop/capdrop/source/internal/tree"
	"github.com/capdrop/capdrop/source/runargs"
	"github.com/capdrop/capdrop/workload"
)

// hostKeys are the service keys that share a host namespace, and the
// namespace each one sets.
var hostKeys = map[string]string{
	"pid": "pid", "network_mode": "network", "ipc": "ipc", "uts": "uts", "userns_mode": "user", "cgroup": "cgroup",
}

// hostSvc is what a service opens onto its host, extends applied: the
// extending service's namespace settings win; volumes merge by target,
// devices and security options are the union (compose's merge rules).
type hostSvc struct {
	namespaces map[string]*field
	volumes    []workload.Mount
	devices    []field
}

// hostKey reads one service key into s when it is a host-access key and
// reports whether it was one.
func (r *reader) hostKey(s *svc, kv tree.Pair, service string) bool {
	if ns, ok := hostKeys[kv.Key.Value]; ok {
		if s.host.namespaces == nil {
			s.host.namespaces = map[string]*field{}
		}
		s.host.namespaces[ns] = r.scalar(kv.Value, service)
		return true
	}
	switch kv.Key.Value {
	case "volumes":
		for _, m := range r.volumes(kv.Value, service) {
			s.host.volumes = mergeMount(s.host.volumes, m)
		}
	case "devices":
		s.host.devices = union(s.host.devices, r.devices(kv.Value, service))
	case "tmpfs":
		// A path or a list of paths, each PATH[:OPTIONS] as docker run
		// --tmpfs takes it.
		items := []*yaml.Node{kv.Value}
		if tree.IsSeq(kv.Value) {
			items = r.w.Items(kv.Value)
		}
		for _, it := range items {
			if f := r.scalar(it, service); f != nil && f.text != "" {
				s.host.volumes = mergeMount(s.host.volumes, runargs.ParseTmpfs(f.text, r.pos(it)))
			}
		}
	default:
		return false
	}
	return true
}

// mergeMount adds m, replacing a mount at the same target.
func mergeMount(ms []workload.Mount, m workload.Mount) []workload.Mount {
	for i := range ms {
		if ms[i].Target == m.Target {
			out := append([]workload.Mount(nil), ms...)
			out[i] = m
			return out
		}
	}
	return append(ms, m)
}

// volumes reads a service's volumes: the short syntax (docker -v's) and
// the long one (type, source, target, read_only).
func (r *reader) volumes(n *yaml.Node, service string) []workload.Mount {
	if n == nil || n.Tag == "!!null" {
		return nil
	}
	if !tree.IsSeq(n) {
		r.errorf(n, "service %s: volumes must be a list", service)
		return nil
	}
	var out []workload.Mount
	for _, it := range r.w.Items(n) {
		switch {
		case it.Kind == yaml.ScalarNode:
			if v, ok := r.interpolate(it, service); ok {
				out = append(out, runargs.ParseVolume(v, r.pos(it)))
			}
		case tree.IsMap(it):
			m := workload.Mount{Type: "volume", Pos: r.pos(it)}
			for _, kv := range r.w.Pairs(it) {
				if tree.IsMap(kv.Value) {
					// bind: {propagation}, volume: {nocopy}, tmpfs: {size,
					// mode}: options of the mount, as the engine takes them.
					m.Options = append(m.Options, r.mountOptions(kv.Key.Value, kv.Value, service)...)
					continue
				}
				f := r.scalar(kv.Value, service)
				if f == nil {
					continue
				}
				switch kv.Key.Value {
				case "type":
					switch f.text {
					case "bind", "volume", "tmpfs":
						m.Type = f.text
					default:
						m.Type = "other"
						m.Options = append(m.Options, "type="+f.text)
					}
				case "source":
					m.Source = f.text
				case "target":
					m.Target = f.text
				case "read_only":
					m.ReadOnly, _ = tree.Bool(f.text)
				}
			}
			if m.Type == "volume" && runargs.HostPathSource(m.Source) && m.Source != "" {
				// A long-syntax volume without a type is a bind when its
				// source is a path, as in the short syntax.
				m.Type = "bind"
			}
			out = append(out, m)
		default:
			r.errorf(it, "service %s: volumes items must be strings or mappings", service)
		}
	}
	return out
}

// devices reads "HOST[:CONTAINER[:PERMISSIONS]]" strings and the long
// syntax's mappings (source, target, permissions).
func (r *reader) devices(n *yaml.Node, service string) []field {
	if n == nil || n.Tag == "!!null" {
		return nil
	}
	if !tree.IsSeq(n) {
		r.errorf(n, "service %s: devices must be a list", service)
		return nil
	}
	var out []field
	for _, it := range r.w.Items(n) {
		switch {
		case it.Kind == yaml.ScalarNode:
			if v, ok := r.interpolate(it, service); ok {
				out = append(out, field{text: v, node: it})
			}
		case tree.IsMap(it):
			if f := r.scalar(r.w.Get(it, "source"), service); f != nil {
				out = append(out, field{text: f.text, node: it})
			}
		default:
			r.errorf(it, "service %s: devices items must be strings or mappings", service)
		}
	}
	return out
}

// host fills w.Host from s.
func (r *reader) host(w *workload.Workload, s *svc) {
	h := &w.Host
	word := func(ns string) *workload.Word {
		f := s.host.namespaces[ns]
		if f == nil || f.text == "" {
			return nil
		}
		return &workload.Word{Text: f.text, Pos: r.pos(f.node)}
	}
	h.Namespaces = workload.Namespaces{PID: word("pid"), Network: word("network"), IPC: word("ipc"),
		UTS: word("uts"), User: word("user"), Cgroup: word("cgroup")}
	for _, m := range s.host.volumes {
		if m.Type == "volume" && m.Source != "" {
			m.Source = r.volumeName(m.Source)
		}
		h.Mounts = append(h.Mounts, m)
	}
	h.Devices = r.words(s.host.devices)
	for _, o := range s.securityOpt {
		if v, ok := runargs.SecurityOpt(o.text); ok {
			h.SecurityOpt = append(h.SecurityOpt, workload.Word{Text: v, Pos: r.pos(o.node)})
		}
	}
	if len(h.Devices) == 0 {
		h.Devices = nil
	}
}

// mountOptions reads the bind, volume or tmpfs sub-mapping of a long-syntax
// volume into the options the engine takes (propagation, nocopy, size=…,
// mode=…).
func (r *reader) mountOptions(kind string, n *yaml.Node, service string) []string {
	var out []string
	for _, kv := range r.w.Pairs(n) {
		f := r.scalar(kv.Value, service)
		if f == nil {
			continue
		}
		switch k := kv.Key.Value; {
		case kind == "bind" && k == "propagation":
			out = append(out, f.text)
		case kind == "volume" && k == "nocopy":
			if b, _ := tree.Bool(f.text); b {
				out = append(out, "nocopy")
			}
		case kind == "tmpfs" && (k == "size" || k == "mode"):
			out = append(out, k+"="+f.text)
		}
	}
	return out
}

// volumeName is the engine's name of a named volume, as docker compose
// creates it: the top-level volume's name:, the name itself for an
// external volume, else PROJECT_NAME.
func (r *reader) volumeName(name string) string {
	if v, ok := r.topVolumes[name]; ok {
		if v.name != "" {
			return v.name
		}
		if v.external {
			return name
		}
	}
	if r.projectName == "" {
		return name
	}
	return r.projectName + "_" + name
}

// topVolume is a top-level volumes: entry.
type topVolume struct {
	name     string
	external bool
}

// project reads the project's name and its top-level volumes: the name is
// the top-level name:, COMPOSE_PROJECT_NAME, or the compose file's
// directory, normalised as docker compose does (lower case, only a-z, 0-9,
// - and _).
func (r *reader) project(root *yaml.Node) {
	name, _ := r.lookup("COMPOSE_PROJECT_NAME")
	if n := r.w.Get(root, "name"); name == "" && n != nil {
		if f := r.scalar(n, "(top level)"); f != nil {
			name = f.text
		}
	}
	if name == "" && r.file != "" {
		if abs, err := filepath.Abs(r.file); err == nil {
			name = filepath.Base(filepath.Dir(abs))
		}
	}
	var b strings.Builder
	for _, c := range strings.ToLower(name) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' {
			b.WriteRune(c)
		}
	}
	r.projectName = b.String()
	r.topVolumes = map[string]topVolume{}
	vols := r.w.Get(root, "volumes")
	if !tree.IsMap(vols) {
		return
	}
	for _, p := range r.w.Pairs(vols) {
		var v topVolume
		if tree.IsMap(p.Value) {
			if f := r.scalar(r.w.Get(p.Value, "name"), "(top level)"); f != nil {
				v.name = f.text
			}
			if f := r.scalar(r.w.Get(p.Value, "external"), "(top level)"); f != nil {
				v.external, _ = tree.Bool(f.text)
			}
		}
		r.topVolumes[p.Key.Value] = v
	}
}
