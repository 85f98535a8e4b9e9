// Package cli is capdrop's command line: one thin cobra command per verb over
// the library packages. It parses flags, picks the output format and maps
// errors to exit codes; it holds no domain logic.
package cli

import (
	"context"
	"errors"
	"fmt"

	"strings"

	"github.com/spf13/cobra"

	"github.com/capdrop/capdrop/internal/term"
)

// Main runs capdrop with args (without the program name) and returns the
// process exit code.
func Main(ctx context.Context, args []string, streams *term.Streams) int {
	root := NewRoot(streams)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if !errors.As(err, &ee) || !ee.Silent {
		fmt.Fprintf(streams.ErrOut, "capdrop: %v\n", err)
		if isFlagError(err) && cmd != nil {
			fmt.Fprintf(streams.ErrOut, "Run '%s --help' for usage.\n", cmd.CommandPath())
		}
	}
	return exitCode(err)
}

// NewRoot builds the command tree writing to streams.
func NewRoot(streams *term.Streams) *cobra.Command {
	var color string
	root := &cobra.Command{
		Use:   "capdrop",
		Short: "Find, prove and apply the Linux capabilities your containers really need",
		Long: `capdrop makes "--cap-drop=all --cap-add=<only what is needed>" practical.

It knows every capability (caps, explain, decode, encode), shows what every
process and container holds (ps), computes the set each configured container
really gets under its runtime's rules (audit), measures what a workload uses
with eBPF (profile), proves a smaller set works (verify) and writes it back
into your configuration (fix), or launches with it (run, runlabel).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			switch color {
			case "auto":
			case "always":
				streams.Color = true
			case "never":
				streams.Color = false
			default:
				return usageErrorf("--color must be auto, always or never, not %q", color)
			}
			return nil
		},
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.PersistentFlags().StringVar(&color, "color", "auto", "colour output: auto (on a terminal, unless NO_COLOR is set), always, never")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &ExitError{Code: ExitUsage, Err: flagError{err}}
	})
	for _, g := range groups {
		var cmds []*cobra.Command
		for _, v := range verbs {
			if v.group == g.ID {
				c := v.build(streams)
				c.GroupID = g.ID
				cmds = append(cmds, c)
			}
		}
		if len(cmds) > 0 {
			root.AddGroup(g)
			root.AddCommand(cmds...)
		}
	}
	root.AddCommand(newVersionCmd(streams))
	return root
}

// The help groups, in the order of capdrop's loop: know, see and check,
// measure, prove and apply.
var groups = []*cobra.Group{
	{ID: "know", Title: "Know the capabilities:"},
	{ID: "check", Title: "See and check what containers get:"},
	{ID: "measure", Title: "Measure what a workload uses:"},
	{ID: "apply", Title: "Prove and apply a smaller set:"},
}

type verb struct {
	group string
	build func(*term.Streams) *cobra.Command
}

// verbs are capdrop's commands. Each file of this package that adds a verb
// registers it in an init function, so adding a verb touches one file.
var verbs = []verb{
	{"know", newCapsCmd}, {"know", newExplainCmd}, {"know", newDecodeCmd}, {"know", newEncodeCmd},
}

// register adds a verb to a help group.
func register(group string, build func(*term.Streams) *cobra.Command) {
	verbs = append(verbs, verb{group, build})
}

type flagError struct{ error }

func isFlagError(err error) bool {
	var fe flagError
	return errors.As(err, &fe) || strings.HasPrefix(err.Error(), "unknown command") ||
		strings.Contains(err.Error(), "accepts ") || strings.Contains(err.Error(), "requires at least")
}

// outputFlag adds -o/--output with the given choices (the first is the
// default) and returns the variable it sets.
func outputFlag(cmd *cobra.Command, choices ...string) *string {
	v := new(string)
	cmd.Flags().StringVarP(v, "output", "o", choices[0], "output format: "+strings.Join(choices, ", "))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(choices, cobra.ShellCompDirectiveNoFileComp))
	return v
}

// checkChoice returns a usage error unless v is one of choices.
func checkChoice(flag, v string, choices ...string) error {
	for _, c := range choices {
		if v == c {
			return nil
		}
	}
	return usageErrorf("--%s must be one of %s, not %q", flag, strings.Join(choices, ", "), v)
}

// argsUsage wraps a cobra positional-argument validator so its complaint
// exits with the usage code.
func argsUsage(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := v(cmd, args); err != nil {
			return &ExitError{Code: ExitUsage, Err: flagError{err}}
		}
		return nil
	}
}
