package trace

// The BPF object is compiled by bpf2go (clang) and committed, so a plain
// `go build` needs no clang. Regenerate after changing bpf/*.c or bpf/*.h:
//
//	go generate ./trace/
//
//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -D__TARGET_ARCH_x86" -target amd64 -type key -type task_info -type root -type key_event -type root_event -type settings -type slot -type track_slot capable bpf/capable.bpf.c -- -I./bpf
