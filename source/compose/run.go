package compose

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/capdrop/capdrop/source/internal/tree"
	"github.com/capdrop/capdrop/source/runargs"
	"github.com/capdrop/capdrop/workload"
)

// modelled are the service keys the workload model carries (in its run
// configuration, its capabilities, its host access) or that do not change
// how the one container runs (depends_on, deploy, healthcheck, logging, …).
// Every other key is recorded in RunConfig.Unmodelled, so a verb that must
// reproduce the container can refuse instead of starting something else.
var modelled = map[string]bool{
	// run configuration (this file)
	"command": true, "entrypoint": true, "environment": true, "env_file": true,
	"working_dir": true, "hostname": true, "domainname": true, "labels": true,
	"tty": true, "stdin_open": true, "read_only": true, "init": true, "stop_signal": true,
	"sysctls": true, "dns": true, "dns_search": true, "dns_opt": true, "group_add": true,
	"extra_hosts": true, "ulimits": true, "shm_size": true, "mem_limit": true,
	"pids_limit": true, "cpus": true, "oom_score_adj": true, "ports": true, "restart": true,
	// capabilities, identity, host access (compose.go and the host reader)
	"image": true, "user": true, "privileged": true, "cap_add": true, "cap_drop": true,
	"security_opt": true, "volumes": true, "tmpfs": true, "devices": true,
	"network_mode": true, "pid": true, "ipc": true, "uts": true, "userns_mode": true, "cgroup": true,
	"extends": true, "container_name": true,
	// not part of how this one container runs
	"build": true, "depends_on": true, "deploy": true, "healthcheck": true, "logging": true,
	"profiles": true, "expose": true, "stop_grace_period": true, "pull_policy": true,
	"platform": true, "scale": true, "develop": true,
}

// run reads a service's run configuration, its extended services' values
// first, by the compose merge rules: a scalar, command and entrypoint of
// the extending service replace the base's; environment, labels, sysctls,
// ulimits and extra_hosts merge key by key (the extending service wins);
// dns, dns_search, dns_opt, group_add, env_file and ports append.
func (r *reader) run(name string, s *svc) workload.RunConfig {
	var rc workload.RunConfig
	last := func(key string) *yaml.Node {
		if ns := s.nodes[key]; len(ns) > 0 && !tree.IsNull(ns[len(ns)-1]) {
			return ns[len(ns)-1]
		}
		return nil
	}
	str := func(key string) (string, *yaml.Node) {
		n := last(key)
		if n == nil {
			return "", nil
		}
		f := r.scalar(n, name)
		if f == nil {
			return "", nil
		}
		return f.text, n
	}
	boolean := func(key string) (bool, bool) {
		v, n := str(key)
		if n == nil {
			return false, false
		}
		b, ok := tree.Bool(v)
		if !ok {
			r.errorf(n, "service %s: %s must be true or false, not %q", name, key, v)
		}
		return b, ok
	}
	integer := func(key string) (int64, bool) {
		v, n := str(key)
		if n == nil {
			return 0, false
		}
		i, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			r.errorf(n, "service %s: %s must be a whole number, not %q", name, key, v)
			return 0, false
		}
		return i, true
	}
	size := func(key string) int64 {
		v, n := str(key)
		if n == nil {
			return 0
		}
		b, err := runargs.ParseSize(v)
		if err != nil {
			r.errorf(n, "service %s: %s: %v", name, key, err)
		}
		return b
	}

	rc.Entrypoint = r.argv(name, last("entrypoint"))
	rc.Command = r.argv(name, last("command"))
	rc.WorkingDir, _ = str("working_dir")
	rc.Hostname, _ = str("hostname")
	rc.Domainname, _ = str("domainname")
	rc.StopSignal, _ = str("stop_signal")
	rc.Restart, _ = str("restart")
	rc.Tty, _ = boolean("tty")
	rc.StdinOpen, _ = boolean("stdin_open")
	rc.ReadOnly, _ = boolean("read_only")
	if b, ok := boolean("init"); ok {
		rc.Init = &b
	}
	rc.ShmSize, rc.Memory = size("shm_size"), size("mem_limit")
	if n, ok := integer("pids_limit"); ok {
		rc.PidsLimit = &n
	}
	if n, ok := integer("oom_score_adj"); ok {
		i := int(n)
		rc.OomScoreAdj = &i
	}
	if v, n := str("cpus"); n != nil {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			r.errorf(n, "service %s: cpus must be a number of CPUs, not %q", name, v)
		}
		rc.NanoCPUs = int64(f * 1e9)
	}

	rc.Labels = r.mapping(name, "labels", s.nodes["labels"], "=")
	rc.Sysctls = r.mapping(name, "sysctls", s.nodes["sysctls"], "=")
	for _, k := range []struct {
		key string
		out *[]string
	}{{"dns", &rc.DNS}, {"dns_search", &rc.DNSSearch}, {"dns_opt", &rc.DNSOptions}, {"group_add", &rc.GroupAdd}} {
		for _, n := range s.nodes[k.key] {
			*k.out = append(*k.out, r.strs(name, k.key, n)...)
		}
	}
	hosts := r.mapping(name, "extra_hosts", s.nodes["extra_hosts"], ":")
	for _, h := range sortedKeys(hosts) {
		rc.ExtraHosts = append(rc.ExtraHosts, h+":"+hosts[h])
	}
	rc.Ulimits = r.ulimits(name, s.nodes["ulimits"])
	for _, n := range s.nodes["ports"] {
		for _, it := range r.w.Items(n) {
			if f := r.scalar(it, name); f != nil {
				rc.Ports = append(rc.Ports, workload.Word{Text: f.text, Pos: r.pos(it)})
			} else if tree.IsMap(it) {
				rc.Ports = append(rc.Ports, workload.Word{Text: "(long syntax)", Pos: r.pos(it)})
			}
		}
	}

	// The environment: env files first, then environment, a later value
	// of a variable replacing an earlier one in place.
	env := newEnv()
	for _, n := range s.nodes["env_file"] {
		r.envFiles(name, n, env)
	}
	for _, n := range s.nodes["environment"] {
		r.environment(name, n, env)
	}
	rc.Env = env.list()

	for _, k := range sortedKeys(s.keys) {
		if modelled[k] || strings.HasPrefix(k, "x-") {
			continue
		}
		if k == "networks" && onlyDefaultNetwork(r.w, s.nodes[k]) {
			continue
		}
		rc.Unmodelled = append(rc.Unmodelled, workload.Word{Text: k, Pos: r.pos(s.keys[k])})
	}
	if last("image") == nil && last("build") != nil {
		rc.Unmodelled = append(rc.Unmodelled, workload.Word{Text: "build (no image)", Pos: r.pos(s.keys["build"])})
	}
	return rc
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// onlyDefaultNetwork reports whether networks names nothing but the
// project's default network, which a container on its own has too.
func onlyDefaultNetwork(w *tree.Walker, ns []*yaml.Node) bool {
	for _, n := range ns {
		switch {
		case tree.IsSeq(n):
			for _, it := range w.Items(n) {
				if v, _ := tree.Scalar(it); v != "default" {
					return false
				}
			}
		case tree.IsMap(n):
			for _, p := range w.Pairs(n) {
				if p.Key.Value != "default" {
					return false
				}
			}
		case !tree.IsNull(n):
			return false
		}
	}
	return true
}

// argv reads command or entrypoint: a list, or a string split into words
// as a shell would, without expanding anything.
func (r *reader) argv(service string, n *yaml.Node) *[]string {
	if n == nil {
		return nil
	}
	out := []string{}
	if tree.IsSeq(n) {
		for _, it := range r.w.Items(n) {
			if f := r.scalar(it, service); f != nil {
				out = append(out, f.text)
			}
		}
		return &out
	}
	f := r.scalar(n, service)
	if f == nil {
		return nil
	}
	words, err := runargs.Split(f.text)
	if err != nil {
		r.errorf(n, "service %s: %v", service, err)
		return nil
	}
	return &words
}

// strs reads a string or a list of strings.
func (r *reader) strs(service, key string, n *yaml.Node) []string {
	if tree.IsNull(n) {
		return nil
	}
	if tree.IsSeq(n) {
		var out []string
		for _, f := range r.list(n, service, key) {
			out = append(out, f.text)
		}
		return out
	}
	if f := r.scalar(n, service); f != nil && f.text != "" {
		return []string{f.text}
	}
	return nil
}

// mapping folds mappings or lists of KEY=VALUE (KEY:VALUE for sep ":")
// into one map, later values winning. A list item without a value maps to
// "".
func (r *reader) mapping(service, key string, ns []*yaml.Node, sep string) map[string]string {
	var out map[string]string
	for _, n := range ns {
		pairs := r.pairs(service, key, n, sep)
		for _, p := range pairs {
			if out == nil {
				out = map[string]string{}
			}
			out[p.key] = p.value
		}
	}
	return out
}

type pair struct {
	key, value string
	hasValue   bool
}

// pairs reads a mapping or a list of KEY=VALUE items, in order.
func (r *reader) pairs(service, key string, n *yaml.Node, sep string) []pair {
	var out []pair
	switch {
	case tree.IsNull(n):
	case tree.IsMap(n):
		for _, p := range r.w.Pairs(n) {
			if tree.IsNull(p.Value) {
				out = append(out, pair{key: p.Key.Value})
				continue
			}
			if f := r.scalar(p.Value, service); f != nil {
				out = append(out, pair{p.Key.Value, f.text, true})
			}
		}
	case tree.IsSeq(n):
		for _, f := range r.list(n, service, key) {
			k, v, ok := strings.Cut(f.text, sep)
			if !ok && sep == ":" {
				k, v, ok = strings.Cut(f.text, "=") // extra_hosts also take HOST=ADDRESS
			}
			out = append(out, pair{k, v, ok})
		}
	default:
		r.errorf(n, "service %s: %s must be a mapping or a list", service, key)
	}
	return out
}

func (r *reader) ulimits(service string, ns []*yaml.Node) []workload.Ulimit {
	limits := map[string]workload.Ulimit{}
	num := func(n *yaml.Node) (int64, bool) {
		f := r.scalar(n, service)
		if f == nil {
			return 0, false
		}
		v, err := strconv.ParseInt(f.text, 10, 64)
		if err != nil {
			r.errorf(n, "service %s: ulimits: %q is not a number", service, f.text)
			return 0, false
		}
		return v, true
	}
	for _, n := range ns {
		if !tree.IsMap(n) {
			if !tree.IsNull(n) {
				r.errorf(n, "service %s: ulimits must be a mapping", service)
			}
			continue
		}
		for _, p := range r.w.Pairs(n) {
			u := workload.Ulimit{Name: p.Key.Value}
			if tree.IsMap(p.Value) {
				soft, ok1 := num(r.w.Get(p.Value, "soft"))
				hard, ok2 := num(r.w.Get(p.Value, "hard"))
				if !ok1 || !ok2 {
					continue
				}
				u.Soft, u.Hard = soft, hard
			} else {
				v, ok := num(p.Value)
				if !ok {
					continue
				}
				u.Soft, u.Hard = v, v
			}
			limits[u.Name] = u
		}
	}
	var out []workload.Ulimit
	for _, k := range sortedKeys(limits) {
		out = append(out, limits[k])
	}
	return out
}

// env is an ordered environment: a variable set again keeps its place.
type env struct {
	order []string
	vals  map[string]string
}

func newEnv() *env { return &env{vals: map[string]string{}} }

func (e *env) set(k, v string) {
	if _, ok := e.vals[k]; !ok {
		e.order = append(e.order, k)
	}
	e.vals[k] = v
}

func (e *env) list() []string {
	var out []string
	for _, k := range e.order {
		out = append(out, k+"="+e.vals[k])
	}
	return out
}

// environment reads environment: a variable without a value takes the
// one compose itself sees (the shell's, then .env), or is left out when
// unset, as docker compose does.
func (r *reader) environment(service string, n *yaml.Node, e *env) {
	for _, p := range r.pairs(service, "environment", n, "=") {
		if p.hasValue {
			e.set(p.key, p.value)
			continue
		}
		if v, ok := r.lookup(p.key); ok {
			e.set(p.key, v)
		}
	}
}

// envFiles reads env_file: a path, a list of paths, or a list of
// {path, required} (compose 2.24+), relative to the compose file.
func (r *reader) envFiles(service string, n *yaml.Node, e *env) {
	type file struct {
		path     string
		required bool
		node     *yaml.Node
	}
	var files []file
	switch {
	case tree.IsNull(n):
	case tree.IsSeq(n):
		for _, it := range r.w.Items(n) {
			if tree.IsMap(it) {
				f := r.scalar(r.w.Get(it, "path"), service)
				if f == nil {
					r.errorf(it, "service %s: env_file item without a path", service)
					continue
				}
				req := true
				if rq := r.scalar(r.w.Get(it, "required"), service); rq != nil {
					req, _ = tree.Bool(rq.text)
				}
				files = append(files, file{f.text, req, it})
				continue
			}
			if f := r.scalar(it, service); f != nil {
				files = append(files, file{f.text, true, it})
			}
		}
	default:
		if f := r.scalar(n, service); f != nil {
			files = append(files, file{f.text, true, n})
		}
	}
	for _, f := range files {
		p := f.path
		if !filepath.IsAbs(p) && r.file != "" {
			p = filepath.Join(filepath.Dir(r.file), p)
		}
		data, err := r.readFile(p)
		if err != nil {
			if f.required || !errors.Is(err, os.ErrNotExist) {
				r.errorf(f.node, "service %s: env_file %s: %v", service, f.path, err)
			}
			continue
		}
		vals, order := parseEnvFile(data)
		for _, k := range order {
			e.set(k, vals[k])
		}
	}
}

// parseEnvFile reads an env_file: KEY=VALUE lines, # comments, an optional
// "export ", values in matching quotes unquoted. It returns the values and
// the keys in order.
func parseEnvFile(b []byte) (map[string]string, []string) {
	m := ParseDotEnv(b)
	var order []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimPrefix(strings.TrimSpace(line), "export ")
		k, _, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.HasPrefix(k, "#") || slices.Contains(order, k) {
			continue
		}
		if _, ok := m[k]; ok {
			order = append(order, k)
		}
	}
	return m, order
}
