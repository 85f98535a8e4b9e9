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
	// Exited is whether the process had exited by the verdict (its
	// credentials are those it exited with).
	Exited bool `json:"exited,omitempty"`

	ppid int
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
	last  []ProcCreds // the processes judged, as evidence
	from  string      // how they were seen
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
// did not show, where no process with the same command did, if it still
// ran at the verdict. Commands the starting runs never showed are not
// judged. Nothing is listed when base
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
			// A role the starting runs did not show is judged by its
			// command only while it still runs at the verdict: a
			// short-lived helper that exited before (a check script's
			// grep, run by sudo as nobody in one run and by the script as
			// root in another) is caught by the last sample or not by
			// chance, and its command alone says nothing of its role.
			if p.Exited {
				continue
			}
			if was, ok = byComm[p.Comm]; !ok {
				continue
			}
			b = commSeen[p.Comm]
		}
		extra := v &^ was
		if extra == 0 {
			continue
		}
		when := ""
		if p.Exited {
			when = " until it exited, before the verdict"
		}
		out = append(out, fmt.Sprintf("%s (pid %d, parent %s) ran with %s%s (uids %d/%d/%d, gids %d/%d/%d, groups %v), where under the starting set it ran as uid %d gid %d",
			p.Comm, p.PID, orDash(p.Parent), extra.words(), when, p.UIDs[0], p.UIDs[1], p.UIDs[2], p.GIDs[0], p.GIDs[1], p.GIDs[2], p.Groups, b.UIDs[1], b.GIDs[1]))
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

// credWatch follows the processes of a container while a trial runs, to
// judge where they ended up. The processes judged are those of the last
// sample, taken every credInterval and at the verdict (or, when the
// container has exited by then, the last one before): helpers that ran as
// root during start-up and were gone by then do not count, in the starting
// runs as in the candidates, so both are judged on the same processes.
//
// What each of them is judged by is exact when the kernel's process events
// can be had (procevents.go): every fork, exec, uid or gid change and exit
// as it happens, with the process's status read at once (saved ids,
// groups, command). A process is then judged as it exited, or at the
// verdict if it still runs: a daemon the last sample saw as root just
// before its switch to its service user is judged as its service user, not
// by the stale sample. (Judging every process the events show, transient
// ones included, was tried and made the starting runs and the candidates
// disagree on start-up helpers: a root haproxy that daemonized and exited
// within milliseconds was seen under its command in one run and, its
// status gone before it could be read, under its parent's in another.)
// Without the events (no CAP_NET_ADMIN, no connector, or events dropped)
// each process is judged by the last sample itself.
type credWatch struct {
	pid     int
	mu      sync.Mutex
	procs   map[int]*watched // by host pid, every process seen
	last    []ProcCreds      // the last sample
	events  *procListener    // nil: samples only
	evented bool             // events were subscribed to
	evErr   error            // why the events cannot be trusted (nil: they can)
	stop    chan struct{}
	done    sync.WaitGroup
	err     error
}

// watched is one process's last known state.
type watched struct {
	ProcCreds
	exited bool
}

// maxWatched bounds the processes a watch keeps; past it the events are
// given up and the samples judge.
const maxWatched = 1 << 16

// credInterval is how often a trial's processes are sampled. Without
// process events, when the container has exited by the verdict the last
// sample is what counts, so the interval bounds how stale it may be: at
// 100 ms a run of half a second (a daemon started, checked and stopped on
// an idle machine) was judged by a sample from its start-up, with the
// daemon still root before its drop to its service user, and the candidate
// failed as an escalation. A sample reads the status of the container's
// few processes.
const credInterval = 10 * time.Millisecond

// watchCreds starts following the processes in the pid namespace of the
// container whose first process is pid (a host pid), until Stop.
func watchCreds(pid int) *credWatch {
	w := &credWatch{pid: pid, procs: map[int]*watched{}, stop: make(chan struct{})}
	// Subscribe before the first sample: a change after the sample read
	// a process is then an event. The events that come meanwhile wait in
	// the socket and are applied after the first sample, in order, each
	// with a fresh status read.
	w.events, w.evErr = listenProcEvents()
	w.evented = w.events != nil
	w.sample()
	if w.events != nil {
		w.done.Add(1)
		go w.readEvents()
	}
	w.done.Add(1)
	go func() {
		defer w.done.Done()
		t := time.NewTicker(credInterval)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
			w.sample()
		}
	}()
	return w
}

// sample reads the container's processes: the last sample, and the state
// of each (a process first seen here is the container's for good).
func (w *credWatch) sample() {
	procs, err := containerProcs(w.pid)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.err = err
	}
	if len(procs) == 0 {
		return
	}
	w.last = procs
	for _, p := range procs {
		if o, ok := w.procs[p.PID]; ok && !o.exited {
			// Keep what events set if they are newer: a sample is read
			// before it is applied, so it may predate an event applied
			// meanwhile. The events' own status reads follow each change.
			if w.evented && w.evErr == nil {
				o.Parent = p.Parent
				continue
			}
		}
		w.put(p)
	}
}

// put records p as the latest state of its process (w.mu held).
func (w *credWatch) put(p ProcCreds) {
	if _, ok := w.procs[p.PID]; !ok && len(w.procs) >= maxWatched {
		if w.evErr == nil {
			w.evErr = fmt.Errorf("more than %d processes", maxWatched)
		}
		return
	}
	w.procs[p.PID] = &watched{ProcCreds: p}
}

// readEvents applies the kernel's process events to the processes of the
// container until Stop.
func (w *credWatch) readEvents() {
	defer w.done.Done()
	for {
		select {
		case <-w.stop:
			return
		default:
		}
		evs, err := w.events.read()
		if err == errProcTimeout {
			continue
		}
		w.mu.Lock()
		if err != nil && w.evErr == nil {
			w.evErr = err
		}
		for _, ev := range evs {
			w.apply(ev)
		}
		stop := w.evErr != nil
		w.mu.Unlock()
		if stop {
			return // the samples judge now
		}
	}
}

// apply updates the processes for one event (w.mu held). Only processes
// (thread group leaders) are followed, and only those of the container: a
// process the samples found there, and the children they fork.
func (w *credWatch) apply(ev procEvent) {
	if ev.What == procEventFork {
		parent, ok := w.procs[ev.Parent]
		if !ok || parent.exited || ev.Pid != ev.Tgid {
			return
		}
		// The child starts with its parent's credentials; its status,
		// read at once, may already be newer.
		c := parent.ProcCreds
		c.PID, c.ppid, c.Parent = ev.Pid, parent.PID, parent.Comm
		c.Groups = append([]uint32(nil), c.Groups...)
		if st, err := procStatus(ev.Pid); err == nil {
			st.Parent = parent.Comm
			c = st
		}
		w.put(c)
		return
	}
	p, ok := w.procs[ev.Tgid]
	if !ok || p.exited || ev.Pid != ev.Tgid {
		return
	}
	// The rest of the state (saved ids, groups, command) from its status,
	// read now: at least as new as the event. When the process is gone
	// already, the event's real and effective ids are what it exited
	// with, and its saved id is taken to have followed them when they are
	// the same (setuid, setresuid(id, id, id)): a saved id it kept alone
	// and exited with before its status could be read is not seen.
	if ev.What == procEventExit {
		p.exited = true
		return
	}
	if st, err := procStatus(ev.Tgid); err == nil {
		p.ProcCreds = st
		return
	}
	switch ev.What {
	case procEventUID:
		p.UIDs[0], p.UIDs[1] = ev.Real, ev.Effective
		if ev.Real == ev.Effective {
			p.UIDs[2] = ev.Effective
		}
	case procEventGID:
		p.GIDs[0], p.GIDs[1] = ev.Real, ev.Effective
		if ev.Real == ev.Effective {
			p.GIDs[2] = ev.Effective
		}
	}
}

// Stop ends the watch and returns the processes to judge: with process
// events, every process the container had, each as it ended up; without,
// the last sample. When nothing could be read, why.
func (w *credWatch) Stop() (*CredRecord, error) {
	w.sample() // the processes still running, at the verdict
	close(w.stop)
	w.done.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.events != nil {
		// The events of everything that happened by the verdict are
		// queued (the container's exit among them): apply them all.
		for i := 0; w.evErr == nil && i < maxWatched; i++ {
			evs, err := w.events.readNow()
			if err == errProcTimeout {
				break
			}
			if err != nil {
				w.evErr = err
			}
			for _, ev := range evs {
				w.apply(ev)
			}
		}
		w.events.Close()
	}
	return w.record()
}

// record is what Stop returns (w.mu held).
func (w *credWatch) record() (*CredRecord, error) {
	rec := NewCredRecord()
	if w.evented && w.evErr == nil && len(w.last) > 0 {
		judged := make([]ProcCreds, 0, len(w.last))
		for _, s := range w.last {
			c := s
			if p, ok := w.procs[s.PID]; ok {
				c = p.ProcCreds
				c.Exited = p.exited
				c.Parent = ""
				if parent, ok := w.procs[c.ppid]; ok {
					c.Parent = parent.Comm
				}
			}
			judged = append(judged, c)
		}
		rec.Add(judged)
		rec.last = judged
		rec.from = "process events: the processes of the last sample, each as it exited or at the verdict"
		return rec, nil
	}
	if len(w.last) == 0 {
		if w.err == nil {
			return rec, fmt.Errorf("no process of the container was seen")
		}
		return rec, w.err
	}
	rec.Add(w.last)
	rec.last = w.last
	why := "not available"
	if w.evErr != nil {
		why = w.evErr.Error()
	}
	rec.from = fmt.Sprintf("the last sample (every %s) before the verdict; process events: %s", credInterval, why)
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
	run.CredentialsFrom = rec.from
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
	if run.Phase != PhaseVerify && r.creds.Empty() {
		run.Credentials = "not compared: no passing run of the starting set showed its processes"
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
