// Command capdrop finds, proves and applies the Linux capabilities a
// container or process really needs. See `capdrop --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/capdrop/capdrop/internal/cli"
	"github.com/capdrop/capdrop/internal/term"
	"github.com/capdrop/capdrop/launch"
	"github.com/capdrop/capdrop/source/kustomize"
)

func main() {
	launch.Init()     // as the launcher's re-executed init, this never returns
	kustomize.Child() // as the process that builds an overlay, neither does this
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], term.System())
	stop()
	os.Exit(code)
}
