//go:build linux

package verify

import (
	"fmt"
	"os"
	"strconv"
)

// containerProcs reads the credentials of every process in the pid
// namespace of host process pid (a container's first process) from /proc.
// Processes that vanish while it reads are skipped.
func containerProcs(pid int) ([]ProcCreds, error) {
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid))
	if err != nil {
		return nil, fmt.Errorf("the container's pid namespace: %w", err)
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []ProcCreds
	comms := map[int]string{}
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if l, err := os.Readlink("/proc/" + e.Name() + "/ns/pid"); err != nil || l != ns {
			continue
		}
		p, err := procStatus(n)
		if err != nil {
			continue
		}
		comms[n] = p.Comm
		out = append(out, p)
	}
	for i := range out {
		out[i].Parent = comms[out[i].ppid]
	}
	return out, nil
}

// procStatus reads one process's credentials from /proc/PID/status.
func procStatus(pid int) (ProcCreds, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return ProcCreds{}, err
	}
	p, ppid, ok := parseStatusCreds(b)
	if !ok {
		return ProcCreds{}, fmt.Errorf("/proc/%d/status: no Name, Uid and Gid lines", pid)
	}
	p.PID = pid
	p.ppid = ppid
	return p, nil
}
