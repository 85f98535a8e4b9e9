package runargs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/capdrop/capdrop/internal/input"
	"github.com/capdrop/capdrop/workload"
)

// modelled are the run options the workload model carries (capabilities,
// identity, host access, run configuration) or that do not change how the
// container runs (naming, detaching, logging, health checks). Every other
// option given is recorded in RunConfig.Unmodelled.
var modelled = set(
	// run configuration (this file)
	"entrypoint", "env", "env-file", "workdir", "hostname", "domainname", "label",
	"tty", "interactive", "read-only", "init", "stop-signal", "sysctl", "dns", "dns-search",
	"dns-option", "dns-opt", "group-add", "add-host", "ulimit", "shm-size", "memory", "cpus",
	"pids-limit", "oom-score-adj", "publish", "publish-all", "restart",
	// capabilities, identity, host access
	"cap-add", "cap-drop", "privileged", "user", "security-opt", "volume", "mount", "tmpfs",
	"device", "network", "net", "pid", "ipc", "uts", "userns", "cgroupns",
	// not part of how the container runs
	"name", "detach", "detach-keys", "sig-proxy", "rm", "attach", "cidfile", "pull", "quiet",
	"platform", "help", "log-driver", "log-opt", "no-healthcheck", "disable-content-trust",
	"health-cmd", "health-interval", "health-retries", "health-start-period", "health-timeout",
	"health-start-interval", "stop-timeout",
)

// run fills w.Run from the options, the image's words after it, and the
// files the options name (--env-file, relative to dir when not absolute).
// The last value of a single-valued option wins, as in the CLIs.
//
// An --env-file that does not exist here (it is often made where the line
// runs, not kept beside it) is an unmodelled setting. One that exists but
// cannot be read — the guarded open refuses it as a pipe, device or
// socket (or a link to one) or as too large, or the system refuses it — is
// also an error, returned located at its value: the line is still audited,
// but the input is broken and the audit must say so.
func (c *Command) run(file, dir string, w *workload.Workload) []*workload.Error {
	var errs []*workload.Error
	rc := &w.Run
	env := map[string]int{} // index of each variable in rc.Env
	setEnv := func(k, v string) {
		if i, ok := env[k]; ok {
			rc.Env[i] = k + "=" + v
			return
		}
		env[k] = len(rc.Env)
		rc.Env = append(rc.Env, k+"="+v)
	}
	on := func(f Flag) bool {
		if !f.HasValue {
			return true
		}
		b, err := strconv.ParseBool(f.Value)
		return err == nil && b
	}
	unmodelled := func(f Flag) {
		rc.Unmodelled = append(rc.Unmodelled, workload.Word{Text: f.Spelling, Pos: c.pos(file, f.Start)})
	}
	for _, f := range c.Flags {
		name := f.Canonical()
		if !modelled[name] {
			unmodelled(f)
			continue
		}
		if !f.HasValue && valueFlags[name] {
			continue
		}
		v := f.Value
		switch name {
		case "entrypoint":
			words := []string{}
			if v != "" {
				words = []string{v}
			}
			rc.Entrypoint = &words
		case "env":
			if k, val, ok := strings.Cut(v, "="); ok {
				setEnv(k, val)
			} else if val, ok := os.LookupEnv(v); ok {
				setEnv(v, val)
			}
		case "env-file":
			p := v
			if !filepath.IsAbs(p) && dir != "" {
				p = filepath.Join(dir, p)
			}
			data, err := input.ReadFile(p, input.DefaultLimit)
			if err != nil {
				rc.Unmodelled = append(rc.Unmodelled, workload.Word{Text: f.Spelling + " " + v + " (" + err.Error() + ")", Pos: c.pos(file, f.Start)})
				if !errors.Is(err, fs.ErrNotExist) {
					errs = append(errs, &workload.Error{Pos: c.pos(file, f.ValueStart), Err: fmt.Errorf("%s: %w", f.Spelling, err)})
				}
				continue
			}
			for _, line := range strings.Split(string(data), "\n") {
				line = strings.TrimSpace(line)
				if line == "" || strings.HasPrefix(line, "#") {
					continue
				}
				if k, val, ok := strings.Cut(line, "="); ok {
					setEnv(k, val)
				} else if val, ok := os.LookupEnv(line); ok {
					setEnv(line, val)
				}
			}
		case "workdir":
			rc.WorkingDir = v
		case "hostname":
			rc.Hostname = v
		case "domainname":
			rc.Domainname = v
		case "label":
			k, val, _ := strings.Cut(v, "=")
			if rc.Labels == nil {
				rc.Labels = map[string]string{}
			}
			rc.Labels[k] = val
		case "tty":
			rc.Tty = on(f)
		case "interactive":
			rc.StdinOpen = on(f)
		case "read-only":
			rc.ReadOnly = on(f)
		case "init":
			b := on(f)
			rc.Init = &b
		case "stop-signal":
			rc.StopSignal = v
		case "sysctl":
			k, val, _ := strings.Cut(v, "=")
			if rc.Sysctls == nil {
				rc.Sysctls = map[string]string{}
			}
			rc.Sysctls[k] = val
		case "dns":
			rc.DNS = append(rc.DNS, v)
		case "dns-search":
			rc.DNSSearch = append(rc.DNSSearch, v)
		case "dns-option", "dns-opt":
			rc.DNSOptions = append(rc.DNSOptions, v)
		case "group-add":
			rc.GroupAdd = append(rc.GroupAdd, v)
		case "add-host":
			rc.ExtraHosts = append(rc.ExtraHosts, strings.Replace(v, "=", ":", 1))
		case "ulimit":
			if u, ok := ulimit(v); ok {
				rc.Ulimits = append(rc.Ulimits, u)
			} else {
				unmodelled(f)
			}
		case "shm-size", "memory":
			n, err := ParseSize(v)
			if err != nil {
				unmodelled(f)
				continue
			}
			if name == "memory" {
				rc.Memory = n
			} else {
				rc.ShmSize = n
			}
		case "cpus":
			x, err := strconv.ParseFloat(v, 64)
			if err != nil || x < 0 {
				unmodelled(f)
				continue
			}
			rc.NanoCPUs = int64(x * 1e9)
		case "pids-limit":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				unmodelled(f)
				continue
			}
			rc.PidsLimit = &n
		case "oom-score-adj":
			n, err := strconv.Atoi(v)
			if err != nil {
				unmodelled(f)
				continue
			}
			rc.OomScoreAdj = &n
		case "publish":
			rc.Ports = append(rc.Ports, workload.Word{Text: v, Pos: c.pos(file, f.ValueStart)})
		case "publish-all":
			if on(f) {
				rc.Ports = append(rc.Ports, workload.Word{Text: f.Spelling, Pos: c.pos(file, f.Start)})
			}
		case "restart":
			rc.Restart = v
		}
	}
	if args := c.CmdArgs(); len(args) > 0 {
		cmd := make([]string, len(args))
		for i, a := range args {
			cmd[i] = a.Value
		}
		rc.Command = &cmd
	}
	return errs
}

// ulimit reads NAME=SOFT[:HARD].
func ulimit(v string) (workload.Ulimit, bool) {
	name, lim, ok := strings.Cut(v, "=")
	if !ok {
		return workload.Ulimit{}, false
	}
	soft, hard, two := strings.Cut(lim, ":")
	s, err1 := strconv.ParseInt(soft, 10, 64)
	h := s
	var err2 error
	if two {
		h, err2 = strconv.ParseInt(hard, 10, 64)
	}
	return workload.Ulimit{Name: name, Soft: s, Hard: h}, err1 == nil && err2 == nil
}

// ParseSize reads a size as Docker and Compose do: a number of bytes with
// an optional b, k, m or g (powers of 1024).
func ParseSize(s string) (int64, error) {
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
