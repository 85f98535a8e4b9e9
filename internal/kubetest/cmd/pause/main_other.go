//go:build !linux

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "pause: runs only on Linux, as a pod's sandbox process")
	os.Exit(1)
}
