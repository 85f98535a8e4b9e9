package engine

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/capdrop/capdrop/workload"
)

// CreateRequest is the body of an Engine API container create: the
// container's Config members, with its HostConfig.
type CreateRequest struct {
	Image        string              `json:"Image"`
	User         string              `json:"User,omitempty"`
	Entrypoint   []string            `json:"Entrypoint,omitempty"`
	Cmd          []string            `json:"Cmd,omitempty"`
	Env          []string            `json:"Env,omitempty"`
	WorkingDir   string              `json:"WorkingDir,omitempty"`
	Hostname     string              `json:"Hostname,omitempty"`
	Domainname   string              `json:"Domainname,omitempty"`
	Labels       map[string]string   `json:"Labels,omitempty"`
	Tty          bool                `json:"Tty,omitempty"`
	OpenStdin    bool                `json:"OpenStdin,omitempty"`
	StopSignal   string              `json:"StopSignal,omitempty"`
	Volumes      map[string]struct{} `json:"Volumes,omitempty"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
	HostConfig   CreateHostConfig    `json:"HostConfig"`
}

// CreateHostConfig is the HostConfig of a create request.
type CreateHostConfig struct {
	CapAdd          []string                 `json:"CapAdd"`
	CapDrop         []string                 `json:"CapDrop"`
	Privileged      bool                     `json:"Privileged"`
	SecurityOpt     []string                 `json:"SecurityOpt,omitempty"`
	Binds           []string                 `json:"Binds,omitempty"`
	Tmpfs           map[string]string        `json:"Tmpfs,omitempty"`
	Devices         []DeviceMapping          `json:"Devices,omitempty"`
	NetworkMode     string                   `json:"NetworkMode,omitempty"`
	PidMode         string                   `json:"PidMode,omitempty"`
	IpcMode         string                   `json:"IpcMode,omitempty"`
	UTSMode         string                   `json:"UTSMode,omitempty"`
	UsernsMode      string                   `json:"UsernsMode,omitempty"`
	CgroupnsMode    string                   `json:"CgroupnsMode,omitempty"`
	ReadonlyRootfs  bool                     `json:"ReadonlyRootfs,omitempty"`
	Init            *bool                    `json:"Init,omitempty"`
	Sysctls         map[string]string        `json:"Sysctls,omitempty"`
	DNS             []string                 `json:"Dns,omitempty"`
	DNSSearch       []string                 `json:"DnsSearch,omitempty"`
	DNSOptions      []string                 `json:"DnsOptions,omitempty"`
	GroupAdd        []string                 `json:"GroupAdd,omitempty"`
	ExtraHosts      []string                 `json:"ExtraHosts,omitempty"`
	Ulimits         []Ulimit                 `json:"Ulimits,omitempty"`
	ShmSize         int64                    `json:"ShmSize,omitempty"`
	Memory          int64                    `json:"Memory,omitempty"`
	NanoCPUs        int64                    `json:"NanoCpus,omitempty"`
	PidsLimit       *int64                   `json:"PidsLimit,omitempty"`
	OomScoreAdj     int                      `json:"OomScoreAdj,omitempty"`
	PortBindings    map[string][]PortBinding `json:"PortBindings,omitempty"`
	PublishAllPorts bool                     `json:"PublishAllPorts,omitempty"`
	AutoRemove      bool                     `json:"AutoRemove"`
	RestartPolicy   RestartPolicy            `json:"RestartPolicy"`
}

// PortBinding is a host address and port a container port is published
// on.
type PortBinding struct {
	HostIP   string `json:"HostIp,omitempty"`
	HostPort string `json:"HostPort,omitempty"`
}

// DeviceMapping is a host device made available in the container.
type DeviceMapping struct {
	PathOnHost        string `json:"PathOnHost"`
	PathInContainer   string `json:"PathInContainer"`
	CgroupPermissions string `json:"CgroupPermissions"`
}

// Ulimit is one resource limit of a create request.
type Ulimit struct {
	Name string `json:"Name"`
	Soft int64  `json:"Soft"`
	Hard int64  `json:"Hard"`
}

// RestartPolicy says whether the engine restarts the container.
type RestartPolicy struct {
	Name string `json:"Name"`
}

// UnmodelledError lists the settings of a workload that the model does not
// carry, so a create request would start something other than what is
// configured.
type UnmodelledError struct {
	Settings []workload.Word
}

func (e *UnmodelledError) Error() string {
	var parts []string
	for _, s := range e.Settings {
		parts = append(parts, fmt.Sprintf("%s (%s)", s.Text, s.Pos))
	}
	return "capdrop cannot reproduce " + strings.Join(parts, ", ") + ": start the container yourself and profile or verify it by other means"
}

// FromWorkload builds the create request that starts the container w
// configures, exactly as configured — capabilities, user, host access
// (workload.Host) and run configuration (workload.RunConfig) — and says,
// in notes, what a caller that runs trials of it should know. This is the
// one place the model becomes an Engine API request; verify and profile
// --docker both use it. A workload with settings the model does not carry
// (RunConfig.Unmodelled), a mount or namespace the engine cannot take as
// written, or no image, is an error.
func FromWorkload(w workload.Workload) (*CreateRequest, error) {
	if len(w.Run.Unmodelled) > 0 {
		return nil, &UnmodelledError{Settings: w.Run.Unmodelled}
	}
	if w.Image == "" {
		return nil, fmt.Errorf("%s: no image to run", w.Pos)
	}
	rc := w.Run
	r := &CreateRequest{
		Image: w.Image, User: w.User, Env: slices.Clone(rc.Env), WorkingDir: rc.WorkingDir,
		Hostname: rc.Hostname, Domainname: rc.Domainname, Labels: maps.Clone(rc.Labels),
		Tty: rc.Tty, OpenStdin: rc.StdinOpen, StopSignal: rc.StopSignal,
	}
	if rc.Entrypoint != nil {
		r.Entrypoint = slices.Clone(*rc.Entrypoint)
		if len(r.Entrypoint) == 0 {
			r.Entrypoint = []string{""} // the engine's spelling of "no entrypoint"
		}
	}
	if rc.Command != nil {
		r.Cmd = slices.Clone(*rc.Command)
	}
	h := &r.HostConfig
	h.CapAdd, h.CapDrop, h.Privileged = workload.Texts(w.CapAdd), workload.Texts(w.CapDrop), w.Privileged
	h.ReadonlyRootfs, h.Init = rc.ReadOnly, rc.Init
	h.Sysctls = maps.Clone(rc.Sysctls)
	h.DNS, h.DNSSearch, h.DNSOptions = slices.Clone(rc.DNS), slices.Clone(rc.DNSSearch), slices.Clone(rc.DNSOptions)
	h.GroupAdd, h.ExtraHosts = slices.Clone(rc.GroupAdd), slices.Clone(rc.ExtraHosts)
	for _, u := range rc.Ulimits {
		h.Ulimits = append(h.Ulimits, Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
	}
	h.ShmSize, h.Memory, h.NanoCPUs, h.PidsLimit = rc.ShmSize, rc.Memory, rc.NanoCPUs, rc.PidsLimit
	if rc.OomScoreAdj != nil {
		h.OomScoreAdj = *rc.OomScoreAdj
	}
	if rc.Restart != "" {
		h.RestartPolicy.Name = rc.Restart
	}

	var errs []error
	for _, p := range rc.Ports {
		if strings.HasPrefix(p.Text, "-") { // -P, --publish-all
			h.PublishAllPorts = true
			continue
		}
		port, b, err := portBinding(p.Text)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: port %q: %v", p.Pos, p.Text, err))
			continue
		}
		if r.ExposedPorts == nil {
			r.ExposedPorts, h.PortBindings = map[string]struct{}{}, map[string][]PortBinding{}
		}
		r.ExposedPorts[port] = struct{}{}
		h.PortBindings[port] = append(h.PortBindings[port], b)
	}
	for _, o := range w.Host.SecurityOpt {
		h.SecurityOpt = append(h.SecurityOpt, o.Text)
	}
	if w.NoNewPrivs != nil && *w.NoNewPrivs {
		h.SecurityOpt = append(h.SecurityOpt, "no-new-privileges:true")
	}
	ns := w.Host.Namespaces
	for _, n := range []struct {
		word *workload.Word
		mode *string
	}{{ns.Network, &h.NetworkMode}, {ns.PID, &h.PidMode}, {ns.IPC, &h.IpcMode}, {ns.UTS, &h.UTSMode}, {ns.User, &h.UsernsMode}, {ns.Cgroup, &h.CgroupnsMode}} {
		if n.word != nil {
			*n.mode = n.word.Text
		}
	}
	for _, d := range w.Host.Devices {
		parts := strings.Split(d.Text, ":")
		if len(parts) > 3 || parts[0] == "" {
			errs = append(errs, fmt.Errorf("%s: device %q: want HOST[:CONTAINER[:PERMISSIONS]]", d.Pos, d.Text))
			continue
		}
		dm := DeviceMapping{PathOnHost: parts[0], PathInContainer: parts[0], CgroupPermissions: "rwm"}
		if len(parts) > 1 && parts[1] != "" {
			dm.PathInContainer = parts[1]
		}
		if len(parts) > 2 {
			dm.CgroupPermissions = parts[2]
		}
		h.Devices = append(h.Devices, dm)
	}
	for _, m := range w.Host.Mounts {
		opts := slices.Clone(m.Options)
		if m.ReadOnly {
			opts = append(opts, "ro")
		}
		switch {
		case m.Type == "tmpfs":
			if h.Tmpfs == nil {
				h.Tmpfs = map[string]string{}
			}
			h.Tmpfs[m.Target] = strings.Join(m.Options, ",")
		case m.Type == "volume" && m.Source == "":
			if r.Volumes == nil {
				r.Volumes = map[string]struct{}{}
			}
			r.Volumes[m.Target] = struct{}{}
		case m.Type == "bind" || m.Type == "volume":
			src := m.Source
			if m.Type == "bind" {
				src = hostPath(src, filepath.Dir(w.Pos.File))
			}
			b := src + ":" + m.Target
			if len(opts) > 0 {
				b += ":" + strings.Join(opts, ",")
			}
			h.Binds = append(h.Binds, b)
		default:
			errs = append(errs, fmt.Errorf("%s: a %s mount of %s: capdrop starts containers with bind, volume and tmpfs mounts only", m.Pos, m.Type, m.Target))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return r, nil
}

// portBinding reads a published port as docker run -p and compose's short
// syntax write it: [[HOST_IP:]HOST_PORT:]CONTAINER_PORT[/PROTOCOL].
// Ranges are refused.
func portBinding(spec string) (string, PortBinding, error) {
	var b PortBinding
	rest, proto, _ := strings.Cut(spec, "/")
	if proto == "" {
		proto = "tcp"
	}
	parts := strings.Split(rest, ":")
	if strings.HasPrefix(rest, "[") { // [::1]:8080:80
		end := strings.Index(rest, "]")
		if end < 0 {
			return "", b, errors.New("unclosed [")
		}
		b.HostIP = rest[1:end]
		parts = strings.Split(strings.TrimPrefix(rest[end+1:], ":"), ":")
	}
	var container string
	switch len(parts) {
	case 1:
		container = parts[0]
	case 2:
		b.HostPort, container = parts[0], parts[1]
	case 3:
		b.HostIP, b.HostPort, container = parts[0], parts[1], parts[2]
	default:
		return "", b, errors.New("want [[HOST_IP:]HOST_PORT:]CONTAINER_PORT[/PROTOCOL]")
	}
	for _, n := range []string{container, b.HostPort} {
		if strings.Contains(n, "-") {
			return "", b, errors.New("port ranges are not supported")
		}
	}
	if container == "" {
		return "", b, errors.New("no container port")
	}
	return container + "/" + proto, b, nil
}

// hostPath makes a bind mount's source absolute as the CLIs do: ~ is the
// home directory, a relative path is relative to dir (the compose file's
// directory; "." for arguments, the working directory).
func hostPath(src, dir string) string {
	if src == "~" || strings.HasPrefix(src, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, src[1:])
		}
	}
	if filepath.IsAbs(src) {
		return src
	}
	abs, err := filepath.Abs(filepath.Join(dir, src))
	if err != nil {
		return src
	}
	return abs
}
