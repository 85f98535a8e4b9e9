// Package cli is capdrop's command line: one thin cobra command per verb over
// the library packages. It parses flags, picks the output format and maps
// errors to exit codes; it holds no domain logic.
package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/capdrop/capdrop/internal/term"
)

// Main runs capdrop with args (without the program name) and returns the
// process exit code.
func Main(ctx context.Context, args []string, streams *term.Streams) int {
	root := NewRoot(streams)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		if code, ok := signalCode(ctx); ok {
			// A signal arrived while the command ran and it finished
			// anyway (it had nothing left to stop): the status says so.
			fmt.Fprintf(streams.ErrOut, "capdrop: %s\n", message(ctx, ctx.Err()))
			return code
		}
		return ExitOK
	}
	var ee *ExitError
	if !errors.As(err, &ee) || !ee.Silent {
		fmt.Fprintf(streams.ErrOut, "capdrop: %s\n", message(ctx, err))
		if isFlagError(err) && cmd != nil {
			fmt.Fprintf(streams.ErrOut, "Run '%s --help' for usage.\n", cmd.CommandPath())
		}
	}
	return exitCode(ctx, err)
}

// NewRoot builds the command tree writing to streams.
func NewRoot(streams *term.Streams) *cobra.Command {
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
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	color := newChoice("auto", "auto", "always", "never")
	root.PersistentFlags().Var(color, "color", "colour output: auto (on a terminal, unless NO_COLOR is set), always, never")
	root.PersistentPreRun = func(cmd *cobra.Command, args []string) {
		switch color.String() {
		case "always":
			streams.Color = true
		case "never":
			streams.Color = false
		}
	}
	root.SetFlagErrorFunc(flagErrors(ExitUsage))
	// The commands, in the order of capdrop's loop: know, see and check,
	// measure, prove and apply.
	for _, g := range []struct {
		group *cobra.Group
		cmds  []*cobra.Command
	}{
		{&cobra.Group{ID: "know", Title: "Know the capabilities:"},
			[]*cobra.Command{newCapsCmd(streams), newExplainCmd(streams), newDecodeCmd(streams), newEncodeCmd(streams)}},
		{&cobra.Group{ID: "check", Title: "See and check what containers get:"},
			[]*cobra.Command{newAuditCmd(streams), newPSCmd(streams), newReportCmd(streams)}},
		{&cobra.Group{ID: "measure", Title: "Measure what a workload uses:"},
			[]*cobra.Command{newProfileCmd(streams)}},
		{&cobra.Group{ID: "apply", Title: "Prove and apply a smaller set:"},
			[]*cobra.Command{newVerifyCmd(streams), newFixCmd(streams), newRunCmd(streams), newRunlabelCmd(streams)}},
		{&cobra.Group{ID: "k8s", Title: "Whole Kubernetes workloads:"},
			[]*cobra.Command{newK8sCmd(streams), newAgentCmd(streams)}},
	} {
		root.AddGroup(g.group)
		for _, c := range g.cmds {
			c.GroupID = g.group.ID
			root.AddCommand(c)
		}
	}
	root.AddCommand(newVersionCmd(streams))
	return root
}

type flagError struct{ error }

// flagErrors returns a cobra flag-error function that exits with code and
// says what a choice flag accepts.
func flagErrors(code int) func(*cobra.Command, error) error {
	return func(_ *cobra.Command, err error) error {
		var ive *pflag.InvalidValueError
		var ce *choiceError
		if errors.As(err, &ive) && errors.As(err, &ce) {
			err = fmt.Errorf("--%s must be one of %s, not %q", ive.GetFlag().Name, strings.Join(ce.choices, ", "), ive.GetValue())
		}
		return &ExitError{Code: code, Err: flagError{err}}
	}
}

// choiceError is a value not among a choice flag's choices.
type choiceError struct{ choices []string }

func (e *choiceError) Error() string { return "must be one of " + strings.Join(e.choices, ", ") }

func isFlagError(err error) bool {
	var fe flagError
	return errors.As(err, &fe) || strings.HasPrefix(err.Error(), "unknown command") ||
		strings.Contains(err.Error(), "accepts ") || strings.Contains(err.Error(), "requires at least")
}

// choice is a flag value that must be one of a fixed list: a wrong value
// is refused while flags are parsed, as a usage error naming the choices.
type choice struct {
	value   string
	choices []string
}

// newChoice returns a choice set to def.
func newChoice(def string, choices ...string) *choice {
	return &choice{value: def, choices: choices}
}

func (c *choice) String() string { return c.value }

// Set accepts one of the choices.
func (c *choice) Set(v string) error {
	if !slices.Contains(c.choices, v) {
		return &choiceError{c.choices}
	}
	c.value = v
	return nil
}

// Type names the value in help.
func (c *choice) Type() string { return "string" }

// choiceFlag adds a flag that takes one of choices (the first is the
// default unless def is given), with shell completion.
func choiceFlag(cmd *cobra.Command, name, def, usage string, choices ...string) *choice {
	c := newChoice(def, choices...)
	cmd.Flags().Var(c, name, usage)
	_ = cmd.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(choices, cobra.ShellCompDirectiveNoFileComp))
	return c
}

// outputFlag adds -o/--output with the given choices (the first is the
// default).
func outputFlag(cmd *cobra.Command, choices ...string) *choice {
	c := newChoice(choices[0], choices...)
	cmd.Flags().VarP(c, "output", "o", "output format: "+strings.Join(choices, ", "))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(choices, cobra.ShellCompDirectiveNoFileComp))
	return c
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
