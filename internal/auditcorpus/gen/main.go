// Command gen writes the audit benchmark corpus:
//
//	go run ./internal/auditcorpus/gen DIR [N [SEED]]
package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/capdrop/capdrop/internal/auditcorpus"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gen DIR [N [SEED]]")
		os.Exit(2)
	}
	n, seed := 10000, uint64(1)
	if len(os.Args) > 2 {
		v, err := strconv.Atoi(os.Args[2])
		if err != nil || v <= 0 {
			fmt.Fprintln(os.Stderr, "gen: N must be a positive number")
			os.Exit(2)
		}
		n = v
	}
	if len(os.Args) > 3 {
		v, err := strconv.ParseUint(os.Args[3], 10, 64)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gen: SEED must be a number")
			os.Exit(2)
		}
		seed = v
	}
	paths, err := auditcorpus.Generate(os.Args[1], n, seed)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	fmt.Printf("%d manifests in %s\n", len(paths), os.Args[1])
}
