package trace

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// initPIDNS is the inode of the initial PID namespace's /proc/self/ns/pid
// (PROC_PID_INIT_INO in the kernel): the same on every kernel.
const initPIDNS = "pid:[4026531836]"

// pruneTracked deletes from the tracked hash the tasks whose thread no
// longer exists, and returns how many it deleted.
//
// track_exit deletes a task when it exits, but the kernel may skip a run of
// a tracing program (it counts the skip, which Counters.Missed reports):
// Linux 7.x skips a raw tracepoint program that is already running on the
// same CPU, which happens when an exiting task is preempted inside it and
// another exits there. The dead task's entry would then stay, and the next
// task given its tid would be taken for a followed one. The hash holds the
// kernel's global tids, so this is done only where capdrop sees every task:
// from the initial PID namespace. The direct-mapped slots are left alone:
// the BPF side takes a slot without a lock, and only a hash delete is
// atomic against it. A tid freed and given to a new followed task between
// the two loops below would lose that task its entry; tids are handed out
// in turn up to pid_max, so that needs the whole tid space to wrap at once.
func (t *Tracer) pruneTracked() int {
	if ns, err := os.Readlink("/proc/self/ns/pid"); err != nil || ns != initPIDNS {
		return 0
	}
	m := t.maps["tracked"]
	if m == nil {
		return 0
	}
	var (
		tid  uint32
		info capableTaskInfo
		dead []uint32
	)
	for it := m.Iterate(); it.Next(&tid, &info); {
		// /proc/<tid> exists for every thread, listed or not.
		if _, err := os.Lstat("/proc/" + strconv.FormatUint(uint64(tid), 10)); os.IsNotExist(err) {
			dead = append(dead, tid)
		}
	}
	n := 0
	for _, tid := range dead {
		if m.Delete(tid) == nil {
			n++
		}
	}
	return n
}

// LiveCgroups returns the workloads (Key.Cgroup) that have at least one
// task the tracer follows: a container with a live process is in it. A
// task whose exit the kernel skipped (Counters.Missed) may keep its
// workload in the set; never the other way round, since every check is
// counted under its task's entry, so a workload no entry carries can make
// no further checks.
func (t *Tracer) LiveCgroups() (map[uint64]bool, error) {
	t.readMu.Lock()
	defer t.readMu.Unlock()
	live := map[uint64]bool{}
	slots := t.maps["track_slots"]
	if err := readSlots(slots, live); err != nil {
		return nil, fmt.Errorf("read the tracked tasks: %w", err)
	}
	var (
		tid  uint32
		info capableTaskInfo
	)
	it := t.maps["tracked"].Iterate()
	for it.Next(&tid, &info) {
		live[info.Cgroup] = true
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read the tracked tasks: %w", err)
	}
	return live, nil
}

// readSlots adds the workloads of the tracked-task slots in use to live:
// in batches where the kernel has them (Linux 5.6), else one by one.
func readSlots(m *ebpf.Map, live map[uint64]bool) error {
	const batch = 4096
	keys := make([]uint32, batch)
	vals := make([]capableTrackSlot, batch)
	var cursor ebpf.MapBatchCursor
	for {
		n, err := m.BatchLookup(&cursor, keys, vals, nil)
		for _, v := range vals[:n] {
			if v.Tid != 0 {
				live[v.Info.Cgroup] = true
			}
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		if errors.Is(err, ebpf.ErrNotSupported) || errors.Is(err, unix.EINVAL) {
			break
		}
		if err != nil {
			return err
		}
	}
	var (
		k uint32
		v capableTrackSlot
	)
	it := m.Iterate()
	for it.Next(&k, &v) {
		if v.Tid != 0 {
			live[v.Info.Cgroup] = true
		}
	}
	return it.Err()
}

// PruneCgroups deletes from the counts and gains maps every entry of the
// given workloads, which must be ended (not in LiveCgroups: no task can
// add to them meanwhile). A key still held with checks in a per-CPU slot
// of the count cache is left in the counts map, so that the slot's flush
// finds it (a flush that does not would count a loss); a later call
// deletes it, once the slot has moved on. It returns how many keys it
// deleted and how many it left for later.
func (t *Tracer) PruneCgroups(cgroups map[uint64]bool) (Pruned, error) {
	var p Pruned
	if len(cgroups) == 0 {
		return p, nil
	}
	t.readMu.Lock()
	defer t.readMu.Unlock()
	held := map[capableKey]bool{}
	if err := t.cachedSlots(func(s capableSlot) {
		if cgroups[s.K.Cgroup] {
			held[s.K] = true
		}
	}); err != nil {
		return p, err
	}
	var (
		k    capableKey
		per  []uint64
		dead []capableKey
	)
	it := t.maps["counts"].Iterate()
	for it.Next(&k, &per) {
		if !cgroups[k.Cgroup] {
			continue
		}
		if held[k] {
			p.Held++
			continue
		}
		dead = append(dead, k)
	}
	if err := it.Err(); err != nil {
		return p, fmt.Errorf("read the counts map: %w", err)
	}
	var errs []error
	for _, k := range dead {
		if err := t.maps["counts"].Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			errs = append(errs, err)
			continue
		}
		p.Records++
	}
	var (
		gk    capableGainKey
		gper  []capableGain
		gdead []capableGainKey
	)
	gi := t.maps["gains"].Iterate()
	for gi.Next(&gk, &gper) {
		if cgroups[gk.Cgroup] {
			gdead = append(gdead, gk)
		}
	}
	if err := gi.Err(); err != nil {
		errs = append(errs, fmt.Errorf("read the gains map: %w", err))
	}
	for _, k := range gdead {
		if err := t.maps["gains"].Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			errs = append(errs, err)
			continue
		}
		p.Gains++
	}
	if err := errors.Join(errs...); err != nil {
		return p, fmt.Errorf("prune the counts: %w", err)
	}
	return p, nil
}
