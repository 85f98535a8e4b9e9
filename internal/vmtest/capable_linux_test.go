package vmtest_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/internal/vmtest"
)

// The harness's own proof, independent of the tracer: on each kernel of the
// matrix, a hand-assembled program hooked to cap_capable — by kprobe, by
// fentry, and by the capability:cap_capable tracepoint (tp_btf) where the
// kernel has it — counts checks per capability (and per CAP_OPT_NOAUDIT where
// the hook sees opts), sees the checks a chown and a seccomp filter
// install make, with the right opts, and stops counting once detached.

// noauditBit is CAP_OPT_NOAUDIT in cap_capable's opts (Linux ≥ 5.1).
const noauditBit = 1 << 1

// argRegs are the pt_regs offsets of x86_64's first six argument registers
// (di, si, dx, cx, r8, r9).
var argRegs = []int16{112, 104, 96, 88, 72, 64}

type hook struct {
	name string
	// opts is whether the hook sees cap_capable's opts.
	opts bool
	// attach loads the program and attaches it.
	attach func(t *testing.T, insns asm.Instructions) (link.Link, error)
	// load returns the instructions that leave cap in R2 and opts in R3.
	load func(capIdx, optsIdx int) asm.Instructions
}

func TestGuestCapable(t *testing.T) {
	if os.Geteuid() != 0 {
		mustRun(t, "needs root to load BPF programs")
	}
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		mustRun(t, "kernel BTF: "+err.Error())
	}
	capIdx, optsIdx, names := capableParams(t, spec)
	vmtest.Report(t, "args", strings.Join(names, ","))

	_, tpErr := spec.AnyTypeByName("btf_trace_cap_capable")
	hasTP := tpErr == nil
	if vmtest.InGuest() {
		want := vmtest.Param("tracepoint") == "yes"
		if hasTP != want {
			t.Fatalf("capability:cap_capable tracepoint in BTF: %v, kmatrix.tracepoint=%q says %v", hasTP, vmtest.Param("tracepoint"), want)
		}
	}

	hooks := []hook{
		{name: "kprobe", opts: true, load: func(c, o int) asm.Instructions {
			return asm.Instructions{
				asm.LoadMem(asm.R2, asm.R6, argRegs[c], asm.DWord),
				asm.LoadMem(asm.R3, asm.R6, argRegs[o], asm.DWord),
			}
		}, attach: func(t *testing.T, insns asm.Instructions) (link.Link, error) {
			prog, err := load(t, &ebpf.ProgramSpec{Type: ebpf.Kprobe, Instructions: insns, License: "GPL"})
			if err != nil {
				return nil, err
			}
			return link.Kprobe("cap_capable", prog, nil)
		}},
		{name: "fentry", opts: true, load: func(c, o int) asm.Instructions {
			return asm.Instructions{
				asm.LoadMem(asm.R2, asm.R6, int16(8*c), asm.DWord),
				asm.LoadMem(asm.R3, asm.R6, int16(8*o), asm.DWord),
			}
		}, attach: tracing(ebpf.AttachTraceFEntry)},
	}
	if hasTP || !vmtest.InGuest() {
		// TP_PROTO(cred, target_ns, capable_ns, cap, ret): no opts.
		hooks = append(hooks, hook{name: "tp_btf", load: func(int, int) asm.Instructions {
			return asm.Instructions{
				asm.LoadMem(asm.R2, asm.R6, 8*3, asm.DWord),
				asm.Mov.Imm(asm.R3, 0),
			}
		}, attach: tracing(ebpf.AttachTraceRawTp)})
	}

	var worked []string
	for _, h := range hooks {
		t.Run(h.name, func(t *testing.T) {
			testHook(t, h, capIdx, optsIdx)
			if !t.Failed() {
				worked = append(worked, h.name)
			}
		})
	}
	vmtest.Report(t, "hooks", strings.Join(worked, "+"))
}

// mustRun skips outside a guest and fails inside one, where the matrix
// chose this kernel because the test must run there.
func mustRun(t *testing.T, why string) {
	t.Helper()
	if vmtest.InGuest() {
		t.Fatal(why)
	}
	t.Skip(why)
}

// capableParams finds cap and opts among cap_capable's parameters in the
// kernel's BTF, rather than assuming a signature.
func capableParams(t *testing.T, spec *btf.Spec) (capIdx, optsIdx int, names []string) {
	t.Helper()
	var fn *btf.Func
	if err := spec.TypeByName("cap_capable", &fn); err != nil {
		t.Fatalf("cap_capable in kernel BTF: %v", err)
	}
	proto, ok := fn.Type.(*btf.FuncProto)
	if !ok {
		t.Fatalf("cap_capable: %T is not a function prototype", fn.Type)
	}
	capIdx, optsIdx = -1, -1
	for i, p := range proto.Params {
		names = append(names, p.Name)
		switch p.Name {
		case "cap":
			capIdx = i
		case "opts":
			optsIdx = i
		}
	}
	if capIdx < 0 || optsIdx < 0 || capIdx >= len(argRegs) || optsIdx >= len(argRegs) {
		t.Fatalf("cap_capable(%s): no cap and opts among the first six parameters", strings.Join(names, ", "))
	}
	return capIdx, optsIdx, names
}

func tracing(at ebpf.AttachType) func(t *testing.T, insns asm.Instructions) (link.Link, error) {
	return func(t *testing.T, insns asm.Instructions) (link.Link, error) {
		prog, err := load(t, &ebpf.ProgramSpec{Type: ebpf.Tracing, AttachType: at, AttachTo: "cap_capable",
			Instructions: insns, License: "GPL"})
		if err != nil {
			return nil, err
		}
		return link.AttachTracing(link.TracingOptions{Program: prog, AttachType: at})
	}
}

func load(t *testing.T, spec *ebpf.ProgramSpec) (*ebpf.Program, error) {
	prog, err := ebpf.NewProgram(spec)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { prog.Close() })
	return prog, nil
}

// testHook attaches one hook, makes checks whose capability is known, and
// detaches.
func testHook(t *testing.T, h hook, capIdx, optsIdx int) {
	counts, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 128})
	if err != nil {
		mustRun(t, "BPF array map: "+err.Error())
	}
	defer counts.Close()

	// Only this process's checks (the host has others); key = cap & 63,
	// plus 64 when opts has CAP_OPT_NOAUDIT.
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.FnGetCurrentPidTgid.Call(),
		asm.RSh.Imm(asm.R0, 32),
		asm.JNE.Imm(asm.R0, int32(os.Getpid()), "out"),
	}
	insns = append(insns, h.load(capIdx, optsIdx)...)
	insns = append(insns,
		asm.And.Imm(asm.R2, 63),
		asm.And.Imm(asm.R3, noauditBit),
		asm.JEq.Imm(asm.R3, 0, "store"),
		asm.Add.Imm(asm.R2, 64),
		asm.StoreMem(asm.RFP, -4, asm.R2, asm.Word).WithSymbol("store"),
		asm.LoadMapPtr(asm.R1, counts.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.Mov.Imm(asm.R1, 1),
		asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return(),
	)
	l, err := h.attach(t, insns)
	if err != nil {
		if !vmtest.InGuest() && (errors.Is(err, ebpf.ErrNotSupported) || errors.Is(err, unix.EPERM) || errors.Is(err, os.ErrNotExist)) {
			t.Skipf("this kernel refuses a %s on cap_capable: %v", h.name, err)
		}
		t.Fatalf("attach %s on cap_capable: %v", h.name, err)
	}

	file := filepath.Join(t.TempDir(), "owned")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	chown := func() {
		if err := os.Chown(file, 1234, 1234); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(file, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	before := read(t, counts)
	chown()
	seccompProbe(t)
	after := read(t, counts)

	chowns := after[capset.CHOWN] - before[capset.CHOWN]
	if chowns < 2 {
		t.Errorf("%s: %d CAP_CHOWN checks counted for two chowns to another owner", h.name, chowns)
	}
	sysadmin := int(capset.SYS_ADMIN)
	noaudit := after[64+sysadmin] - before[64+sysadmin]
	if h.opts {
		if noaudit < 1 {
			t.Errorf("%s: no CAP_SYS_ADMIN check with CAP_OPT_NOAUDIT counted for a seccomp filter without no_new_privs", h.name)
		}
		if n := after[64+int(capset.CHOWN)] - before[64+int(capset.CHOWN)]; n != 0 {
			t.Errorf("%s: %d CAP_CHOWN checks counted as noaudit; chown's check is audited", h.name, n)
		}
	} else if n := after[sysadmin] - before[sysadmin]; n < 1 {
		t.Errorf("%s: no CAP_SYS_ADMIN check counted for a seccomp filter without no_new_privs", h.name)
	}
	t.Logf("%s: %d CAP_CHOWN, %d CAP_SYS_ADMIN (%d noaudit) checks", h.name, chowns,
		after[sysadmin]+noaudit-before[sysadmin], noaudit)

	// A private writable mapping is accounted, and cap_vm_enough_memory
	// asks for CAP_SYS_ADMIN with CAP_OPT_NOAUDIT — by calling cap_capable
	// in the same file, where the compiler may inline it: then no hook on
	// cap_capable sees that check. Which kernels do is a fact the tracer
	// needs; it is reported, not asserted.
	before = read(t, counts)
	for range 10 {
		mem, err := unix.Mmap(-1, 0, 1<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			t.Fatal(err)
		}
		unix.Munmap(mem)
	}
	after = read(t, counts)
	seen := after[sysadmin] + after[64+sysadmin] - before[sysadmin] - before[64+sysadmin]
	t.Logf("%s: %d CAP_SYS_ADMIN checks for 10 accounted mmaps", h.name, seen)
	if h.name == "kprobe" {
		vmprobe := "seen"
		if seen < 10 {
			vmprobe = "inlined"
		}
		vmtest.Report(t, "vm_enough_memory", vmprobe)
	}

	if err := l.Close(); err != nil {
		t.Fatalf("detach %s: %v", h.name, err)
	}
	detached := read(t, counts)
	chown()
	if got := read(t, counts); got[capset.CHOWN] != detached[capset.CHOWN] {
		t.Errorf("%s: still counting after detach (%d CAP_CHOWN checks, was %d)", h.name, got[capset.CHOWN], detached[capset.CHOWN])
	}
}

// seccompProbe makes the kernel ask for CAP_SYS_ADMIN with CAP_OPT_NOAUDIT
// (ns_capable_noaudit): installing a seccomp filter without no_new_privs.
// The filter is invalid, so the kernel rejects it right after the check and
// nothing is installed.
func seccompProbe(t *testing.T) {
	t.Helper()
	bad := []unix.SockFilter{{Code: 0xffff}}
	prog := unix.SockFprog{Len: 1, Filter: &bad[0]}
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&prog)))
	if errno != unix.EINVAL {
		t.Fatalf("seccomp with an invalid filter: %v, want EINVAL", errno)
	}
}

func read(t *testing.T, m *ebpf.Map) [128]uint64 {
	t.Helper()
	var out [128]uint64
	for k := range out {
		if err := m.Lookup(uint32(k), &out[k]); err != nil {
			t.Fatalf("read counts[%d]: %v", k, err)
		}
	}
	return out
}
