package capset

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// LastCapPath is where the kernel publishes its highest capability number.
const LastCapPath = "/proc/sys/kernel/cap_last_cap"

// KernelLast returns the highest capability number the running kernel knows,
// read from /proc/sys/kernel/cap_last_cap.
func KernelLast() (Cap, error) {
	b, err := os.ReadFile(LastCapPath)
	if err != nil {
		return 0, err
	}
	return parseLastCap(string(b))
}

func parseLastCap(text string) (Cap, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(text), 10, 8)
	if err != nil || n >= MaxBits {
		return 0, fmt.Errorf("parse %s: %q is not a capability number", LastCapPath, strings.TrimSpace(text))
	}
	return Cap(n), nil
}

// Upto returns the set of capabilities 0..last.
func Upto(last Cap) Set {
	if last >= MaxBits-1 {
		return ^Set(0)
	}
	return Set(1)<<(last+1) - 1
}

// Supported returns the capabilities the running kernel has. When the kernel
// does not say (no /proc), it returns every capability capdrop knows.
func Supported() Set {
	last, err := KernelLast()
	if err != nil {
		return Known
	}
	return Upto(last)
}
