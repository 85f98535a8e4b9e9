package trace

// The BPF objects (one per architecture: x86 for amd64, arm64) are compiled
// by bpf2go (clang) and committed, so a plain `go build` needs no clang.
// bpf2go defines __TARGET_ARCH_x86 or __TARGET_ARCH_arm64 for each.
// Regenerate after changing bpf/*.c or bpf/*.h (needs clang and Debian's
// libbpf-dev for the bpf/*.h helper headers):
//
//	go generate ./trace/
//
//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror" -target amd64,arm64 -tags linux -type key -type task_info -type root -type key_event -type root_event -type settings -type slot -type track_slot -type gain_key -type gain -type cache_seq -type cache_ctl capable bpf/capable.bpf.c -- -I./bpf
