//go:build linux && (amd64 || arm64)

package trace

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/procfs"
)

// ProgramPrefix starts the name of every BPF program the tracer loads, so
// tests (and users, with `bpftool prog`) can tell capdrop's programs apart.
// The kernel keeps the first 15 bytes of a program's name.
const ProgramPrefix = "cap_"

// trackNames are the tracker programs, attached whatever the mechanism.
var trackNames = []string{"track_exec", "track_fork", "track_exit"}

// Tracer is a loaded and attached capability-check tracer.
type Tracer struct {
	mech     Mechanism
	attempts []Attempt
	coll     *ebpf.Collection
	maps     map[string]*ebpf.Map
	progs    []*ebpf.Program // a taken-over tracer's, opened from its links
	links    []link.Link
	pin      pinState
	rd       *ringbuf.Reader
	vmProbe  bool

	closeOnce sync.Once
	readMu    sync.Mutex // one Records at a time: it freezes the count cache
	userLost  atomic.Uint64
	events    chan Event
	done      chan struct{}
}

// Open checks privileges, loads the tracer with the first mechanism the
// kernel accepts, attaches it, and starts streaming events. Close it.
func Open(opts Options) (*Tracer, error) {
	if err := checkPrivileges(); err != nil {
		return nil, err
	}
	spec, err := loadCapable()
	if err != nil {
		return nil, fmt.Errorf("load the embedded BPF object: %w", err)
	}
	if opts.MaxKeys > 0 {
		spec.Maps["counts"].MaxEntries = uint32(opts.MaxKeys)
	}
	if opts.MaxTasks > 0 {
		spec.Maps["tracked"].MaxEntries = uint32(opts.MaxTasks)
	}
	if n := opts.CacheSlots; n != 0 {
		if n < 1 || n > 256 || n&(n-1) != 0 {
			return nil, fmt.Errorf("cache slots %d: want a power of two from 1 to 256", n)
		}
		if err := spec.Variables["cache_mask"].Set(uint32(n - 1)); err != nil {
			return nil, fmt.Errorf("set cache_mask: %w", err)
		}
	}
	vm := vmProbeRanges()
	for name, v := range map[string]uint64{
		"vm_probe_lo": vm[0], "vm_probe_hi": vm[1], "vm_probe2_lo": vm[2], "vm_probe2_hi": vm[3],
	} {
		if err := spec.Variables[name].Set(v); err != nil {
			return nil, fmt.Errorf("set %s: %w", name, err)
		}
	}
	mechs := opts.Mechanisms
	if len(mechs) == 0 {
		mechs = Mechanisms
	}
	t := &Tracer{vmProbe: vm[0] != 0 || vm[2] != 0}
	if opts.PinPath != "" {
		ok, err := t.takeOver(spec, opts.PinPath)
		if err != nil {
			return nil, err
		}
		if ok {
			return t.start(opts)
		}
	}
	for _, m := range mechs {
		err := t.load(spec, m)
		if err == nil {
			t.mech = m
			break
		}
		t.attempts = append(t.attempts, Attempt{Mechanism: m, Err: err})
		if errors.Is(err, ErrPrivilege) {
			return nil, err
		}
	}
	if t.coll == nil {
		return nil, &UnsupportedError{Attempts: t.attempts}
	}
	t.maps = t.coll.Maps
	if opts.PinPath != "" {
		t.pinNew(spec, opts.PinPath)
	}
	return t.start(opts)
}

// start configures the tracer and starts reading its events.
func (t *Tracer) start(opts Options) (*Tracer, error) {
	if err := t.configure(settings(opts)); err != nil {
		t.Close()
		return nil, err
	}
	rd, err := ringbuf.NewReader(t.maps["events"])
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("read the event ring buffer: %w", err)
	}
	t.rd = rd
	t.events = make(chan Event, 1024)
	t.done = make(chan struct{})
	go t.read()
	return t, nil
}

// raiseMemlock lifts RLIMIT_MEMLOCK while the tracer creates its maps and
// loads its programs, and returns the function that puts the old limit
// back. Kernels before 5.11 charge BPF memory to that limit (later ones to
// the memory cgroup); a root shell's default of 64 KiB or 8 MiB is not
// enough there. The old limit must come back before any workload starts:
// rlimits are inherited, and a workload run with an unlimited memlock would
// never make the CAP_IPC_LOCK check it makes for real, so its profile would
// miss a need. Failing to raise (root without CAP_SYS_RESOURCE) is not an
// error: on 5.11 and later nothing needs it, and before that the map
// creation error says what is wrong.
func raiseMemlock() (restore func()) {
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &old); err != nil {
		return func() {}
	}
	want := unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}
	if unix.Setrlimit(unix.RLIMIT_MEMLOCK, &want) != nil {
		// Without CAP_SYS_RESOURCE the soft limit can still go up to the hard one.
		want = unix.Rlimit{Cur: old.Max, Max: old.Max}
		if want.Cur == old.Cur || unix.Setrlimit(unix.RLIMIT_MEMLOCK, &want) != nil {
			return func() {}
		}
	}
	return func() { _ = unix.Setrlimit(unix.RLIMIT_MEMLOCK, &old) }
}

func settings(o Options) capableSettings {
	s := capableSettings{TargetMntns: o.TargetMntNS}
	if o.FollowNewMntNS {
		s.FollowNewMntns = 1
	}
	if o.TagSessions {
		s.TagSessions = 1
	}
	if o.KeyMemoryCgroup {
		s.KeyMemcg = 1
	}
	return s
}

// load loads the programs of one mechanism plus the trackers, and attaches
// them; on failure it leaves nothing loaded.
func (t *Tracer) load(spec *ebpf.CollectionSpec, m Mechanism) (err error) {
	progs, err := mechanismPrograms(m)
	if err != nil {
		return err
	}
	if err := probe(m); err != nil {
		return err
	}
	coll, err := loadPrograms(spec, append(progs, trackNames...))
	if err != nil {
		return err
	}
	var links []link.Link
	defer func() {
		if err != nil {
			for _, l := range links {
				l.Close()
			}
			coll.Close()
		}
	}()
	for _, name := range trackNames {
		l, err := link.AttachRawTracepoint(link.RawTracepointOptions{
			Name: "sched_process_" + strings.TrimPrefix(name, "track_"), Program: coll.Programs[name]})
		if err != nil {
			return fmt.Errorf("attach %s: %w", name, loadError(err))
		}
		links = append(links, l)
	}
	attach := func(l link.Link, err error) error {
		if err != nil {
			return loadError(err)
		}
		links = append(links, l)
		return nil
	}
	switch m {
	case TracepointBTF:
		err = attach(link.AttachTracing(link.TracingOptions{Program: coll.Programs["cap_tp_btf"]}))
	case RawTracepoint:
		err = attach(link.AttachRawTracepoint(link.RawTracepointOptions{Name: "cap_capable", Program: coll.Programs["cap_raw_tp"]}))
	case Fexit:
		if err = attach(link.AttachTracing(link.TracingOptions{Program: coll.Programs["capset_fexit"]})); err == nil {
			err = attach(link.AttachTracing(link.TracingOptions{Program: coll.Programs["cap_fexit"]}))
		}
	case Kprobe:
		// Each kretprobe first: a kprobe without its kretprobe would only
		// fill the pending maps.
		for _, fn := range []string{"cap_capset", "cap_capable"} {
			prefix := strings.TrimPrefix(fn, "cap_") + "_"
			if fn == "cap_capable" {
				prefix = "cap_"
			}
			if err = attach(link.Kretprobe(fn, coll.Programs[prefix+"kretprobe"], nil)); err != nil {
				break
			}
			if err = attach(link.Kprobe(fn, coll.Programs[prefix+"kprobe"], nil)); err != nil {
				break
			}
		}
	}
	if err != nil {
		return fmt.Errorf("attach: %w", err)
	}
	t.coll, t.links = coll, links
	return nil
}

// loadPrograms loads the named programs of spec (and the maps they use)
// through the verifier, without attaching them.
func loadPrograms(spec *ebpf.CollectionSpec, names []string) (*ebpf.Collection, error) {
	restore := raiseMemlock()
	defer restore()
	cs := spec.Copy()
	keep := map[string]bool{}
	for _, p := range names {
		keep[p] = true
	}
	for name := range cs.Programs {
		if !keep[name] {
			delete(cs.Programs, name)
		}
	}
	coll, err := ebpf.NewCollectionWithOptions(cs, ebpf.CollectionOptions{})
	if err != nil {
		return nil, loadError(err)
	}
	return coll, nil
}

func mechanismPrograms(m Mechanism) ([]string, error) {
	switch m {
	case TracepointBTF:
		return []string{"cap_tp_btf"}, nil
	case RawTracepoint:
		return []string{"cap_raw_tp"}, nil
	case Fexit:
		return []string{"cap_fexit", "capset_fexit"}, nil
	case Kprobe:
		return []string{"cap_kprobe", "cap_kretprobe", "capset_kprobe", "capset_kretprobe"}, nil
	}
	return nil, fmt.Errorf("unknown mechanism %q", m)
}

// probe checks, before loading anything, that the kernel has what the
// mechanism hooks, so the error names the missing piece.
func probe(m Mechanism) error {
	switch m {
	case TracepointBTF, RawTracepoint:
		if !tracepointExists("capability", "cap_capable") {
			// Neither attaches through tracefs: the kernel's BTF
			// knows the tracepoint as well, when tracefs is not mounted.
			spec, err := btf.LoadKernelSpec()
			if err == nil {
				var td *btf.Typedef
				if spec.TypeByName("btf_trace_cap_capable", &td) == nil {
					return nil
				}
			}
			if err != nil && !tracefsMounted() {
				return fmt.Errorf("cannot tell whether this kernel has the capability:cap_capable tracepoint: it has no BTF and tracefs is not mounted (as root: mount -t tracefs tracefs /sys/kernel/tracing): %w", ErrUnsupported)
			}
			return fmt.Errorf("no capability:cap_capable tracepoint (added in Linux 6.14): %w", ErrUnsupported)
		}
	case Fexit:
		spec, err := btf.LoadKernelSpec()
		if err != nil {
			return fmt.Errorf("no kernel BTF (CONFIG_DEBUG_INFO_BTF): %w", err)
		}
		if err := checkCapCapableBTF(spec); err != nil {
			return err
		}
	case Kprobe:
		if _, err := os.Stat("/sys/bus/event_source/devices/kprobe/type"); err != nil {
			return fmt.Errorf("no kprobe PMU (CONFIG_KPROBES, CONFIG_KPROBE_EVENTS): %w", ErrUnsupported)
		}
	}
	return nil
}

// checkCapCapableBTF checks cap_capable's signature in the kernel's BTF:
// (const struct cred *, struct user_namespace *, int cap, unsigned int
// opts) since Linux 5.1.
func checkCapCapableBTF(spec *btf.Spec) error {
	var fn *btf.Func
	if err := spec.TypeByName("cap_capable", &fn); err != nil {
		return fmt.Errorf("cap_capable is not in the kernel's BTF: %w", ErrUnsupported)
	}
	proto, ok := fn.Type.(*btf.FuncProto)
	if !ok || len(proto.Params) != 4 {
		return fmt.Errorf("cap_capable in the kernel's BTF does not take (cred, ns, cap, opts): %w", ErrUnsupported)
	}
	if proto.Params[2].Name != "cap" || (proto.Params[3].Name != "opts" && proto.Params[3].Name != "audit") {
		return fmt.Errorf("cap_capable's parameters are %s, %s, %s, %s; want cred, ns, cap, opts: %w",
			proto.Params[0].Name, proto.Params[1].Name, proto.Params[2].Name, proto.Params[3].Name, ErrUnsupported)
	}
	if proto.Params[3].Name == "audit" {
		return fmt.Errorf("cap_capable's fourth parameter is the pre-5.1 audit flag: %w", ErrUnsupported)
	}
	return nil
}

// tracefsMounted reports whether tracefs is mounted where the kernel's
// trace events are looked up.
func tracefsMounted() bool {
	for _, root := range []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"} {
		if _, err := os.Stat(filepath.Join(root, "events")); err == nil {
			return true
		}
	}
	return false
}

func tracepointExists(group, name string) bool {
	for _, root := range []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"} {
		if _, err := os.Stat(filepath.Join(root, "events", group, name)); err == nil {
			return true
		}
	}
	return false
}

// loadError turns EPERM from the kernel into a PrivilegeError when the
// process lacks the capabilities, and leaves other errors as they are.
func loadError(err error) error {
	if errors.Is(err, os.ErrPermission) {
		if perr := checkPrivileges(); perr != nil {
			return perr
		}
		return fmt.Errorf("%w (refused although the process has CAP_BPF and CAP_PERFMON: before Linux 5.11 the locked-memory limit (ulimit -l) may be too low, otherwise a security module or lockdown forbids this program type)", err)
	}
	return err
}

func checkPrivileges() error {
	st, err := procfs.ReadStatus("", os.Getpid())
	if err != nil {
		return fmt.Errorf("read own capabilities: %w", err)
	}
	if missing := NeededPrivileges(st.Sets.Effective); !missing.IsEmpty() {
		return &PrivilegeError{Missing: missing, Detail: "effective set " + st.Sets.Effective.Hex()}
	}
	return nil
}

// vmProbeRanges finds [start, end) of the kernel functions whose capability
// checks are the overcommit probe, from /proc/kallsyms: on kernels where the
// tracepoint hides opts, the BPF program recognises that probe on the stack.
// Zeros when kallsyms hides addresses (needs CAP_SYSLOG).
func vmProbeRanges() [4]uint64 {
	var out [4]uint64
	f, err := os.Open("/proc/kallsyms")
	if err != nil {
		return out
	}
	defer f.Close()
	want := map[string]int{"security_vm_enough_memory_mm": 0, "cap_vm_enough_memory": 2}
	pending := -1
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 {
			continue
		}
		addr, err := strconv.ParseUint(fields[0], 16, 64)
		if err != nil || addr == 0 {
			continue
		}
		if pending >= 0 && addr > out[pending] {
			out[pending+1] = addr
			pending = -1
		}
		if i, ok := want[fields[2]]; ok && len(fields) == 3 && out[i] == 0 {
			out[i] = addr
			pending = i
		}
	}
	for i := 0; i < 4; i += 2 {
		if out[i+1] == 0 {
			out[i] = 0
		}
	}
	return out
}

func (t *Tracer) configure(s capableSettings) error {
	if err := t.maps["config"].Put(uint32(0), s); err != nil {
		return fmt.Errorf("configure the tracer: %w", err)
	}
	return nil
}

// Mechanism returns how cap_capable is hooked.
func (t *Tracer) Mechanism() Mechanism { return t.mech }

// Attempts returns the mechanisms tried before the one in use, and why each
// failed.
func (t *Tracer) Attempts() []Attempt { return t.attempts }

// VMProbeDetection reports whether the overcommit probe is recognised on the
// kernel stack (kallsyms readable). With opts visible it is not needed.
func (t *Tracer) VMProbeDetection() bool { return t.vmProbe }

// SetTarget restricts new roots and recorded checks to the mount namespace
// mntns, ending FollowNewMntNS.
func (t *Tracer) SetTarget(mntns uint32) error {
	var s capableSettings
	if err := t.maps["config"].Lookup(uint32(0), &s); err != nil {
		return fmt.Errorf("read the tracer's settings: %w", err)
	}
	s.TargetMntns, s.FollowNewMntns = mntns, 0
	return t.configure(s)
}

// Track follows the process pid, all its threads, and from then on their
// descendants, as if it were a root exec'd in mntns (for profiling a running
// container). Pass mntns 0 to use the process's own.
func (t *Tracer) Track(pid int, mntns uint32) error {
	if mntns == 0 {
		ns, err := MntNS(pid)
		if err != nil {
			return err
		}
		mntns = ns
	}
	tids, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return fmt.Errorf("threads of process %d: %w", pid, err)
	}
	for _, e := range tids {
		tid, err := strconv.ParseUint(e.Name(), 10, 32)
		if err != nil {
			continue
		}
		ti := capableTaskInfo{Mntns: mntns, Root: uint32(pid), Amb0: ambient(pid)}
		// The command, as the BPF side records it at exec; a thread that
		// ended meanwhile keeps an empty one (it makes no more checks).
		if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/comm", pid, tid)); err == nil {
			for i, c := range []byte(strings.TrimSuffix(string(comm), "\n")) {
				if i == len(ti.Comm)-1 {
					break
				}
				ti.Comm[i] = int8(c)
			}
		}
		if err := t.track(uint32(tid), ti); err != nil {
			return fmt.Errorf("track task %d: %w", tid, err)
		}
	}
	return nil
}

// ambient returns the ambient set of process pid (0 when unreadable): for a
// root tracked from user space, what the runtime gave it, so that only
// ambient capabilities raised later count as gained at an exec.
func ambient(pid int) uint64 {
	st, err := procfs.ReadStatus("", pid)
	if err != nil {
		return 0
	}
	return uint64(st.Sets.Ambient)
}

// track adds a task to the tracked tasks as the BPF side's tracked_put
// does: in its slot of track_slots when the slot is free or its own, else
// in the tracked hash, with the slot marked.
func (t *Tracer) track(tid uint32, ti capableTaskInfo) error {
	slots := t.maps["track_slots"]
	i := tid & (trackSlots - 1)
	var s capableTrackSlot
	if err := slots.Lookup(i, &s); err != nil {
		return err
	}
	if s.Tid == 0 || s.Tid == tid {
		if s.Overflow != 0 {
			_ = t.maps["tracked"].Delete(tid)
		}
		s.Tid, s.Info = tid, ti
		return slots.Put(i, s)
	}
	s.Overflow = 1
	if err := slots.Put(i, s); err != nil {
		return err
	}
	return t.maps["tracked"].Put(tid, ti)
}

// trackSlots is TRACK_SLOTS of capable.bpf.c.
const trackSlots = 65536

// MntNS returns the inode of the mount namespace of process pid.
func MntNS(pid int) (uint32, error) {
	var st unix.Stat_t
	path := fmt.Sprintf("/proc/%d/ns/mnt", pid)
	if err := unix.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("mount namespace of process %d: %w", pid, err)
	}
	return uint32(st.Ino), nil
}

// Events streams first-seen keys and new roots. The channel closes when
// the tracer does. When the consumer is slow, events are dropped here (the
// counts in Records are unaffected) and added to Counters.Lost.
func (t *Tracer) Events() <-chan Event { return t.events }

func (t *Tracer) read() {
	defer close(t.events)
	for {
		rec, err := t.rd.Read()
		if err != nil {
			return
		}
		ev, err := decodeEvent(rec.RawSample)
		if err != nil {
			continue
		}
		select {
		case t.events <- ev:
		default:
			t.userLost.Add(1)
		}
	}
}

func decodeEvent(b []byte) (Event, error) {
	if len(b) < 8 {
		return Event{}, fmt.Errorf("short event (%d bytes)", len(b))
	}
	switch binary.NativeEndian.Uint32(b) {
	case 1:
		var e capableKeyEvent
		if err := binary.Read(bytes.NewReader(b), binary.NativeEndian, &e); err != nil {
			return Event{}, err
		}
		k := keyOf(e.Key)
		return Event{Key: &k, PID: e.Pid}, nil
	case 2:
		var e capableRootEvent
		if err := binary.Read(bytes.NewReader(b), binary.NativeEndian, &e); err != nil {
			return Event{}, err
		}
		r := rootOf(e.Root)
		return Event{Root: &r, PID: e.Pid}, nil
	}
	return Event{}, fmt.Errorf("unknown event type %d", binary.NativeEndian.Uint32(b))
}

func cString(b []int8) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		out = append(out, byte(c))
	}
	return string(out)
}

func keyOf(k capableKey) Key {
	return Key{Cgroup: k.Cgroup, MntNS: k.Mntns, Syscall: k.Syscall, Cap: capset.Cap(k.Cap),
		Denied: k.Denied != 0, Flags: Flag(k.Flags), Comm: cString(k.Comm[:]), Tag: k.Tag}
}

func rootOf(r capableRoot) Root {
	out := Root{PID: r.Pid, PPID: r.Ppid, MntNS: r.Mntns, Cgroup: r.Cgroup, Tag: r.Tag,
		Comm: cString(r.Comm[:]), CgroupName: cString(r.CgroupName[:]), CgroupParent: cString(r.CgroupParent[:])}
	if r.Tag != 0 {
		n := min(int(r.ArgsLen), len(r.Args))
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Args[i])
		}
		out.Args, out.Truncated = splitArgs(b, int(r.ArgsLen))
	}
	return out
}

// Records reads the counts map: every key with its count summed over CPUs,
// plus the checks still held in the per-CPU cache in front of it.
//
// The two are read one after the other while the programs go on counting,
// and a cache slot flushed between the reads would move its checks from
// the part not yet read into the part already read (lost to this read, or
// counted twice in the other order). So the read is checked against the
// per-CPU sequence counts the programs bump around every change of a
// slot's key, and repeated when one changed; meanwhile the cache is
// frozen (a new key goes straight to the counts map), so it settles.
func (t *Tracer) Records() ([]Record, error) {
	t.readMu.Lock()
	defer t.readMu.Unlock()
	ctl := t.maps["cache_ctls"]
	if err := ctl.Put(uint32(0), capableCacheCtl{Frozen: 1}); err != nil {
		return nil, fmt.Errorf("freeze the count cache: %w", err)
	}
	defer ctl.Put(uint32(0), capableCacheCtl{})
	t.pruneTracked()
	for try := 0; ; try++ {
		before, err := t.cacheSeqs()
		if err != nil {
			return nil, err
		}
		out, err := t.readRecords()
		if err != nil {
			return out, err
		}
		after, err := t.cacheSeqs()
		if err != nil {
			return nil, err
		}
		if settled(before, after) {
			return out, nil
		}
		// A program that saw the cache unfrozen is changing a slot: it
		// takes a microsecond.
		if try == recordsTries {
			return nil, fmt.Errorf("read the counts: the count cache changed during %d reads in a row", recordsTries+1)
		}
		time.Sleep(time.Millisecond)
	}
}

// recordsTries bounds the reads Records repeats.
const recordsTries = 100

// cacheSeqs reads each CPU's cache sequence count.
func (t *Tracer) cacheSeqs() ([]uint64, error) {
	var per []capableCacheSeq
	if err := t.maps["cache_seqs"].Lookup(uint32(0), &per); err != nil {
		return nil, fmt.Errorf("read the count cache's sequence counts: %w", err)
	}
	out := make([]uint64, len(per))
	for i, q := range per {
		out[i] = q.Seq
	}
	return out, nil
}

// settled says whether no slot of the count cache changed key between two
// reads of the sequence counts, or was changing at the first.
func settled(before, after []uint64) bool {
	if len(before) != len(after) {
		return false
	}
	for i := range before {
		if before[i]%2 != 0 || before[i] != after[i] {
			return false
		}
	}
	return true
}

// readRecords reads the counts map and the count cache once.
func (t *Tracer) readRecords() ([]Record, error) {
	var (
		k   capableKey
		per []uint64
		out []Record
	)
	index := map[capableKey]int{}
	it := t.maps["counts"].Iterate()
	for it.Next(&k, &per) {
		var n uint64
		for _, v := range per {
			n += v
		}
		index[k] = len(out)
		out = append(out, Record{Key: keyOf(k), Count: n})
	}
	if err := it.Err(); err != nil {
		return out, fmt.Errorf("read the counts map: %w", err)
	}
	err := t.cachedSlots(func(s capableSlot) {
		if i, ok := index[s.K]; ok {
			out[i].Count += s.N
			return
		}
		// Not in counts (it was flushed away meanwhile, or never made
		// it): still a real count of real checks.
		index[s.K] = len(out)
		out = append(out, Record{Key: keyOf(s.K), Count: s.N})
	})
	return out, err
}

// cachedSlots calls f with every slot of the per-CPU count cache, on every
// CPU, that holds checks not yet flushed into the counts map (n > 0).
func (t *Tracer) cachedSlots(f func(capableSlot)) error {
	var (
		slot  uint32
		slots []capableSlot
	)
	it := t.maps["cache"].Iterate()
	for it.Next(&slot, &slots) {
		for _, s := range slots {
			if s.N != 0 {
				f(s)
			}
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read the count cache: %w", err)
	}
	return nil
}

// Roots reads the roots map: every task that became tracked by its exec.
func (t *Tracer) Roots() ([]Root, error) {
	var (
		pid uint32
		r   capableRoot
		out []Root
	)
	it := t.maps["roots"].Iterate()
	for it.Next(&pid, &r) {
		out = append(out, rootOf(r))
	}
	if err := it.Err(); err != nil {
		return out, fmt.Errorf("read the roots map: %w", err)
	}
	return out, nil
}

// Counters reads the loss counters.
func (t *Tracer) Counters() (Counters, error) {
	var c Counters
	fields := []*uint64{&c.Overflow, &c.Lost, &c.TasksOverflow, &c.PendingOverflow, &c.RootsOverflow, &c.GainsOverflow}
	for i, f := range fields {
		var per []uint64
		if err := t.maps["counters"].Lookup(uint32(i), &per); err != nil {
			return c, fmt.Errorf("read counter %d: %w", i, err)
		}
		for _, v := range per {
			*f += v
		}
	}
	c.Lost += t.userLost.Load()
	c.Missed = t.missed()
	return c, nil
}

// missed counts the runs of the programs the kernel skipped: a program is
// not run on a CPU where it (or, for kprobes, any kprobe program) is
// already running, such as when an interrupt makes a capability check
// during one (bpf_prog_info's recursion_misses, Linux 5.12), and a kprobe
// or kretprobe can miss a call (its link's missed count, Linux 6.7).
// Either way a check, an exec, a fork or an exit went unseen. Kernels
// without these counts report none.
func (t *Tracer) missed() uint64 {
	var n uint64
	for _, p := range t.programs() {
		if st, err := p.Stats(); err == nil {
			n += st.RecursionMisses
		}
	}
	for _, l := range t.links {
		info, err := l.Info()
		if err != nil {
			continue
		}
		if pe := info.PerfEvent(); pe != nil {
			if k := pe.Kprobe(); k != nil {
				n += k.Missed
			}
		}
	}
	return n
}

// ProgramIDs returns the kernel IDs of the loaded programs (for tests and
// diagnostics).
func (t *Tracer) ProgramIDs() []uint32 {
	var ids []uint32
	for _, p := range t.programs() {
		if info, err := p.Info(); err == nil {
			if id, ok := info.ID(); ok {
				ids = append(ids, uint32(id))
			}
		}
	}
	return ids
}

// Gains reads what the workloads' tasks kept or gained without a
// cap_capable check: per workload, command and source, the capabilities a
// capset(2) asked for or an exec gave (see Gain).
func (t *Tracer) Gains() ([]Gain, error) {
	var (
		k   capableGainKey
		per []capableGain
		out []Gain
	)
	it := t.maps["gains"].Iterate()
	for it.Next(&k, &per) {
		g := Gain{Cgroup: k.Cgroup, MntNS: k.Mntns, Source: GainSource(k.Source), Failed: k.Failed != 0, Root: k.Root != 0,
			Comm: cString(k.Comm[:]), Tag: k.Tag}
		for _, v := range per {
			g.Caps |= capset.Set(v.Caps)
			g.Lacking |= capset.Set(v.Lacking)
			g.Count += v.Count
		}
		if g.Count > 0 {
			out = append(out, g)
		}
	}
	if err := it.Err(); err != nil {
		return out, fmt.Errorf("read the gains map: %w", err)
	}
	return out, nil
}

// Close detaches and unloads everything. It is safe to call more than once.
func (t *Tracer) Close() error {
	t.closeOnce.Do(func() {
		for _, l := range t.links {
			l.Close()
		}
		if t.rd != nil {
			t.rd.Close()
		}
		if t.done != nil {
			close(t.done)
		}
		if t.coll != nil {
			t.coll.Close()
		}
		if t.coll == nil {
			for _, m := range t.maps {
				m.Close()
			}
			for _, p := range t.progs {
				p.Close()
			}
		}
		if t.pin.meta != nil {
			t.pin.meta.Close()
		}
	})
	return nil
}

// programs returns the tracer's programs: its collection's, or a
// taken-over tracer's, opened from its links.
func (t *Tracer) programs() []*ebpf.Program {
	if t.coll == nil {
		return t.progs
	}
	out := make([]*ebpf.Program, 0, len(t.coll.Programs))
	for _, p := range t.coll.Programs {
		out = append(out, p)
	}
	return out
}
