package verify

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/capdrop/capdrop/internal/input"
	"github.com/capdrop/capdrop/source/compose"
)

// ComposeKeys says what capdrop verify does with each key of a compose
// service: "reproduced" (the trial gets it), "ignored" (left out on
// purpose, with the reason) or "refused" (the service cannot be verified
// faithfully from the file; the reason says what to do instead). Keys not
// listed are refused. docs/verify.md prints this table.
var ComposeKeys = map[string]string{
	"image": "reproduced", "command": "reproduced", "entrypoint": "reproduced",
	"environment": "reproduced", "env_file": "reproduced", "user": "reproduced",
	"working_dir": "reproduced", "hostname": "reproduced", "domainname": "reproduced",
	"labels": "reproduced", "tty": "reproduced", "stdin_open": "reproduced",
	"stop_signal": "reproduced", "read_only": "reproduced", "init": "reproduced",
	"sysctls": "reproduced", "cap_add": "reproduced (as the starting set)",
	"cap_drop": "reproduced (as the starting set)", "privileged": "reproduced (as the starting set)",
	"security_opt": "reproduced", "volumes": "reproduced", "tmpfs": "reproduced",
	"network_mode": "reproduced (none, host, bridge)", "pid": "reproduced (host)",
	"ipc": "reproduced (host, private, shareable, none)", "devices": "reproduced",
	"ulimits": "reproduced", "shm_size": "reproduced", "extra_hosts": "reproduced",
	"dns": "reproduced", "dns_search": "reproduced", "dns_opt": "reproduced",
	"group_add": "reproduced", "mem_limit": "reproduced", "pids_limit": "reproduced",
	"cpus": "reproduced", "oom_score_adj": "reproduced", "userns_mode": "reproduced",

	"ports":             "ignored: trials never publish host ports (probes use the container's address)",
	"expose":            "ignored: only documents ports",
	"container_name":    "ignored: each trial gets its own name",
	"restart":           "ignored: a trial runs once",
	"depends_on":        "ignored: capdrop starts only this service; start what it depends on yourself",
	"healthcheck":       "ignored: use --check-exec, --check-http or --check-tcp",
	"deploy":            "ignored: swarm and resource placement do not change capability needs",
	"logging":           "ignored: capdrop reads the trial's output itself",
	"profiles":          "ignored",
	"stop_grace_period": "ignored: capdrop kills trials",
	"pull_policy":       "ignored: the image must be present",
	"platform":          "ignored: the engine's own platform is used",
	"build":             "ignored when image is set (the trial runs that image); refused otherwise: build it first",

	"networks":       "refused: a trial runs alone on Docker's default bridge; start the project and verify with docker run arguments and --network PROJECT_NETWORK",
	"links":          "refused: a trial runs alone; use docker run arguments with --network",
	"external_links": "refused: a trial runs alone; use docker run arguments with --network",
	"volumes_from":   "refused: use docker run arguments with --volumes-from",
	"extends":        "refused: capdrop does not resolve extends",
	"secrets":        "refused: capdrop does not mount compose secrets",
	"configs":        "refused: capdrop does not mount compose configs",
}

// composeEnv looks a variable up for interpolation: the process
// environment first, then the project's .env file.
type composeEnv struct {
	getenv func(string) (string, bool)
	dotenv map[string]string
}

// interpolate expands ${VAR} forms as Compose does (compose.Interpolate).
func (e composeEnv) interpolate(s string) (string, error) {
	out, _, err := compose.Interpolate(s, e.lookup)
	return out, err
}

func (e composeEnv) lookup(name string) (string, bool) {
	if v, ok := e.getenv(name); ok {
		return v, true
	}
	v, ok := e.dotenv[name]
	return v, ok
}

// FromCompose returns the target for one service of a compose file. The
// file is read as Docker Compose reads it for this service: variables are
// interpolated from getenv (the process environment when nil) and the .env
// file beside it, relative paths are relative to the file's directory,
// named volumes are prefixed with the project name. Every key is reproduced,
// ignored with a note, or refused (see ComposeKeys); refusals name the file,
// line and key, all of them at once. With service "" the file must have
// exactly one service.
func FromCompose(path, service string, getenv func(string) (string, bool)) (*Target, error) {
	if getenv == nil {
		getenv = os.LookupEnv
	}
	data, err := input.ReadFile(path, input.DefaultLimit)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(abs)
	env := composeEnv{getenv: getenv, dotenv: map[string]string{}}
	switch b, err := input.ReadFile(filepath.Join(dir, ".env"), input.DefaultLimit); {
	case err == nil:
		env.dotenv = compose.ParseDotEnv(b)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("the .env beside %s: %w", path, err)
	}
	return parseCompose(data, path, dir, service, env)
}

// ComposeError is a problem at a place in a compose file.
type ComposeError struct {
	File string
	Line int
	Msg  string
}

func (e *ComposeError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

func parseCompose(data []byte, file, dir, service string, env composeEnv) (*Target, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &ComposeError{File: file, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil, &ComposeError{File: file, Msg: "not a compose file: the top level is not a mapping"}
	}
	top := root.Content[0]
	services := mapValue(top, "services")
	if services == nil || services.Kind != yaml.MappingNode {
		return nil, &ComposeError{File: file, Msg: "no services: mapping"}
	}
	servicesLine := services.Line
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "services" {
			servicesLine = top.Content[i].Line
		}
	}
	var names []string
	for i := 0; i+1 < len(services.Content); i += 2 {
		names = append(names, services.Content[i].Value)
	}
	if service == "" {
		if len(names) != 1 {
			return nil, &ComposeError{File: file, Line: servicesLine, Msg: fmt.Sprintf("%d services (%s): choose one with --service", len(names), strings.Join(names, ", "))}
		}
		service = names[0]
	}
	svcNode := mapValue(services, service)
	if svcNode == nil {
		return nil, &ComposeError{File: file, Line: servicesLine, Msg: fmt.Sprintf("no service %q (the file has: %s)", service, strings.Join(names, ", "))}
	}
	if svcNode.Kind != yaml.MappingNode {
		return nil, &ComposeError{File: file, Line: svcNode.Line, Msg: fmt.Sprintf("service %q is not a mapping", service)}
	}
	var svc map[string]any
	if err := svcNode.Decode(&svc); err != nil {
		return nil, &ComposeError{File: file, Line: svcNode.Line, Msg: fmt.Sprintf("service %q: %v", service, strings.TrimPrefix(err.Error(), "yaml: "))}
	}
	var topMap map[string]any
	_ = top.Decode(&topMap) // the service decoded, so the rest is at worst partly usable

	c := &composer{
		file: file, dir: dir, service: service, env: env, lines: keyLines(svcNode),
		t: &Target{Kind: "compose", Source: fmt.Sprintf("service %s in %s", service, file), config: map[string]any{}, host: map[string]any{}},
	}
	c.project = c.projectName(topMap)
	if vols, ok := topMap["volumes"].(map[string]any); ok {
		c.volumes = vols
	}
	c.readService(svc)
	if len(c.errs) > 0 {
		return nil, errors.Join(c.errs...)
	}
	return c.t, nil
}

// mapValue returns the value node of key in a mapping node.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// keyLines maps each key of a mapping (and of mappings merged into it with
// <<) to its line.
func keyLines(m *yaml.Node) map[string]int {
	lines := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Value == "<<" {
			for _, n := range []*yaml.Node{v} {
				if n.Kind == yaml.AliasNode {
					n = n.Alias
				}
				if n != nil && n.Kind == yaml.MappingNode {
					for kk, l := range keyLines(n) {
						if _, ok := lines[kk]; !ok {
							lines[kk] = l
						}
					}
				}
			}
			continue
		}
		lines[k.Value] = k.Line
	}
	return lines
}

type composer struct {
	file, dir, service, project string
	env                         composeEnv
	lines                       map[string]int
	volumes                     map[string]any
	t                           *Target
	errs                        []error
}

func (c *composer) errorf(key, format string, args ...any) {
	c.errs = append(c.errs, &ComposeError{File: c.file, Line: c.lines[key], Msg: fmt.Sprintf("service %s: %s: ", c.service, key) + fmt.Sprintf(format, args...)})
}

// projectName is what Compose prefixes volume names with: the top-level
// name, COMPOSE_PROJECT_NAME, or the directory's name, normalised.
func (c *composer) projectName(top map[string]any) string {
	name, _ := c.env.getenv("COMPOSE_PROJECT_NAME")
	if n, ok := top["name"].(string); ok && name == "" {
		if v, err := c.env.interpolate(n); err == nil {
			name = v
		}
	}
	if name == "" {
		name = filepath.Base(c.dir)
	}
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// str interpolates a scalar; numbers and booleans become their text.
func (c *composer) str(key string, v any) (string, bool) {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case int, int64, uint64, float64, bool:
		s = fmt.Sprint(x)
	case nil:
		return "", true
	default:
		c.errorf(key, "want a string, not %s", describe(v))
		return "", false
	}
	out, err := c.env.interpolate(s)
	if err != nil {
		c.errorf(key, "%v", err)
		return "", false
	}
	return out, true
}

// strs reads a string or a list of strings.
func (c *composer) strs(key string, v any) ([]string, bool) {
	switch x := v.(type) {
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := c.str(key, e)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	default:
		s, ok := c.str(key, v)
		if !ok {
			return nil, false
		}
		if s == "" {
			return nil, true
		}
		return []string{s}, true
	}
}

// words reads a command: a string split like a shell would, or a list.
func (c *composer) words(key string, v any) ([]string, bool) {
	if l, ok := v.([]any); ok {
		return c.strs(key, l)
	}
	s, ok := c.str(key, v)
	if !ok {
		return nil, false
	}
	w, err := SplitWords(s)
	if err != nil {
		c.errorf(key, "%v", err)
		return nil, false
	}
	return w, true
}

// kv reads a mapping or a list of "k=v" (or "k:v" for sep ':') into
// ordered pairs; a list item without a separator has a nil value.
func (c *composer) kv(key string, v any, sep string) ([][2]*string, bool) {
	var out [][2]*string
	switch x := v.(type) {
	case map[string]any:
		names := make([]string, 0, len(x))
		for k := range x {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			if x[k] == nil {
				out = append(out, [2]*string{ptr(k), nil})
				continue
			}
			s, ok := c.str(key, x[k])
			if !ok {
				return nil, false
			}
			out = append(out, [2]*string{ptr(k), ptr(s)})
		}
	case []any:
		for _, e := range x {
			s, ok := c.str(key, e)
			if !ok {
				return nil, false
			}
			k, val, found := strings.Cut(s, sep)
			if !found {
				out = append(out, [2]*string{ptr(k), nil})
				continue
			}
			out = append(out, [2]*string{ptr(k), ptr(val)})
		}
	default:
		c.errorf(key, "want a mapping or a list, not %s", describe(v))
		return nil, false
	}
	return out, true
}

func ptr(s string) *string { return &s }

func describe(v any) string {
	switch v.(type) {
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case nil:
		return "nothing"
	}
	return fmt.Sprintf("%T", v)
}

func (c *composer) readService(svc map[string]any) {
	keys := make([]string, 0, len(svc))
	for k := range svc {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if c.lines[keys[i]] != c.lines[keys[j]] {
			return c.lines[keys[i]] < c.lines[keys[j]]
		}
		return keys[i] < keys[j]
	})
	cfg, host := c.t.config, c.t.host
	var envFile, environment []string
	for _, k := range keys {
		v := svc[k]
		if strings.HasPrefix(k, "x-") {
			continue
		}
		policy, known := ComposeKeys[k]
		switch {
		case !known:
			c.errorf(k, "not supported by capdrop verify; verify with docker run arguments instead")
			continue
		case k == "build":
			if _, ok := svc["image"]; !ok {
				c.errorf(k, "capdrop does not build images: build it (docker compose build) and set image:")
			} else {
				c.t.Notes = append(c.t.Notes, "build: ignored, the trial runs the image named in image:")
			}
			continue
		case k == "networks":
			if !onlyDefaultNetwork(v) {
				c.errorf(k, "%s", strings.TrimPrefix(policy, "refused: "))
			}
			continue
		case strings.HasPrefix(policy, "refused"):
			c.errorf(k, "%s", strings.TrimPrefix(policy, "refused: "))
			continue
		case strings.HasPrefix(policy, "ignored"):
			c.t.Notes = append(c.t.Notes, k+": "+policy)
			continue
		}
		switch k {
		case "image":
			if s, ok := c.str(k, v); ok {
				if s == "" {
					c.errorf(k, "empty image name")
				}
				cfg["Image"], c.t.Image = s, s
			}
		case "command":
			if w, ok := c.words(k, v); ok {
				cfg["Cmd"] = w
			}
		case "entrypoint":
			if w, ok := c.words(k, v); ok {
				cfg["Entrypoint"] = w
			}
		case "environment":
			if pairs, ok := c.kv(k, v, "="); ok {
				environment = c.envList(pairs)
			}
		case "env_file":
			envFile = c.envFiles(k, v)
		case "user":
			if s, ok := c.str(k, v); ok {
				cfg["User"], c.t.User = s, s
			}
		case "working_dir":
			c.setStr(cfg, "WorkingDir", k, v)
		case "hostname":
			c.setStr(cfg, "Hostname", k, v)
		case "domainname":
			c.setStr(cfg, "Domainname", k, v)
		case "stop_signal":
			c.setStr(cfg, "StopSignal", k, v)
		case "labels":
			c.setMap(cfg, "Labels", k, v)
		case "tty":
			c.setBool(cfg, "Tty", k, v)
		case "stdin_open":
			c.setBool(cfg, "OpenStdin", k, v)
		case "read_only":
			c.setBool(host, "ReadonlyRootfs", k, v)
		case "init":
			c.setBool(host, "Init", k, v)
		case "privileged":
			if b, ok := c.boolean(k, v); ok {
				c.t.Privileged = b
			}
		case "cap_add":
			if l, ok := c.strs(k, v); ok {
				c.t.CapAdd = l
			}
		case "cap_drop":
			if l, ok := c.strs(k, v); ok {
				c.t.CapDrop = l
			}
		case "sysctls":
			c.setMap(host, "Sysctls", k, v)
		case "security_opt":
			c.setStrs(host, "SecurityOpt", k, v)
		case "dns":
			c.setStrs(host, "Dns", k, v)
		case "dns_search":
			c.setStrs(host, "DnsSearch", k, v)
		case "dns_opt":
			c.setStrs(host, "DnsOptions", k, v)
		case "group_add":
			c.setStrs(host, "GroupAdd", k, v)
		case "extra_hosts":
			if pairs, ok := c.kv(k, v, ":"); ok {
				var l []string
				for _, p := range pairs {
					if p[1] == nil {
						if h, ip, ok := strings.Cut(*p[0], "="); ok {
							l = append(l, h+":"+ip)
							continue
						}
						c.errorf(k, "%q: want host:address", *p[0])
						continue
					}
					l = append(l, *p[0]+":"+*p[1])
				}
				host["ExtraHosts"] = l
			}
		case "volumes":
			c.volumesKey(k, v)
		case "tmpfs":
			if l, ok := c.strs(k, v); ok {
				m := map[string]any{}
				for _, e := range l {
					p, opts, _ := strings.Cut(e, ":")
					m[p] = opts
				}
				host["Tmpfs"] = m
			}
		case "network_mode":
			if s, ok := c.str(k, v); ok {
				switch {
				case s == "none" || s == "host" || s == "bridge" || s == "default":
					host["NetworkMode"] = s
				default:
					c.errorf(k, "%q cannot be reproduced for a trial running alone (only none, host, bridge)", s)
				}
			}
		case "pid":
			if s, ok := c.str(k, v); ok {
				if s != "host" && s != "" {
					c.errorf(k, "%q cannot be reproduced for a trial running alone (only host)", s)
				}
				host["PidMode"] = s
			}
		case "ipc":
			if s, ok := c.str(k, v); ok {
				if !slices.Contains([]string{"", "host", "private", "shareable", "none"}, s) {
					c.errorf(k, "%q cannot be reproduced for a trial running alone", s)
				}
				host["IpcMode"] = s
			}
		case "userns_mode":
			c.setStr(host, "UsernsMode", k, v)
		case "devices":
			if l, ok := c.strs(k, v); ok {
				var devs []any
				for _, d := range l {
					parts := strings.Split(d, ":")
					dev := map[string]any{"PathOnHost": parts[0], "PathInContainer": parts[0], "CgroupPermissions": "rwm"}
					if len(parts) > 1 {
						dev["PathInContainer"] = parts[1]
					}
					if len(parts) > 2 {
						dev["CgroupPermissions"] = parts[2]
					}
					if len(parts) > 3 {
						c.errorf(k, "%q: want HOST[:CONTAINER[:PERMISSIONS]]", d)
					}
					devs = append(devs, dev)
				}
				host["Devices"] = devs
			}
		case "ulimits":
			c.ulimits(k, v)
		case "shm_size":
			if n, ok := c.bytes(k, v); ok {
				host["ShmSize"] = n
			}
		case "mem_limit":
			if n, ok := c.bytes(k, v); ok {
				host["Memory"] = n
			}
		case "pids_limit":
			if s, ok := c.str(k, v); ok {
				n, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					c.errorf(k, "%q is not a number", s)
				}
				host["PidsLimit"] = n
			}
		case "oom_score_adj":
			if s, ok := c.str(k, v); ok {
				n, err := strconv.Atoi(s)
				if err != nil {
					c.errorf(k, "%q is not a number", s)
				}
				host["OomScoreAdj"] = n
			}
		case "cpus":
			if s, ok := c.str(k, v); ok {
				f, err := strconv.ParseFloat(s, 64)
				if err != nil || f < 0 {
					c.errorf(k, "%q is not a number of CPUs", s)
				}
				host["NanoCpus"] = int64(f * 1e9)
			}
		default:
			c.errorf(k, "capdrop knows this key but does not reproduce it yet") // ComposeKeys and this switch disagree
		}
	}
	_, hasBuild := svc["build"]
	if _, ok := svc["image"]; !ok && !hasBuild {
		c.errs = append(c.errs, &ComposeError{File: c.file, Line: c.lines["image"], Msg: fmt.Sprintf("service %s: no image: capdrop verifies images that exist", c.service)})
	}
	if env := mergeEnv(envFile, environment); len(env) > 0 {
		cfg["Env"] = env
	}
	if _, ok := host["NetworkMode"]; !ok {
		c.t.Notes = append(c.t.Notes, "the trial runs on Docker's default bridge network, not the project's network: other services are not reachable by name")
	}
}

func deref(p *string) any {
	if p == nil {
		return ""
	}
	return *p
}

func onlyDefaultNetwork(v any) bool {
	switch x := v.(type) {
	case []any:
		return len(x) == 1 && x[0] == "default"
	case map[string]any:
		_, ok := x["default"]
		return len(x) == 1 && ok
	}
	return false
}

func (c *composer) setStr(m map[string]any, field, key string, v any) {
	if s, ok := c.str(key, v); ok {
		m[field] = s
	}
}

// setMap sets field to a KEY=VALUE list or mapping (labels, sysctls) as
// the engine's object.
func (c *composer) setMap(m map[string]any, field, key string, v any) {
	if pairs, ok := c.kv(key, v, "="); ok {
		o := map[string]any{}
		for _, p := range pairs {
			o[*p[0]] = deref(p[1])
		}
		m[field] = o
	}
}

func (c *composer) setStrs(m map[string]any, field, key string, v any) {
	if l, ok := c.strs(key, v); ok {
		m[field] = l
	}
}

func (c *composer) boolean(key string, v any) (bool, bool) {
	if b, ok := v.(bool); ok {
		return b, true
	}
	s, ok := c.str(key, v)
	if !ok {
		return false, false
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		c.errorf(key, "%q is not true or false", s)
		return false, false
	}
	return b, true
}

func (c *composer) setBool(m map[string]any, field, key string, v any) {
	if b, ok := c.boolean(key, v); ok {
		m[field] = b
	}
}

// bytes reads a size: a number of bytes or a number with b, k, m or g
// (powers of 1024, as Docker reads them).
func (c *composer) bytes(key string, v any) (int64, bool) {
	s, ok := c.str(key, v)
	if !ok {
		return 0, false
	}
	n, err := parseBytes(s)
	if err != nil {
		c.errorf(key, "%v", err)
		return 0, false
	}
	return n, true
}

func parseBytes(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "b")
	mult := int64(1)
	if t != "" {
		switch t[len(t)-1] {
		case 'k':
			mult, t = 1<<10, t[:len(t)-1]
		case 'm':
			mult, t = 1<<20, t[:len(t)-1]
		case 'g':
			mult, t = 1<<30, t[:len(t)-1]
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || f*float64(mult) > 1<<62 {
		return 0, fmt.Errorf("%q is not a size (like 64m)", s)
	}
	return int64(f * float64(mult)), nil
}

func (c *composer) ulimits(key string, v any) {
	m, ok := v.(map[string]any)
	if !ok {
		c.errorf(key, "want a mapping, not %s", describe(v))
		return
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []any
	for _, n := range names {
		var soft, hard int64
		switch x := m[n].(type) {
		case map[string]any:
			s, ok1 := c.int(key, x["soft"])
			h, ok2 := c.int(key, x["hard"])
			if !ok1 || !ok2 {
				continue
			}
			soft, hard = s, h
		default:
			s, ok := c.int(key, x)
			if !ok {
				continue
			}
			soft, hard = s, s
		}
		out = append(out, map[string]any{"Name": n, "Soft": soft, "Hard": hard})
	}
	c.t.host["Ulimits"] = out
}

func (c *composer) int(key string, v any) (int64, bool) {
	s, ok := c.str(key, v)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		c.errorf(key, "%q is not a number", s)
		return 0, false
	}
	return n, true
}

// envList turns environment pairs into KEY=VALUE; a key without a value
// takes the process environment's value, or is left out when unset.
func (c *composer) envList(pairs [][2]*string) []string {
	var out []string
	for _, p := range pairs {
		if p[1] != nil {
			out = append(out, *p[0]+"="+*p[1])
			continue
		}
		if v, ok := c.env.getenv(*p[0]); ok {
			out = append(out, *p[0]+"="+v)
		}
	}
	return out
}

func (c *composer) envFiles(key string, v any) []string {
	var paths []string
	var optional []bool
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if m, ok := e.(map[string]any); ok {
				p, ok := c.str(key, m["path"])
				if !ok {
					continue
				}
				req := true
				if r, ok := m["required"]; ok {
					req, _ = c.boolean(key, r)
				}
				paths, optional = append(paths, p), append(optional, !req)
				continue
			}
			if s, ok := c.str(key, e); ok {
				paths, optional = append(paths, s), append(optional, false)
			}
		}
	default:
		if s, ok := c.str(key, v); ok {
			paths, optional = append(paths, s), append(optional, false)
		}
	}
	var out []string
	for i, p := range paths {
		if !filepath.IsAbs(p) {
			p = filepath.Join(c.dir, p)
		}
		b, err := input.ReadFile(p, input.DefaultLimit)
		if err != nil {
			if !optional[i] || !errors.Is(err, fs.ErrNotExist) {
				c.errorf(key, "%v", err)
			}
			continue
		}
		m, order := parseEnvFile(b)
		for _, k := range order {
			out = append(out, k+"="+m[k])
		}
	}
	return out
}

// parseEnvFile reads KEY=VALUE lines; # starts a comment line; matching
// quotes around a value are removed. It returns the values and the keys in
// order.
func parseEnvFile(b []byte) (map[string]string, []string) {
	m := map[string]string{}
	var order []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
			v = v[1 : len(v)-1]
		}
		if _, seen := m[k]; !seen {
			order = append(order, k)
		}
		m[k] = v
	}
	return m, order
}

// mergeEnv lets environment override env_file, keeping first-seen order.
func mergeEnv(lists ...[]string) []string {
	idx := map[string]int{}
	var out []string
	for _, l := range lists {
		for _, kv := range l {
			k, _, _ := strings.Cut(kv, "=")
			if i, ok := idx[k]; ok {
				out[i] = kv
				continue
			}
			idx[k] = len(out)
			out = append(out, kv)
		}
	}
	return out
}

func (c *composer) volumesKey(key string, v any) {
	l, ok := v.([]any)
	if !ok {
		c.errorf(key, "want a list, not %s", describe(v))
		return
	}
	var binds []string
	var mounts []any
	anon := map[string]any{}
	for _, e := range l {
		if m, ok := e.(map[string]any); ok {
			if mt, ok := c.longVolume(key, m); ok {
				mounts = append(mounts, mt)
			}
			continue
		}
		s, ok := c.str(key, e)
		if !ok {
			continue
		}
		parts := strings.Split(s, ":")
		switch {
		case len(parts) == 1:
			anon[parts[0]] = map[string]any{}
		case len(parts) <= 3:
			src := c.volumeSource(parts[0])
			binds = append(binds, strings.Join(append([]string{src}, parts[1:]...), ":"))
		default:
			c.errorf(key, "%q: want SOURCE:TARGET[:MODE]", s)
		}
	}
	if len(binds) > 0 {
		c.t.host["Binds"] = binds
	}
	if len(mounts) > 0 {
		c.t.host["Mounts"] = mounts
	}
	if len(anon) > 0 {
		c.t.config["Volumes"] = anon
	}
}

// volumeSource resolves a short-syntax source: a path (absolute, ./, ../,
// ~) becomes absolute; a name becomes the project's volume name.
func (c *composer) volumeSource(src string) string {
	switch {
	case filepath.IsAbs(src):
		return src
	case src == "." || src == ".." || strings.HasPrefix(src, "./") || strings.HasPrefix(src, "../"):
		return filepath.Join(c.dir, src)
	case src == "~" || strings.HasPrefix(src, "~/"):
		home, _ := c.env.getenv("HOME")
		return filepath.Join(home, strings.TrimPrefix(src, "~"))
	}
	return c.volumeName(src)
}

// volumeName is the engine's name of a named volume: its name: in the
// top-level volumes, itself when external, else PROJECT_NAME.
func (c *composer) volumeName(name string) string {
	if def, ok := c.volumes[name].(map[string]any); ok {
		if n, ok := def["name"].(string); ok && n != "" {
			if v, err := c.env.interpolate(n); err == nil {
				return v
			}
		}
		if ext, _ := def["external"].(bool); ext {
			return name
		}
	}
	return c.project + "_" + name
}

func (c *composer) longVolume(key string, m map[string]any) (map[string]any, bool) {
	var typ, src, target string
	mt := map[string]any{}
	for k, v := range m {
		switch k {
		case "type":
			typ, _ = c.str(key, v)
		case "source":
			src, _ = c.str(key, v)
		case "target":
			target, _ = c.str(key, v)
		case "read_only":
			if b, ok := c.boolean(key, v); ok {
				mt["ReadOnly"] = b
			}
		case "bind":
			o, _ := v.(map[string]any)
			for ok, ov := range o {
				switch ok {
				case "propagation":
					p, _ := c.str(key, ov)
					mt["BindOptions"] = map[string]any{"Propagation": p}
				case "create_host_path":
				default:
					c.errorf(key, "bind option %q not supported", ok)
				}
			}
		case "volume":
			o, _ := v.(map[string]any)
			for ok, ov := range o {
				if ok != "nocopy" {
					c.errorf(key, "volume option %q not supported", ok)
					continue
				}
				b, _ := c.boolean(key, ov)
				mt["VolumeOptions"] = map[string]any{"NoCopy": b}
			}
		case "tmpfs":
			o, _ := v.(map[string]any)
			opts := map[string]any{}
			for ok, ov := range o {
				switch ok {
				case "size":
					if n, good := c.bytes(key, ov); good {
						opts["SizeBytes"] = n
					}
				case "mode":
					s, _ := c.str(key, ov)
					mode, err := strconv.ParseUint(s, 8, 32)
					if err != nil {
						c.errorf(key, "tmpfs mode %q is not octal", s)
					}
					opts["Mode"] = mode
				default:
					c.errorf(key, "tmpfs option %q not supported", ok)
				}
			}
			mt["TmpfsOptions"] = opts
		default:
			c.errorf(key, "volume key %q not supported", k)
		}
	}
	switch typ {
	case "bind":
		switch {
		case src == "":
			c.errorf(key, "a bind volume without source")
			return nil, false
		case src == "~" || strings.HasPrefix(src, "~/"):
			home, _ := c.env.getenv("HOME")
			src = filepath.Join(home, strings.TrimPrefix(src, "~"))
		case !filepath.IsAbs(src):
			src = filepath.Join(c.dir, src)
		}
	case "volume":
		if src != "" {
			src = c.volumeName(src)
		}
	case "tmpfs":
	default:
		c.errorf(key, "volume type %q not supported (bind, volume, tmpfs)", typ)
		return nil, false
	}
	if target == "" {
		c.errorf(key, "a %s volume without target", typ)
		return nil, false
	}
	mt["Type"], mt["Target"] = typ, target
	if src != "" {
		mt["Source"] = src
	}
	return mt, true
}
