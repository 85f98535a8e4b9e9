// Command gencorpus writes the audit benchmark corpus:
//
//	go run ./internal/corpus/gencorpus -n 10000 -seed 1 DIR
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/capdrop/capdrop/internal/corpus"
)

func main() {
	n := flag.Int("n", 10000, "number of files")
	seed := flag.Int64("seed", 1, "random seed (same seed, same corpus)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: gencorpus [-n N] [-seed S] DIR")
		os.Exit(2)
	}
	st, err := corpus.Write(flag.Arg(0), *n, *seed)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gencorpus:", err)
		os.Exit(1)
	}
	fmt.Printf("%d files, %d containers\n", st.Files, st.Containers)
}
