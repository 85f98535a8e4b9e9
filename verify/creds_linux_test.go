//go:build linux

package verify

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// TestWatchCredsProcessEvents follows a real process, the first of a new
// pid namespace: it runs as root for 300 ms (the samples see it so), then
// drops to uid and gid 33 and exits at once (setpriv, then true: about a
// millisecond, well inside one sampling interval). The last sample saw it
// as root; the record must judge it as it exited, as uid 33, from the
// kernel's process events.
func TestWatchCredsProcessEvents(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: a new pid namespace and the process events connector (CAP_NET_ADMIN)")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("needs setpriv (util-linux)")
	}
	cmd := exec.Command("/bin/sh", "-c", "sleep 0.3; exec "+setpriv+" --reuid=33 --regid=33 --clear-groups true")
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
	var judged bool
	for _, p := range rec.last {
		if p.PID != cmd.Process.Pid {
			continue
		}
		judged = true
		if !p.Exited || p.UIDs != [3]uint32{33, 33, 33} || p.GIDs != [3]uint32{33, 33, 33} || len(p.Groups) != 0 {
			t.Errorf("judged as %+v, want exited as uid and gid 33 with no groups", p)
		}
	}
	if !judged {
		t.Errorf("the namespace's first process (%d) is not judged: %+v", cmd.Process.Pid, rec.last)
	}
}
