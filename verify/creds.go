package verify

import (
	"bufio"
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A passing check can hide a weaker result: a web server whose workers
// cannot switch to their service user may keep serving, as root. So every
// trial also watches the credentials of the workload's processes, as the
// kernel shows them, and a candidate under which any process ends up more
// privileged than under the starting set fails, whatever the check said.

// ProcCreds are one process's credentials as the kernel shows them
// (/proc/PID/status).
type ProcCreds struct {
	PID  int    `json:"pid"`
	Comm string `json:"comm"`
	// Parent is the command of the process's parent ("" when the parent
	// is outside the container).
	Parent string `json:"parent"`
	// UIDs and GIDs are the real, effective and saved ids.
	UIDs   [3]uint32 `json:"uids"`
	GIDs   [3]uint32 `json:"gids"`
	Groups []uint32  `json:"groups"`
}

// role is how the processes of two runs are matched: by command and the
// command of the parent, so a root master and its workers (same command)
// are told apart.
func (p ProcCreds) role() string {
	if p.Parent == "" {
		return p.Comm
	}
	return p.Parent + "/" + p.Comm
}

// privilege is what makes a process privileged beyond its capabilities:
// uid 0, gid 0, or group 0 among its supplementary groups.
type privilege uint8

const (
	rootUID privilege = 1 << iota
	rootGID
	rootGroup
)

func (p ProcCreds) privilege() privilege {
	var v privilege
	for _, id := range p.UIDs {
		if id == 0 {
			v |= rootUID
		}
	}
	for _, id := range p.GIDs {
		if id == 0 {
			v |= rootGID
		}
	}
	for _, g := range p.Groups {
		if g == 0 {
			v |= rootGroup
		}
	}
	return v
}

func (v privilege) words() string {
	var w []string
	if v&rootUID != 0 {
		w = append(w, "uid 0")
	}
	if v&rootGID != 0 {
		w = append(w, "gid 0")
	}
	if v&rootGroup != 0 {
		w = append(w, "group 0")
	}
	return strings.Join(w, ", ")
}

// CredRecord is what the samples of one or more runs showed: per role,
// the privileges any of its processes held, and an example process.
type CredRecord struct {
	roles map[string]privilege
	seen  map[string]ProcCreds
	last  []ProcCreds // the last sample, as evidence
}

// NewCredRecord returns an empty record.
func NewCredRecord() *CredRecord {
	return &CredRecord{roles: map[string]privilege{}, seen: map[string]ProcCreds{}}
}

// Add records the processes of one sample.
func (c *CredRecord) Add(procs []ProcCreds) {
	for _, p := range procs {
		r := p.role()
		v := p.privilege()
		old, ok := c.roles[r]
		c.roles[r] = old | v
		// Keep the most privileged example of each role.
		if !ok || v&^old != 0 {
			c.seen[r] = p
		}
	}
}

// Merge adds another record's roles to c.
func (c *CredRecord) Merge(o *CredRecord) {
	for r, v := range o.roles {
		old, ok := c.roles[r]
		c.roles[r] = old | v
		if !ok || v&^old != 0 {
			c.seen[r] = o.seen[r]
		}
	}
}

// Empty reports whether no process was seen.
func (c *CredRecord) Empty() bool { return c == nil || len(c.roles) == 0 }

// Escalations compares a candidate run's record with the starting runs'
// (base): it lists, for people, every process of the candidate that held
// uid 0, gid 0 or group 0 where no process in the same role (command and
// parent command) did under the starting set; for a role the starting runs
// did not show, where no process with the same command did. Commands the
// starting runs never showed are not judged. Nothing is listed when base
// is empty.
func Escalations(base, cand *CredRecord) []string {
	if base.Empty() || cand.Empty() {
		return nil
	}
	byComm := map[string]privilege{}
	commSeen := map[string]ProcCreds{}
	for r, v := range base.roles {
		c := base.seen[r].Comm
		byComm[c] |= v
		if _, ok := commSeen[c]; !ok || v == 0 {
			commSeen[c] = base.seen[r]
		}
	}
	var out []string
	for r, v := range cand.roles {
		p := cand.seen[r]
		was, ok := base.roles[r]
		b := base.seen[r]
		if !ok {
			if was, ok = byComm[p.Comm]; !ok {
				continue
			}
			b = commSeen[p.Comm]
		}
		extra := v &^ was
		if extra == 0 {
			continue
		}
		out = append(out, fmt.Sprintf("%s (pid %d, parent %s) ran with %s (uids %d/%d/%d, gids %d/%d/%d, groups %v), where under the starting set it ran as uid %d gid %d",
			p.Comm, p.PID, orDash(p.Parent), extra.words(), p.UIDs[0], p.UIDs[1], p.UIDs[2], p.GIDs[0], p.GIDs[1], p.GIDs[2], p.Groups, b.UIDs[1], b.GIDs[1]))
	}
	sort.Strings(out)
	return out
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// credWatch samples the processes of a container while a trial runs. What
// counts is where the processes end up: a sample taken at the verdict (or,
// when the container is gone by then, the last one before), so helpers
// that run as root during start-up, before the daemon drops its
// privileges, are not judged.
type credWatch struct {
	pid  int
	last []ProcCreds
	mu   sync.Mutex
	stop chan struct{}
	done chan struct{}
	err  error
}

// credInterval is how often a trial's processes are sampled. When the
// container has exited by the verdict, the last sample is what counts, so
// the interval bounds how stale it may be: at 100 ms a run of half a second
// (a daemon started, checked and stopped on an idle machine) was judged by a
// sample from its start-up, with the daemon still root before its drop to
// its service user, and the candidate failed as an escalation. A sample
// reads the status of the container's few processes.
const credInterval = 10 * time.Millisecond

// watchCreds starts sampling the processes in the pid namespace of the
// container whose first process is pid (a host pid), until Stop.
func watchCreds(pid int) *credWatch {
	w := &credWatch{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(credInterval)
		defer t.Stop()
		for {
			procs, err := containerProcs(pid)
			w.mu.Lock()
			if err != nil {
				w.err = err
			}
			if len(procs) > 0 {
				w.last = procs
			}
			w.mu.Unlock()
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// Stop ends the sampling and returns where the processes ended up; when
// nothing could be read, why.
func (w *credWatch) Stop() (*CredRecord, error) {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	if procs, err := containerProcs(w.pid); err == nil && len(procs) > 0 {
		w.last = procs
	}
	rec := NewCredRecord()
	if len(w.last) == 0 {
		if w.err == nil {
			return rec, fmt.Errorf("no process of the container was seen")
		}
		return rec, w.err
	}
	rec.Add(w.last)
	rec.last = w.last
	return rec, nil
}

// judgeCreds applies the credential comparison to a judged run: the
// passing runs of the starting set make the baseline; a passing candidate
// under which a process is more privileged fails, saying which.
func (r *Runner) judgeCreds(run *Trial, rec *CredRecord, err error) {
	if err != nil {
		run.Credentials = "not read: " + err.Error()
		return
	}
	run.Processes = rec.last
	if !run.Passed {
		return
	}
	if run.Phase == PhaseStart {
		if r.creds == nil {
			r.creds = NewCredRecord()
		}
		r.creds.Merge(rec)
		return
	}
	if esc := Escalations(r.creds, rec); len(esc) > 0 {
		run.Escalations = esc
		run.Passed = false
		run.Reason = fmt.Sprintf("%s, but a process ran more privileged than under the starting set: %s", run.Reason, strings.Join(esc, "; "))
	}
}

// parseStatusCreds reads Name, PPid, Uid, Gid and Groups from a
// /proc/PID/status file.
func parseStatusCreds(b []byte) (ProcCreds, int, bool) {
	var (
		p    ProcCreds
		ppid int
		seen int
	)
	ids := func(val string, dst *[3]uint32) bool {
		f := strings.Fields(val)
		if len(f) < 3 {
			return false
		}
		for i := 0; i < 3; i++ {
			v, err := strconv.ParseUint(f[i], 10, 32)
			if err != nil {
				return false
			}
			dst[i] = uint32(v)
		}
		return true
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		switch key {
		case "Name":
			p.Comm = val
			seen++
		case "PPid":
			ppid, _ = strconv.Atoi(val)
		case "Uid":
			if ids(val, &p.UIDs) {
				seen++
			}
		case "Gid":
			if ids(val, &p.GIDs) {
				seen++
			}
		case "Groups":
			for _, g := range strings.Fields(val) {
				if v, err := strconv.ParseUint(g, 10, 32); err == nil {
					p.Groups = append(p.Groups, uint32(v))
				}
			}
		}
	}
	return p, ppid, seen == 3
}
