// Command capneeds is capdrop's ground-truth workload: it performs the
// privileged operations named on its command line, each of which needs
// exactly one capability, and exits non-zero naming the first that fails.
//
//	capneeds [-dir DIR] OP...   run operations (fixtures in DIR, default /var/capneeds)
//	capneeds [-dir DIR] prepare make the fixtures (as root with CHOWN, FOWNER, FSETID)
//	capneeds list               list the operations and the capability each needs
//
// Build it static (CGO_ENABLED=0) to put it in a FROM scratch image or a
// kernel-test initramfs.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/capdrop/capdrop/internal/needs"
)

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
