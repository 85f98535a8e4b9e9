// Command capneeds is capdrop's ground-truth workload: it performs the
// privileged operations named on its command line, each of which needs
// exactly one capability, and exits non-zero naming the first that fails.
//
//	capneeds [-dir DIR] OP...   run operations (fixtures in DIR, default /var/capneeds)
//	capneeds [-dir DIR] prepare make the fixtures (as root with CHOWN, FOWNER, FSETID)
//	capneeds list               list the operations and the capability each needs
//	capneeds [-dir DIR] bench-kill [N]  kill(pid of uid 1234, 0) N times, print ns/call
//
// Build it static (CGO_ENABLED=0) to put it in a FROM scratch image or a
// kernel-test initramfs.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"

	"github.com/capdrop/capdrop/internal/needs"
)

// The main goroutine holds the main thread, so the operations' throwaway
// threads are never the thread group leader (see the needs package).
func init() { runtime.LockOSThread() }

func main() {
	dir := flag.String("dir", needs.DefaultDir, "directory of the fixtures made by prepare")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: capneeds [-dir DIR] OP... | prepare | list\n\noperations:\n%s", needs.Describe())
	}
	flag.Parse()
	args := flag.Args()
	if len(args) == 0 {
		flag.Usage()
		os.Exit(2)
	}
	var err error
	switch args[0] {
	case "list":
		fmt.Print(needs.Describe())
		return
	case "prepare":
		self, e := os.Executable()
		if e != nil {
			err = e
			break
		}
		err = needs.Prepare(*dir, self)
	case "sleeper":
		err = needs.Sleeper()
	case "bench-kill":
		n := 1000000
		if len(args) > 1 {
			n, err = strconv.Atoi(args[1])
			if err != nil {
				break
			}
		}
		per, e := needs.BenchKill(*dir, n)
		if e == nil {
			fmt.Printf("bench-kill: %d calls, %d ns/call\n", n, per.Nanoseconds())
		}
		err = e
	default:
		err = needs.Run(*dir, args...)
		if err == nil {
			fmt.Println("capneeds: ok")
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "capneeds: %v\n", err)
		os.Exit(1)
	}
}
