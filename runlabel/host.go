package runlabel

import (
	"fmt"
	"strings"

	"github.com/capdrop/capdrop/source/runargs"
)

// HostAccess is an option of the command that reaches outside the
// container: a host path, device or namespace given to it, a confinement
// switched off, or a host file the docker CLI itself reads or writes with
// the caller's privileges. Capabilities are the audit's business; these are
// what else a label can ask for, shown before it runs.
type HostAccess struct {
	// Option is the option as written ("-v /:/host", "--pid=host").
	Option string `json:"option"`
	// Col is its 1-based column in Command.Text.
	Col int `json:"column"`
	// What says what it gives away.
	What string `json:"what"`
}

// hostAccess lists the options of c that reach into the host, in order.
func hostAccess(c *runargs.Command) []HostAccess {
	out := []HostAccess{}
	for _, f := range c.Flags {
		if !f.HasValue {
			continue
		}
		v := f.Value
		var what string
		switch f.Canonical() {
		case "volume":
			if src, _, _ := strings.Cut(v, ":"); strings.HasPrefix(src, "/") || strings.HasPrefix(src, ".") || strings.HasPrefix(src, "~") {
				what = fmt.Sprintf("mounts the host's %s into the container", Quote(src))
			}
		case "mount":
			if strings.Contains(v, "type=bind") {
				what = "mounts a host path into the container"
			}
		case "volumes-from":
			what = fmt.Sprintf("mounts every volume of container %s", Quote(v))
		case "device":
			src, _, _ := strings.Cut(v, ":")
			what = fmt.Sprintf("gives the container the host device %s", Quote(src))
		case "device-cgroup-rule":
			what = "lets the container use host devices matching a rule"
		case "pid", "network", "ipc", "uts", "userns", "cgroupns":
			if v == "host" {
				what = fmt.Sprintf("shares the host's %s namespace", namespace(f.Canonical()))
			}
		case "security-opt":
			switch strings.ReplaceAll(v, ":", "=") {
			case "seccomp=unconfined":
				what = "turns off the seccomp filter"
			case "apparmor=unconfined":
				what = "turns off AppArmor confinement"
			case "label=disable":
				what = "turns off SELinux separation"
			case "systempaths=unconfined":
				what = "exposes /proc and /sys paths that are masked by default"
			}
		case "env-file", "label-file":
			what = fmt.Sprintf("the docker CLI reads the host file %s with your privileges", Quote(v))
		case "cidfile":
			what = fmt.Sprintf("the docker CLI creates the host file %s with your privileges", Quote(v))
		}
		if what == "" {
			continue
		}
		opt := c.Args[f.Arg].Raw
		if f.ValueArg > f.Arg {
			opt += " " + c.Args[f.ValueArg].Raw
		}
		out = append(out, HostAccess{Option: opt, Col: f.Start.Col, What: what})
	}
	return out
}

func namespace(flag string) string {
	switch flag {
	case "pid":
		return "process"
	case "network":
		return "network"
	case "ipc":
		return "IPC"
	case "uts":
		return "hostname (UTS)"
	case "userns":
		return "user"
	}
	return "cgroup"
}
