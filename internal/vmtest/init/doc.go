// Command init is the /init of the kernel matrix's guests
// (scripts/kernel-matrix). Linked statically and put alone with the test
// binaries into an initramfs, it mounts the kernel's filesystems (proc, sys,
// devtmpfs, tmpfs, debugfs, tracefs, bpffs, securityfs, cgroup2), runs every
// /tests/*.test with -test.v (plus the arguments in /tests/NAME.args, one a
// line), prints one result line (vmtest.ResultLine) and powers the machine
// off. It refuses to run unless it is process 1.
package main
