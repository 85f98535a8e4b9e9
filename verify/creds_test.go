package verify

import (
	"strings"
	"testing"
)

func proc(pid int, parent, comm string, uid, gid uint32, groups ...uint32) ProcCreds {
	return ProcCreds{PID: pid, Comm: comm, Parent: parent, UIDs: [3]uint32{uid, uid, uid}, GIDs: [3]uint32{gid, gid, gid}, Groups: groups}
}

func TestEscalations(t *testing.T) {
	// The starting set: a root master (run by the case script) and workers
	// as www-data.
	base := NewCredRecord()
	base.Add([]ProcCreds{proc(1, "", "run.sh", 0, 0), proc(7, "run.sh", "nginx", 0, 0), proc(8, "nginx", "nginx", 33, 33)})
	base.Add([]ProcCreds{proc(9, "nginx", "nginx", 33, 33)})
	for _, c := range []struct {
		name string
		cand []ProcCreds
		want []string // substrings of the messages, one per escalation
	}{
		{"same credentials", []ProcCreds{proc(1, "", "run.sh", 0, 0), proc(7, "run.sh", "nginx", 0, 0), proc(8, "nginx", "nginx", 33, 33)}, nil},
		{"workers stay root", []ProcCreds{proc(1, "", "run.sh", 0, 0), proc(7, "run.sh", "nginx", 0, 0), proc(8, "nginx", "nginx", 0, 0)},
			[]string{"nginx (pid 8, parent nginx) ran with uid 0, gid 0 (uids 0/0/0, gids 0/0/0, groups []), where under the starting set it ran as uid 33 gid 33"}},
		{"group root kept", []ProcCreds{proc(8, "nginx", "nginx", 33, 33, 0)}, []string{"ran with group 0"}},
		{"saved uid root", []ProcCreds{{PID: 8, Comm: "nginx", Parent: "nginx", UIDs: [3]uint32{33, 33, 0}, GIDs: [3]uint32{33, 33, 33}}}, []string{"ran with uid 0 (uids 33/33/0"}},
		{"a new root process", []ProcCreds{proc(12, "run.sh", "helper", 0, 0)}, nil},
		{"a known command in a new role", []ProcCreds{proc(1, "", "nginx", 0, 0)}, nil}, // the master was root
		{"lighttpd exec'd as root", []ProcCreds{proc(1, "", "lighttpd", 0, 0)}, nil},
		{"a new unprivileged process", []ProcCreds{proc(12, "run.sh", "helper", 5, 5)}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			cand := NewCredRecord()
			cand.Add(c.cand)
			got := Escalations(base, cand)
			if len(c.want) == 0 && len(got) != 0 || len(c.want) > 0 && len(got) != 1 {
				t.Fatalf("escalations %q, want %d", got, len(c.want))
			}
			for _, w := range c.want {
				if !strings.Contains(got[0], w) {
					t.Errorf("%q lacks %q", got[0], w)
				}
			}
		})
	}
	// A server that ran only as www-data under the starting set, exec'd
	// as root by its start script under the candidate.
	wb := NewCredRecord()
	wb.Add([]ProcCreds{proc(1, "", "start.sh", 0, 0), proc(7, "start.sh", "lighttpd", 33, 33)})
	wc := NewCredRecord()
	wc.Add([]ProcCreds{proc(1, "", "lighttpd", 0, 0, 0)})
	if got := Escalations(wb, wc); len(got) != 1 || !strings.Contains(got[0], "lighttpd (pid 1, parent -) ran with uid 0, gid 0, group 0") ||
		!strings.Contains(got[0], "it ran as uid 33 gid 33") {
		t.Errorf("lighttpd exec'd as root: %q", got)
	}
	// A short-lived helper in a role the starting runs did not show: the
	// last sample of the starting run caught grep run by sudo as nobody,
	// the candidate's the script's own grep as root, and both had exited
	// by the verdict. Its command alone does not make it the same
	// process; still running at the verdict, it is judged by it.
	gb := NewCredRecord()
	gb.Add([]ProcCreds{proc(1, "", "run.sh", 0, 0), proc(7, "sudo", "grep", 65534, 65534)})
	transient := proc(9, "run.sh", "grep", 0, 0)
	transient.Exited = true
	gc := NewCredRecord()
	gc.Add([]ProcCreds{proc(1, "", "run.sh", 0, 0), transient})
	if got := Escalations(gb, gc); got != nil {
		t.Errorf("a helper that exited before the verdict, in a new role: escalations %q", got)
	}
	gc = NewCredRecord()
	gc.Add([]ProcCreds{proc(1, "", "run.sh", 0, 0), proc(9, "run.sh", "grep", 0, 0)})
	if got := Escalations(gb, gc); len(got) != 1 || !strings.Contains(got[0], "grep (pid 9, parent run.sh) ran with uid 0, gid 0") {
		t.Errorf("the same, still running at the verdict: escalations %q, want one", got)
	}
	if got := Escalations(NewCredRecord(), base); got != nil {
		t.Errorf("no baseline, yet escalations %q", got)
	}
}

func TestParseStatusCreds(t *testing.T) {
	status := "Name:\tnginx\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t8\nPPid:\t7\nUid:\t33\t33\t33\t33\nGid:\t33\t33\t0\t33\nFDSize:\t64\nGroups:\t33 4 \n"
	p, ppid, ok := parseStatusCreds([]byte(status))
	if !ok || ppid != 7 || p.Comm != "nginx" || p.UIDs != [3]uint32{33, 33, 33} || p.GIDs != [3]uint32{33, 33, 0} || len(p.Groups) != 2 || p.Groups[1] != 4 {
		t.Errorf("parsed %+v ppid %d ok %v", p, ppid, ok)
	}
	for _, bad := range []string{"", "Name:\tx\n", "Name:\tx\nUid:\t1 2\nGid:\t1 1 1\n", "Name:\tx\nUid:\ta b c d\nGid:\t1 1 1 1\n"} {
		if _, _, ok := parseStatusCreds([]byte(bad)); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

func FuzzParseStatusCreds(f *testing.F) {
	f.Add([]byte("Name:\tnginx\nPPid:\t7\nUid:\t33\t33\t33\t33\nGid:\t33\t33\t0\t33\nGroups:\t33 4 \n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseStatusCreds(b)
	})
}

// TestJudgeCredsWithoutBaseline: a candidate run whose processes were read
// but whose starting runs showed none is marked as not compared (so the
// result can count it among the runs the check alone judged), and still
// passes on its check; a plain verify run has no baseline to miss.
func TestJudgeCredsWithoutBaseline(t *testing.T) {
	rec := NewCredRecord()
	rec.last = []ProcCreds{proc(1, "", "app", 0, 0)}
	rec.Add(rec.last)
	r := &Runner{}
	for _, tc := range []struct {
		phase Phase
		want  string
	}{
		{PhaseSearch, "not compared: no passing run of the starting set showed its processes"},
		{PhaseConfirm, "not compared: no passing run of the starting set showed its processes"},
		{PhaseVerify, ""},
	} {
		run := &Trial{Phase: tc.phase, Passed: true}
		r.judgeCreds(run, rec, nil)
		if run.Credentials != tc.want || !run.Passed || len(run.Processes) != 1 {
			t.Errorf("%s: credentials %q, passed %v, %d processes; want %q, passed, 1 process", tc.phase, run.Credentials, run.Passed, len(run.Processes), tc.want)
		}
	}
	// With a baseline the run is compared: root where the start was uid 33
	// fails.
	base := NewCredRecord()
	base.Add([]ProcCreds{proc(1, "", "app", 33, 33)})
	r.creds = base
	run := &Trial{Phase: PhaseSearch, Passed: true, Reason: "exited with code 0"}
	r.judgeCreds(run, rec, nil)
	if run.Credentials != "" || run.Passed || len(run.Escalations) != 1 {
		t.Errorf("compared run: credentials %q, passed %v, escalations %v", run.Credentials, run.Passed, run.Escalations)
	}
}
