// Command bpfcost measures what capability-check tracing costs the kernel,
// for scripts/bench-profile and docs/benchmarks.md.
//
//	bpfcost floor -- CMD...      run CMD with a minimal tp_btf program on
//	                             capability:cap_capable (it only counts its
//	                             runs): the kernel's own price of an enabled
//	                             tracepoint and a BPF dispatch
//	bpfcost stats NAME -- CMD... run CMD with the kernel's BPF run-time
//	                             statistics on, and print the ns per run of
//	                             the programs called NAME that CMD loads
//
// Both need root. floor prints "floor: N runs" and fails when its program
// never ran, so a floor that did not trace cannot pass for a cheap one.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

func usage() {
	fmt.Fprintln(os.Stderr, "usage: bpfcost floor -- CMD... | bpfcost stats NAME -- CMD...")
	os.Exit(2)
}

func main() {
	a := os.Args[1:]
	var err error
	switch {
	case len(a) >= 3 && a[0] == "floor" && a[1] == "--":
		err = floor(a[2:])
	case len(a) >= 4 && a[0] == "stats" && a[2] == "--":
		err = stats(a[1], a[3:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bpfcost: %v\n", err)
		os.Exit(1)
	}
}

func run(argv []string) error {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	return cmd.Run()
}

// floor attaches a program that does the least a program can do and still
// show it ran: it adds one to a per-CPU counter (an array lookup the
// verifier inlines).
func floor(argv []string) error {
	if err := rlimit.RemoveMemlock(); err != nil {
		return err
	}
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		return fmt.Errorf("counter map: %w", err)
	}
	defer m.Close()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:       "cap_floor",
		Type:       ebpf.Tracing,
		AttachType: ebpf.AttachTraceRawTp,
		AttachTo:   "cap_capable",
		License:    "GPL",
		Instructions: asm.Instructions{
			asm.StoreImm(asm.R10, -4, 0, asm.Word),
			asm.LoadMapPtr(asm.R1, m.FD()),
			asm.Mov.Reg(asm.R2, asm.R10),
			asm.Add.Imm(asm.R2, -4),
			asm.FnMapLookupElem.Call(),
			asm.JEq.Imm(asm.R0, 0, "out"),
			asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
			asm.Add.Imm(asm.R1, 1),
			asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
			asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
			asm.Return(),
		},
	})
	if err != nil {
		return fmt.Errorf("loading the floor program (needs tp_btf on capability:cap_capable, Linux >= 6.14): %w", err)
	}
	defer prog.Close()
	l, err := link.AttachTracing(link.TracingOptions{Program: prog, AttachType: ebpf.AttachTraceRawTp})
	if err != nil {
		return fmt.Errorf("attaching the floor program: %w", err)
	}
	err = run(argv)
	l.Close()
	if err != nil {
		return err
	}
	var per []uint64
	if err := m.Lookup(uint32(0), &per); err != nil {
		return err
	}
	var n uint64
	for _, v := range per {
		n += v
	}
	if n == 0 {
		return errors.New("the floor program never ran: nothing was measured")
	}
	fmt.Printf("floor: %d runs\n", n)
	return nil
}

// stats turns the kernel's run-time statistics on for as long as CMD runs
// and reads, every 20 ms, those of the programs called name loaded since
// it started (CMD unloads its programs when it ends, so the last reading
// before that is what counts).
func stats(name string, argv []string) error {
	st, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		return fmt.Errorf("enabling BPF statistics: %w", err)
	}
	defer st.Close()
	var first ebpf.ProgramID
	for id := ebpf.ProgramID(0); ; {
		next, err := ebpf.ProgramGetNextID(id)
		if err != nil {
			break
		}
		id, first = next, next
	}
	seen := map[ebpf.ProgramID]*ebpf.ProgramStats{}
	read := func() {
		for id := first; ; {
			next, err := ebpf.ProgramGetNextID(id)
			if err != nil {
				return
			}
			id = next
			p, err := ebpf.NewProgramFromID(id)
			if err != nil {
				continue
			}
			if info, err := p.Info(); err == nil && info.Name == name {
				if s, err := p.Stats(); err == nil {
					seen[id] = s
				}
			}
			p.Close()
		}
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				return err
			}
			if len(seen) == 0 {
				return fmt.Errorf("no program called %s ran", name)
			}
			for id, s := range seen {
				if s.RunCount == 0 {
					fmt.Printf("stats: %s (id %d): no runs\n", name, id)
					continue
				}
				fmt.Printf("stats: %s (id %d): %d runs, %d ns, %.1f ns/run\n", name, id, s.RunCount, s.Runtime.Nanoseconds(), float64(s.Runtime.Nanoseconds())/float64(s.RunCount))
			}
			return nil
		case <-t.C:
			read()
		}
	}
}
