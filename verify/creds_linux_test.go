//go:build linux

package verify

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// TestWatchCredsProcessEvents follows real processes in a new pid
// namespace: one drops to uid and gid 33 and exits at once (setpriv, then
// true: about a millisecond, well inside one sampling interval), one stays
// root. The record must hold the first as it exited, as uid 33, from the
// kernel's process events, not as whatever a sample caught.
func TestWatchCredsProcessEvents(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: a new pid namespace and the process events connector (CAP_NET_ADMIN)")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("needs setpriv (util-linux)")
	}
	cmd := exec.Command("/bin/sh", "-c", "sleep 0.3; "+setpriv+" --reuid=33 --regid=33 --clear-groups true; /bin/sh -c 'exit 0'; sleep 0.3")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := watchCreds(cmd.Process.Pid)
	if err := cmd.Wait(); err != nil {
		w.Stop()
		t.Fatal(err)
	}
	rec, err := w.Stop()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("from %s: %+v", rec.from, rec.last)
	if !strings.HasPrefix(rec.from, "process events") {
		t.Fatalf("the process events were not used: %s", rec.from)
	}
	var dropped, first bool
	for _, p := range rec.last {
		if p.UIDs == [3]uint32{33, 33, 33} && p.GIDs == [3]uint32{33, 33, 33} && len(p.Groups) == 0 && p.Exited {
			dropped = true
		}
		if p.PID == cmd.Process.Pid {
			first = p.Exited && p.UIDs == [3]uint32{} && p.Comm == "sh"
		}
	}
	if !dropped {
		t.Errorf("no exited process with uid and gid 33 and no groups: %+v", rec.last)
	}
	if !first {
		t.Errorf("the namespace's first process (%d) is not there, exited, as root: %+v", cmd.Process.Pid, rec.last)
	}
}
