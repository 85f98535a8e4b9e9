package procfs

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/knowledge"
)

func readFixture(t *testing.T, name string) *Status {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := ParseStatus(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return st
}

// Status files from kernels with 37 (3.10), 38 (3.16 to 5.7) and 41 (5.9 and
// later) capabilities, from hosts and containers.
func TestParseStatusKernels(t *testing.T) {
	all38 := capset.Upto(capset.AUDIT_READ)
	all41 := capset.Upto(capset.CHECKPOINT_RESTORE)
	docker := knowledge.MustDefault(knowledge.Docker)
	for _, tc := range []struct {
		file        string
		name        string
		pid, ppid   int
		uid         [4]int
		nspid       []int
		sets        capset.Sets
		hasAmbient  bool
		nnp         bool
		seccomp     int
		threads     int
		kthread     int
		description string
	}{
		{"status-6.18-root.txt", "cat", 9246, 9241, [4]int{}, []int{9246},
			capset.Sets{Permitted: all41.Without(capset.SYS_RESOURCE), Effective: all41.Without(capset.SYS_RESOURCE), Bounding: all41.Without(capset.SYS_RESOURCE)},
			true, false, 0, 1, 0, "root on this machine: 41 capabilities minus SYS_RESOURCE"},
		{"status-6.18-docker-default.txt", "sleep", 17366, 17344, [4]int{}, []int{17366, 1},
			capset.Sets{Permitted: docker, Effective: docker, Bounding: docker},
			true, false, 2, 1, 0, "a default Docker container: the 14, seccomp filter, two pid namespaces"},
		{"status-6.18-kthreadd.txt", "kthreadd", 2, 0, [4]int{}, []int{2},
			capset.Sets{Permitted: all41, Effective: all41, Bounding: all41},
			true, false, 0, 1, 1, "kthreadd: the Kthread line says kernel thread"},
		{"status-4.19-38caps-root.txt", "sshd", 612, 1, [4]int{}, []int{612},
			capset.Sets{Permitted: all38, Effective: all38, Bounding: all38},
			true, false, 0, 1, -1, "4.19: 38 capabilities, no Kthread line"},
		{"status-4.19-38caps-docker.txt", "nginx", 2817, 2795, [4]int{}, []int{2817, 1},
			capset.Sets{Inheritable: docker, Permitted: docker, Effective: docker, Bounding: docker},
			true, false, 2, 1, -1, "Docker before CVE-2022-24769 filled the inheritable set too"},
		{"status-3.10-37caps.txt", "bash", 2055, 2051, [4]int{1000, 0, 0, 0}, nil,
			capset.Sets{Permitted: capset.Upto(capset.BLOCK_SUSPEND), Effective: capset.Upto(capset.BLOCK_SUSPEND), Bounding: capset.Upto(capset.BLOCK_SUSPEND)},
			false, false, 0, 1, -1, "3.10: no CapAmb, no NoNewPrivs, no NSpid; a setuid-root shell"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			st := readFixture(t, tc.file)
			if st.Name != tc.name || st.Pid != tc.pid || st.Tgid != tc.pid || st.PPid != tc.ppid || st.UID != tc.uid {
				t.Errorf("identity: name %q pid %d tgid %d ppid %d uid %v", st.Name, st.Pid, st.Tgid, st.PPid, st.UID)
			}
			if !slices.Equal(st.NSpid, tc.nspid) {
				t.Errorf("NSpid %v, want %v", st.NSpid, tc.nspid)
			}
			if st.Sets != tc.sets {
				t.Errorf("%s: sets\n got %+v\nwant %+v", tc.description, st.Sets, tc.sets)
			}
			if st.HasAmbient != tc.hasAmbient || st.NoNewPrivs != tc.nnp || st.Seccomp != tc.seccomp || st.Threads != tc.threads || st.Kthread != tc.kthread {
				t.Errorf("flags: ambient %v nnp %v seccomp %d threads %d kthread %d", st.HasAmbient, st.NoNewPrivs, st.Seccomp, st.Threads, st.Kthread)
			}
		})
	}
}

func TestParseStatusStopsAtSeccomp(t *testing.T) {
	// Everything after Seccomp is ignored, even garbage: the scan does not
	// pay for the long Mems_allowed and Cpus lines.
	text := "Name:\tx\nPid:\t5\nCapInh:\t0\nCapPrm:\t0\nCapEff:\t0\nCapBnd:\t0\nSeccomp:\t0\nCapAmb:\tnot-hex\n"
	if _, err := ParseStatus(strings.NewReader(text)); err != nil {
		t.Fatal(err)
	}
}

func TestParseStatusMalformed(t *testing.T) {
	good := "Name:\tx\nPid:\t5\nUid:\t0\t0\t0\t0\nCapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t000001ffffffffff\nNoNewPrivs:\t0\nSeccomp:\t0\n"
	if _, err := ParseStatus(strings.NewReader(good)); err != nil {
		t.Fatalf("the base of the malformed cases does not parse: %v", err)
	}
	for _, tc := range []struct {
		name, text, want string
	}{
		{"empty", "", "no Pid line"},
		{"binary", "\x00\x01\x02\xff", "no Pid line"},
		{"no CapEff", strings.Replace(good, "CapEff:\t0000000000000000\n", "", 1), "no CapEff line"},
		{"no CapBnd", strings.Replace(good, "CapBnd:\t000001ffffffffff\n", "", 1), "no CapBnd line"},
		{"mask not hex", strings.Replace(good, "CapEff:\t0000000000000000", "CapEff:\t00000000000000zz", 1), `line 6: CapEff: "00000000000000zz"`},
		{"mask too long", strings.Replace(good, "CapBnd:\t000001ffffffffff", "CapBnd:\t0000001ffffffffff", 1), "line 7: CapBnd"},
		{"mask empty", strings.Replace(good, "CapPrm:\t0000000000000000", "CapPrm:\t", 1), "line 5: CapPrm"},
		{"pid not a number", strings.Replace(good, "Pid:\t5", "Pid:\tfive", 1), `line 2: Pid: "five"`},
		{"negative pid", strings.Replace(good, "Pid:\t5", "Pid:\t-5", 1), "line 2: Pid"},
		{"three uids", strings.Replace(good, "Uid:\t0\t0\t0\t0", "Uid:\t0\t0\t0", 1), "want 4 ids, got 3"},
		{"uid not a number", strings.Replace(good, "Uid:\t0\t0\t0\t0", "Uid:\t0\tx\t0\t0", 1), "line 3: Uid"},
		{"NoNewPrivs 2", strings.Replace(good, "NoNewPrivs:\t0", "NoNewPrivs:\t2", 1), "want 0 or 1"},
		{"Seccomp word", strings.Replace(good, "Seccomp:\t0", "Seccomp:\tfilter", 1), "line 9: Seccomp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseStatus(strings.NewReader(tc.text))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q; want ErrMalformed mentioning %q", err, tc.want)
			}
		})
	}
}

func TestReadStatusNamesFile(t *testing.T) {
	_, err := ReadStatus("testdata/proc", 2000)
	if err == nil || !strings.Contains(err.Error(), filepath.Join("testdata", "proc", "2000", "status")) {
		t.Errorf("error %v does not name the file", err)
	}
	st, err := ReadTaskStatus("testdata/proc", 400, 402)
	if err != nil || st.Pid != 402 || st.Tgid != 400 || !st.Sets.Effective.IsEmpty() {
		t.Errorf("task status: %+v, %v", st, err)
	}
}

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		text    string
		comm    string
		ppid    int
		kthread bool
	}{
		{"2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 21 0 0 18446744073709551615 0\n", "kthreadd", 0, true},
		{"14 (ksoftirqd/0) S 2 0 0 0 -1 69238848 0 0 0 0 13 0 0 0 20 0 1 0 21 0 0 18446744073709551615 0\n", "ksoftirqd/0", 2, true},
		{"17366 (sleep) S 17344 17366 17366 0 -1 4194560 987 0 0 0 3 2 0 0 20 0 1 0 85807 2322432 316 18446744073709551615\n", "sleep", 17344, false},
		{"99 (a) b (c) S 1 99 99 0 -1 4194560 0 0\n", "a) b (c", 1, false},
		{"98 ( ) R 1 98 98 0 -1 4194304 0\n", " ", 1, false},
	} {
		st, err := parseStat([]byte(tc.text))
		if err != nil {
			t.Errorf("%q: %v", tc.text, err)
			continue
		}
		if st.Comm != tc.comm || st.PPid != tc.ppid || st.KernelThread() != tc.kthread {
			t.Errorf("%q: comm %q ppid %d kthread %v", tc.text, st.Comm, st.PPid, st.KernelThread())
		}
	}
	for _, bad := range []string{"", "1 sleep S 1 1 1 0 -1 0", "x (a) S 1 1 1 0 -1 0", "1 (a) S 1 1 1", "1 (a) S x 1 1 0 -1 0", "1 (a) SS 1 1 1 0 -1 0", "1 (a) S 1 1 1 0 -1 flags"} {
		if _, err := parseStat([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: error %v, want ErrMalformed", bad, err)
		}
	}
	st, err := ReadStat("testdata/proc", 15)
	if err != nil || st.KernelThread() || st.Comm != "modprobe" {
		t.Errorf("ReadStat: %+v %v", st, err)
	}
}

func TestParseCgroup(t *testing.T) {
	text := "12:cpu,cpuacct:/docker/abc\n1:name=systemd:/system.slice/a:b.scope\n0::/init.scope\n\n"
	cg, err := ParseCgroup(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	want := []Cgroup{
		{12, "cpu,cpuacct", "/docker/abc"},
		{1, "name=systemd", "/system.slice/a:b.scope"},
		{0, "", "/init.scope"},
	}
	if !slices.Equal(cg, want) {
		t.Errorf("got %+v", cg)
	}
	if cg[0].Unified() || cg[1].Unified() || !cg[2].Unified() {
		t.Error("only the 0:: line is the unified hierarchy")
	}
	for _, bad := range []string{"garbage\n", "1:cpu\n", "x:cpu:/\n", "0::/\n-1::/\n"} {
		if _, err := ParseCgroup(strings.NewReader(bad)); !errors.Is(err, ErrMalformedCgroup) || !strings.Contains(err.Error(), "line") {
			t.Errorf("%q: error %v, want ErrMalformedCgroup with a line", bad, err)
		}
	}
	if _, err := ReadCgroup("testdata/proc", 2500); err != nil {
		t.Error(err)
	}
}

func TestParseNSLink(t *testing.T) {
	if ino, err := parseNSLink([]byte("user:[4026531837]")); err != nil || ino != 4026531837 {
		t.Errorf("got %d, %v", ino, err)
	}
	for _, bad := range []string{"", "user:", "user:[]", "user:[x]", "user:[1", "[1]x"} {
		if _, err := parseNSLink([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
