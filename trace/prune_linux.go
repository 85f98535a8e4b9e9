package trace

import (
	"os"
	"strconv"
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
