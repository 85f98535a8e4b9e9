package runargs

import (
	"strconv"
	"strings"

	"github.com/capdrop/capdrop/workload"
)

// ParseVolume reads a -v/--volume value (and compose's short syntax and
// Quadlet's Volume=, which are the same): "[SOURCE:]TARGET[:OPTIONS]".
// SOURCE is a host path when it starts with "/", ".", "~" or an
// unexpanded "$" (a variable standing for one, like $PWD), else a named
// volume; without SOURCE it is an anonymous volume. OPTIONS are
// comma-separated (ro, rw, z, Z, nocopy, rshared, …); ro or readonly makes
// the mount read-only.
func ParseVolume(v string, pos workload.Position) workload.Mount {
	parts := splitVolume(v)
	m := workload.Mount{Type: "volume", Pos: pos}
	var opts string
	switch len(parts) {
	case 1:
		m.Target = parts[0]
	case 2:
		// SOURCE:TARGET, unless the second part is options of an
		// anonymous volume ("/data:ro" is not a valid docker -v, but a
		// target never lacks its leading slash).
		if strings.HasPrefix(parts[1], "/") || !isVolumeOptions(parts[1]) {
			m.Source, m.Target = parts[0], parts[1]
		} else {
			m.Target, opts = parts[0], parts[1]
		}
	default:
		m.Source, m.Target, opts = parts[0], parts[1], strings.Join(parts[2:], ":")
	}
	if HostPathSource(m.Source) {
		m.Type = "bind"
	}
	for _, o := range strings.Split(opts, ",") {
		switch o = strings.TrimSpace(o); o {
		case "":
		case "ro", "readonly":
			m.ReadOnly = true
		default:
			m.Options = append(m.Options, o)
		}
	}
	return m
}

// HostPathSource reports whether a volume source names a host path rather
// than a named volume: an absolute or relative path, a home directory, or
// an expansion left unresolved ($PWD, ${HOME}).
func HostPathSource(src string) bool {
	switch {
	case src == "":
		return false
	case strings.HasPrefix(src, "/"), strings.HasPrefix(src, "."), strings.HasPrefix(src, "~"), strings.HasPrefix(src, "$"):
		return true
	case len(src) >= 2 && src[1] == ':' && isLetter(src[0]):
		return true // C:\data, on Docker Desktop for Windows
	}
	return false
}

func isLetter(b byte) bool { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }

// splitVolume splits on colons, keeping a Windows drive letter ("C:\x")
// with its path.
func splitVolume(v string) []string {
	var out []string
	for len(v) > 0 {
		i := strings.IndexByte(v, ':')
		if i == 1 && isLetter(v[0]) && len(v) > 2 && (v[2] == '\\' || v[2] == '/') {
			j := strings.IndexByte(v[2:], ':')
			if j < 0 {
				i = -1
			} else {
				i = j + 2
			}
		}
		if i < 0 {
			out = append(out, v)
			break
		}
		out = append(out, v[:i])
		v = v[i+1:]
	}
	if len(out) == 0 {
		out = []string{""}
	}
	return out
}

func isVolumeOptions(s string) bool {
	for _, o := range strings.Split(s, ",") {
		switch o {
		case "ro", "rw", "readonly", "z", "Z", "nocopy", "copy", "shared", "rshared", "slave", "rslave",
			"private", "rprivate", "consistent", "cached", "delegated", "U", "O", "exec", "noexec", "suid",
			"nosuid", "dev", "nodev", "bind", "rbind":
		default:
			return false
		}
	}
	return true
}

// ParseMount reads a --mount value (and Quadlet's Mount=): comma-separated
// key=value fields, type= bind, volume, tmpfs, image, devpts, …;
// source/src, target/destination/dst, readonly/ro (bare or =true/1).
// Docker's default type is volume.
func ParseMount(v string, pos workload.Position) workload.Mount {
	m := workload.Mount{Type: "volume", Pos: pos}
	for _, field := range splitCSV(v) {
		k, val, has := strings.Cut(field, "=")
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "type":
			switch val {
			case "bind", "volume", "tmpfs":
				m.Type = val
			default:
				m.Type = "other"
				m.Options = append(m.Options, field)
			}
		case "source", "src":
			m.Source = val
		case "target", "destination", "dst":
			m.Target = val
		case "readonly", "ro":
			ro := true
			if has {
				b, err := strconv.ParseBool(val)
				ro = err == nil && b
			}
			m.ReadOnly = ro
		case "":
		default:
			m.Options = append(m.Options, field)
		}
	}
	return m
}

// splitCSV splits a --mount value on commas outside double quotes (the
// docker CLI reads it as CSV).
func splitCSV(v string) []string {
	var out []string
	var b strings.Builder
	quoted := false
	for _, r := range v {
		switch {
		case r == '"':
			quoted = !quoted
		case r == ',' && !quoted:
			out = append(out, b.String())
			b.Reset()
		default:
			b.WriteRune(r)
		}
	}
	return append(out, b.String())
}

// ParseTmpfs reads a --tmpfs value: "TARGET[:OPTIONS]".
func ParseTmpfs(v string, pos workload.Position) workload.Mount {
	target, opts, _ := strings.Cut(v, ":")
	m := workload.Mount{Type: "tmpfs", Target: target, Pos: pos}
	for _, o := range strings.Split(opts, ",") {
		switch o {
		case "":
		case "ro":
			m.ReadOnly = true
		default:
			m.Options = append(m.Options, o)
		}
	}
	return m
}

// SecurityOpt reads a --security-opt value for Host.SecurityOpt: every
// option but no-new-privileges (kept in Workload.NoNewPrivs). ok is false
// for that one.
func SecurityOpt(v string) (string, bool) {
	if _, nnp := NoNewPrivileges(v); nnp || v == "no-new-privileges" {
		return "", false
	}
	return v, true
}

// host records the options of c that reach into the host into w.Host.
func (c *Command) host(file string, w *workload.Workload) {
	h := &w.Host
	for _, f := range c.Flags {
		if !f.HasValue {
			continue
		}
		pos := c.pos(file, f.ValueStart)
		word := &workload.Word{Text: f.Value, Pos: pos}
		switch f.Canonical() {
		case "volume":
			h.Mounts = append(h.Mounts, ParseVolume(f.Value, pos))
		case "mount":
			h.Mounts = append(h.Mounts, ParseMount(f.Value, pos))
		case "tmpfs":
			h.Mounts = append(h.Mounts, ParseTmpfs(f.Value, pos))
		case "device":
			h.Devices = append(h.Devices, *word)
		case "pid":
			h.Namespaces.PID = word
		case "network":
			h.Namespaces.Network = word
		case "ipc":
			h.Namespaces.IPC = word
		case "uts":
			h.Namespaces.UTS = word
		case "userns":
			h.Namespaces.User = word
		case "cgroupns":
			h.Namespaces.Cgroup = word
		case "security-opt":
			if v, ok := SecurityOpt(f.Value); ok {
				h.SecurityOpt = append(h.SecurityOpt, workload.Word{Text: v, Pos: pos})
			}
		}
	}
}
