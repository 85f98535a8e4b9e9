package verify

import (
	"encoding/binary"
	"fmt"
)

// The kernel's process events connector (cn_proc) reports, as they happen,
// every fork, exec, change of real or effective uid or gid, and exit of
// every process on the host, by host pid. A trial's credentials are judged
// from these events where they can be had: a process's last uid and gid
// are then the ones the kernel committed, not whatever a sample happened
// to see (see creds.go).

// Process event kinds (linux/cn_proc.h).
const (
	procEventFork = 0x00000001
	procEventExec = 0x00000002
	procEventUID  = 0x00000004
	procEventGID  = 0x00000040
	procEventComm = 0x00000200
	procEventExit = 0x80000000
)

// procEvent is one decoded process event. Pid is the thread, Tgid its
// process; for a fork, Pid and Tgid are the child's and Parent the
// parent's process. For a uid or gid change, Real and Effective are the
// new ids.
type procEvent struct {
	What            uint32
	Pid, Tgid       int
	Parent          int
	Real, Effective uint32
}

const (
	nlmsgHdrLen = 16 // struct nlmsghdr
	cnMsgLen    = 20 // struct cn_msg: id (idx, val), seq, ack, len, flags
	procHdrLen  = 16 // struct proc_event: what, cpu, timestamp_ns
	cnIdxProc   = 1
	cnValProc   = 1
	nlmsgDone   = 3
	nlmsgError  = 2
	nlmsgNoop   = 1
)

// parseProcEvents decodes the netlink messages of one datagram from the
// connector. Messages that are not process events are skipped; a
// malformed datagram is an error naming the offset where it went wrong,
// with the events before it returned.
func parseProcEvents(b []byte) ([]procEvent, error) {
	var out []procEvent
	ne := binary.NativeEndian
	for off := 0; off < len(b); {
		if len(b)-off < nlmsgHdrLen {
			return out, fmt.Errorf("process events: %d trailing bytes at offset %d, shorter than a netlink header", len(b)-off, off)
		}
		n := int(ne.Uint32(b[off:]))
		typ := ne.Uint16(b[off+4:])
		if n < nlmsgHdrLen || n > len(b)-off {
			return out, fmt.Errorf("process events: netlink message at offset %d claims %d bytes, %d left", off, n, len(b)-off)
		}
		msg, at := b[off+nlmsgHdrLen:off+n], off
		off += (n + 3) &^ 3 // NLMSG_ALIGN
		if typ == nlmsgNoop || typ == nlmsgError || len(msg) < cnMsgLen {
			continue
		}
		if ne.Uint32(msg) != cnIdxProc || ne.Uint32(msg[4:]) != cnValProc {
			continue
		}
		l := int(ne.Uint16(msg[16:]))
		data := msg[cnMsgLen:]
		if l > len(data) {
			return out, fmt.Errorf("process events: connector message at offset %d claims %d bytes of data, %d there", at, l, len(data))
		}
		data = data[:l]
		if len(data) < procHdrLen {
			continue
		}
		ev := procEvent{What: ne.Uint32(data)}
		d := data[procHdrLen:]
		u := func(i int) uint32 { return ne.Uint32(d[4*i:]) }
		need := procEventSize(ev.What)
		if need == 0 {
			continue
		}
		if len(d) < need {
			return out, fmt.Errorf("process event %#x at offset %d has %d bytes, want %d", ev.What, at, len(d), need)
		}
		switch ev.What {
		case procEventFork:
			ev.Parent = int(u(1))
			ev.Pid, ev.Tgid = int(u(2)), int(u(3))
		case procEventUID, procEventGID:
			ev.Pid, ev.Tgid = int(u(0)), int(u(1))
			ev.Real, ev.Effective = u(2), u(3)
		default:
			ev.Pid, ev.Tgid = int(u(0)), int(u(1))
		}
		out = append(out, ev)
	}
	return out, nil
}

// procEventSize is how many bytes of an event's data are decoded; 0 for
// the kinds that are skipped.
func procEventSize(what uint32) int {
	switch what {
	case procEventFork, procEventUID, procEventGID:
		return 16
	case procEventExec, procEventComm, procEventExit:
		return 8
	}
	return 0
}

// procListenMsg is the message that subscribes a connector socket to
// process events (op PROC_CN_MCAST_LISTEN, 1) or ends it (IGNORE, 2).
func procListenMsg(op uint32) []byte {
	ne := binary.NativeEndian
	b := make([]byte, nlmsgHdrLen+cnMsgLen+4)
	ne.PutUint32(b, uint32(len(b)))
	ne.PutUint16(b[4:], nlmsgDone)
	c := b[nlmsgHdrLen:]
	ne.PutUint32(c, cnIdxProc)
	ne.PutUint32(c[4:], cnValProc)
	ne.PutUint16(c[16:], 4)
	ne.PutUint32(c[cnMsgLen:], op)
	return b
}
