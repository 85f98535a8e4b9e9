package runlabel

import "github.com/capdrop/capdrop/source/runargs"

// Quote writes word so that a shell reads it back as that one word
// (runargs.Quote, capdrop's one quoter).
func Quote(word string) string { return runargs.Quote(word) }

// Join quotes argv into a command line a shell splits back into argv
// (runargs.Join).
func Join(argv []string) string { return runargs.Join(argv) }
