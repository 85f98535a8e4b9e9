package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/capdrop/capdrop/internal/term"
	"github.com/capdrop/capdrop/inventory/inventorytest"
	"github.com/capdrop/capdrop/launch"
	"github.com/capdrop/capdrop/source/kustomize"
)

func TestMain(m *testing.M) {
	launch.Init()     // run and runlabel start commands through this binary
	kustomize.Child() // and audit builds overlays with deprecated fields through it
	testscript.Main(m, map[string]func(){
		"capdrop": func() {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			code := Main(ctx, os.Args[1:], term.System())
			stop()
			os.Exit(code)
		},
	})
}

// TestScripts runs the end-to-end scripts in testdata/script: the real
// binary's behaviour, exit codes and output, in-process.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("NO_COLOR", "")
			env.Setenv("FIXTURE_PROC", inventorytest.Proc()) // the fake /proc tree for ps
			return nil
		},
	})
}
