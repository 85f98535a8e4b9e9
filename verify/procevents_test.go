package verify

import (
	"encoding/binary"
	"strings"
	"testing"
)

// procMsg builds one netlink message of the connector carrying a process
// event of kind what with data words.
func procMsg(what uint32, words ...uint32) []byte {
	ne := binary.NativeEndian
	data := make([]byte, procHdrLen+4*len(words))
	ne.PutUint32(data, what)
	for i, w := range words {
		ne.PutUint32(data[procHdrLen+4*i:], w)
	}
	b := make([]byte, nlmsgHdrLen+cnMsgLen+len(data))
	ne.PutUint32(b, uint32(len(b)))
	ne.PutUint16(b[4:], nlmsgDone)
	c := b[nlmsgHdrLen:]
	ne.PutUint32(c, cnIdxProc)
	ne.PutUint32(c[4:], cnValProc)
	ne.PutUint16(c[16:], uint16(len(data)))
	copy(c[cnMsgLen:], data)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func TestParseProcEvents(t *testing.T) {
	var dgram []byte
	dgram = append(dgram, procMsg(procEventFork, 10, 10, 11, 11)...)
	dgram = append(dgram, procMsg(procEventUID, 11, 11, 33, 34)...)
	dgram = append(dgram, procMsg(0x80, 11, 11)...) // a session id change: skipped
	dgram = append(dgram, procMsg(procEventGID, 12, 11, 5, 6)...)
	dgram = append(dgram, procMsg(procEventExit, 11, 11, 0, 17, 10, 10)...)
	got, err := parseProcEvents(dgram)
	if err != nil {
		t.Fatal(err)
	}
	want := []procEvent{
		{What: procEventFork, Parent: 10, Pid: 11, Tgid: 11},
		{What: procEventUID, Pid: 11, Tgid: 11, Real: 33, Effective: 34},
		{What: procEventGID, Pid: 12, Tgid: 11, Real: 5, Effective: 6},
		{What: procEventExit, Pid: 11, Tgid: 11},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("event %d: got %+v, want %+v", i, got[i], want[i])
		}
	}

	// Malformed: the events before the fault come back, with an error
	// naming where it is.
	good := procMsg(procEventExec, 7, 7)
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"short header", append(append([]byte{}, good...), 1, 2, 3), "3 trailing bytes at offset 60"},
		{"length past the end", func() []byte {
			b := append(append([]byte{}, good...), procMsg(procEventExec, 8, 8)...)
			binary.NativeEndian.PutUint32(b[len(good):], 500)
			return b
		}(), "at offset 60 claims 500 bytes"},
		{"data past the message", func() []byte {
			b := append(append([]byte{}, good...), procMsg(procEventExec, 8, 8)...)
			binary.NativeEndian.PutUint16(b[len(good)+nlmsgHdrLen+16:], 400)
			return b
		}(), "at offset 60 claims 400 bytes of data"},
		{"event too short", append(append([]byte{}, good...), procMsg(procEventFork, 1, 1)...), "at offset 60 has 8 bytes, want 16"},
	} {
		t.Run(c.name, func(t *testing.T) {
			evs, err := parseProcEvents(c.b)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
			if len(evs) != 1 || evs[0].Pid != 7 {
				t.Errorf("events before the fault: %+v", evs)
			}
		})
	}
}

func FuzzParseProcEvents(f *testing.F) {
	f.Add(procMsg(procEventFork, 10, 10, 11, 11))
	f.Add(append(procMsg(procEventUID, 11, 11, 33, 33), procMsg(procEventExit, 11, 11, 0, 0, 1, 1)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		evs, _ := parseProcEvents(b)
		if len(evs) > len(b)/(nlmsgHdrLen+cnMsgLen+procHdrLen) {
			t.Fatalf("%d events from %d bytes", len(evs), len(b))
		}
	})
}

func TestProcListenMsg(t *testing.T) {
	b := procListenMsg(1)
	ne := binary.NativeEndian
	if len(b) != 40 || ne.Uint32(b) != 40 || ne.Uint16(b[4:]) != nlmsgDone || ne.Uint32(b[16:]) != cnIdxProc ||
		ne.Uint16(b[32:]) != 4 || ne.Uint32(b[36:]) != 1 {
		t.Errorf("listen message % x", b)
	}
}

// The pids below are above the kernel's pid_max, so no status can be read
// for them: the watch works from the events alone.
const fakePid = 1 << 23

func TestCredWatchEvents(t *testing.T) {
	w := &credWatch{procs: map[int]*watched{}, evented: true}
	script := proc(fakePid, "", "run.sh", 0, 0)
	w.put(script)
	// A daemon forked and exec'd by the script, and a worker it forks:
	// the last sample sees both still root; then the daemon drops to uid
	// and gid 33 and exits, and the worker exits as root. A helper the
	// script forks exits as root before any sample; a thread's fork and
	// an unknown parent's are not followed.
	for _, ev := range []procEvent{
		{What: procEventFork, Parent: fakePid, Pid: fakePid + 1, Tgid: fakePid + 1},
		{What: procEventFork, Parent: fakePid, Pid: fakePid + 9, Tgid: fakePid},
		{What: procEventFork, Parent: fakePid + 50, Pid: fakePid + 51, Tgid: fakePid + 51},
		{What: procEventFork, Parent: fakePid + 1, Pid: fakePid + 2, Tgid: fakePid + 2},
		{What: procEventFork, Parent: fakePid, Pid: fakePid + 3, Tgid: fakePid + 3},
		{What: procEventExit, Pid: fakePid + 3, Tgid: fakePid + 3},
	} {
		w.apply(ev)
	}
	w.last = []ProcCreds{script, proc(fakePid+1, "run.sh", "run.sh", 0, 0), proc(fakePid+2, "run.sh", "run.sh", 0, 0)}
	for _, ev := range []procEvent{
		{What: procEventGID, Pid: fakePid + 1, Tgid: fakePid + 1, Real: 33, Effective: 33},
		{What: procEventUID, Pid: fakePid + 1, Tgid: fakePid + 1, Real: 33, Effective: 33},
		{What: procEventExit, Pid: fakePid + 2, Tgid: fakePid + 2},
		{What: procEventExit, Pid: fakePid + 1, Tgid: fakePid + 1},
		{What: procEventUID, Pid: fakePid + 1, Tgid: fakePid + 1, Real: 0, Effective: 0}, // after its exit: not its
	} {
		w.apply(ev)
	}
	if len(w.procs) != 4 {
		t.Fatalf("followed %d processes, want 4: %+v", len(w.procs), w.procs)
	}
	d := w.procs[fakePid+1]
	if !d.exited || d.UIDs != [3]uint32{33, 33, 33} || d.GIDs != [3]uint32{33, 33, 33} || d.Parent != "run.sh" {
		t.Errorf("the daemon: %+v", d)
	}
	rec, err := w.record()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rec.from, "process events") || len(rec.last) != 3 {
		t.Fatalf("record from %q: %+v", rec.from, rec.last)
	}
	for _, p := range rec.last {
		if p.Exited != (p.PID != fakePid) {
			t.Errorf("pid %d exited %v", p.PID, p.Exited)
		}
		if p.PID == fakePid+1 && (p.UIDs != [3]uint32{33, 33, 33} || p.Parent != "run.sh") {
			t.Errorf("the daemon is judged as %+v, not as it exited", p)
		}
	}
	// Against a starting run whose worker ran as uid 33, the worker that
	// stayed root is an escalation, judged as it exited; the daemon's own
	// start as root is not, nor the helper no sample saw.
	base := NewCredRecord()
	base.Add([]ProcCreds{script, proc(1, "run.sh", "run.sh", 33, 33), proc(2, "run.sh", "run.sh", 33, 33)})
	esc := Escalations(base, rec)
	if len(esc) != 1 || !strings.Contains(esc[0], "until it exited, before the verdict") || !strings.Contains(esc[0], "uid 0") {
		t.Errorf("escalations %q", esc)
	}

	// Events lost: the last sample judges, as it saw the processes, and
	// the record says why.
	w.evErr = errProcTimeout
	rec, err = w.record()
	if err != nil || len(rec.last) != 3 || rec.last[1].UIDs[0] != 0 || !strings.Contains(rec.from, "the last sample") || !strings.Contains(rec.from, errProcTimeout.Error()) {
		t.Errorf("without events: %+v from %q, %v", rec.last, rec.from, err)
	}
}
