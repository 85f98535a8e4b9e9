package audit

import (
	"fmt"
	"strings"

	"github.com/capdrop/capdrop/workload"
)

// Fixes for host access: each takes the one setting out, in the source's
// own dialect, pointing at where it is written.

func at(p workload.Position) string {
	if p.Line == 0 {
		return ""
	}
	return " (" + p.String() + ")"
}

// mountSpec writes a mount the way -v and compose's short syntax do.
func mountSpec(m workload.Mount) string {
	s := m.Source + ":" + m.Target
	if m.ReadOnly {
		s += ":ro"
	}
	return s
}

// sameMount matches a -v value (SOURCE:TARGET[:OPTIONS]) or a --mount
// value (source=…,target=…) against m.
func sameMount(m workload.Mount) func(string) bool {
	return func(v string) bool {
		if parts := strings.SplitN(v, ":", 3); len(parts) >= 2 && parts[0] == m.Source && parts[1] == m.Target {
			return true
		}
		var src, dst string
		for _, f := range strings.Split(v, ",") {
			k, val, _ := strings.Cut(f, "=")
			switch k {
			case "source", "src":
				src = val
			case "target", "destination", "dst":
				dst = val
			}
		}
		return src == m.Source && dst == m.Target
	}
}

func (d dialect) removeMount(w workload.Workload, m workload.Mount) string {
	switch d {
	case dialectCompose:
		return fmt.Sprintf("remove %q from volumes%s", mountSpec(m), at(m.Pos))
	case dialectKube:
		return fmt.Sprintf("remove the volumeMount at %s%s, and the hostPath volume for %s unless another container needs it", m.Target, at(m.Pos), m.Source)
	case dialectQuadlet:
		return fmt.Sprintf("remove the mount of %s at %s%s", m.Source, m.Target, at(m.Pos))
	case dialectOCI:
		return fmt.Sprintf("remove the mount of %q at %q from \"mounts\"%s", m.Source, m.Target, at(m.Pos))
	case dialectLabel:
		if line, ok := labelRewrite(w, []labelOption{{long: []string{"volume", "mount"}, short: 'v', match: sameMount(m)}}, nil); ok {
			return line
		}
	}
	return fmt.Sprintf("remove the mount %s%s", mountSpec(m), at(m.Pos))
}

// composeNamespaceKey and kubeNamespaceKey are where each dialect says
// "the host's namespace".
var (
	composeNamespaceKey = map[string]string{"pid": "pid", "network": "network_mode", "ipc": "ipc", "uts": "uts", "user": "userns_mode", "cgroup": "cgroup"}
	kubeNamespaceKey    = map[string]string{"pid": "hostPID", "network": "hostNetwork", "ipc": "hostIPC", "user": "hostUsers"}
	runNamespaceFlag    = map[string]string{"pid": "pid", "network": "network", "ipc": "ipc", "uts": "uts", "user": "userns", "cgroup": "cgroupns"}
)

func (d dialect) removeNamespace(w workload.Workload, ns string, word workload.Word) string {
	switch d {
	case dialectCompose:
		return fmt.Sprintf("remove %s: %s%s", composeNamespaceKey[ns], word.Text, at(word.Pos))
	case dialectKube:
		if ns == "user" {
			return fmt.Sprintf("write hostUsers: false at %s (a user namespace per pod; Kubernetes 1.30+ and a runtime that supports it)", word.Pos)
		}
		return fmt.Sprintf("remove %s: true%s", kubeNamespaceKey[ns], at(word.Pos))
	case dialectOCI:
		if word.Text == "host" {
			return fmt.Sprintf("add {\"type\": %q} to \"namespaces\" in \"linux\"%s", ociNamespaceType[ns], at(word.Pos))
		}
		return fmt.Sprintf("remove \"path\" from the %s namespace in \"linux\"%s", ociNamespaceType[ns], at(word.Pos))
	case dialectLabel:
		flag := runNamespaceFlag[ns]
		longs := []string{flag}
		if ns == "network" {
			longs = append(longs, "net")
		}
		if line, ok := labelRewrite(w, []labelOption{{long: longs, match: func(v string) bool { return v == word.Text }}}, nil); ok {
			return line
		}
	}
	return fmt.Sprintf("remove --%s=%s%s", runNamespaceFlag[ns], word.Text, at(word.Pos))
}

// ociNamespaceType is the OCI spelling of each namespace.
var ociNamespaceType = map[string]string{"pid": "pid", "network": "network", "ipc": "ipc", "uts": "uts", "user": "user", "cgroup": "cgroup"}

func (d dialect) removeDevice(w workload.Workload, dev workload.Word) string {
	switch d {
	case dialectCompose:
		return fmt.Sprintf("remove %q from devices%s", dev.Text, at(dev.Pos))
	case dialectQuadlet:
		return fmt.Sprintf("remove the device %s%s", dev.Text, at(dev.Pos))
	case dialectOCI:
		return fmt.Sprintf("remove the device %q from \"devices\" in \"linux\"%s", dev.Text, at(dev.Pos))
	case dialectLabel:
		if line, ok := labelRewrite(w, []labelOption{{long: []string{"device"}, match: func(v string) bool { return v == dev.Text }}}, nil); ok {
			return line
		}
	}
	return fmt.Sprintf("remove --device=%s%s", dev.Text, at(dev.Pos))
}

func (d dialect) removeSecurityOpt(w workload.Workload, opt workload.Word) string {
	k, _ := splitSecOpt(opt.Text)
	switch d {
	case dialectCompose:
		return fmt.Sprintf("remove %q from security_opt%s", opt.Text, at(opt.Pos))
	case dialectKube:
		switch k {
		case "seccomp", "apparmor":
			return fmt.Sprintf("write RuntimeDefault instead of Unconfined at %s (runtime/default instead of unconfined in the legacy annotation)", opt.Pos)
		case "label":
			return fmt.Sprintf("remove the SELinux type from seLinuxOptions%s", at(opt.Pos))
		}
		return fmt.Sprintf("remove procMount: Unmasked%s", at(opt.Pos))
	case dialectQuadlet:
		return fmt.Sprintf("remove %s%s", opt.Text, at(opt.Pos))
	case dialectOCI:
		switch k {
		case "seccomp":
			return fmt.Sprintf("add \"seccomp\" to \"linux\"%s: runc applies no filter without one; use the profile your engine applies by default", at(opt.Pos))
		case "systempaths":
			return fmt.Sprintf("add \"maskedPaths\" and \"readonlyPaths\" to \"linux\"%s, as `runc spec` writes them", at(opt.Pos))
		}
	case dialectLabel:
		if line, ok := labelRewrite(w, []labelOption{{long: []string{"security-opt"}, match: func(v string) bool { return v == opt.Text }}}, nil); ok {
			return line
		}
	}
	return fmt.Sprintf("remove --security-opt=%s%s", opt.Text, at(opt.Pos))
}
