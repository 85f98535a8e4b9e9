package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	xterm "golang.org/x/term"

	"github.com/capdrop/capdrop/audit"
	"github.com/capdrop/capdrop/engine"
	"github.com/capdrop/capdrop/internal/term"
	"github.com/capdrop/capdrop/launch"
	"github.com/capdrop/capdrop/report"
	"github.com/capdrop/capdrop/runlabel"
)

type runlabelOptions struct {
	runlabel.Options
	display bool
	strict  bool
	failOn  *choice
	policy  string
	output  string
}

func newRunlabelCmd(s *term.Streams) *cobra.Command {
	var o runlabelOptions
	var opts [3]string
	cmd := &cobra.Command{
		Use:   "runlabel [flags] IMAGE [ARGS...]",
		Short: "Audit and run the command an image carries in its LABEL RUN (atomic run, done safely)",
		Long: `Read the RUN label (or --label) of an image from the Docker engine, fill in
its variables as atomic run and podman container runlabel do, show the exact
command, audit it with the same engine as capdrop audit, and run it.

Variables: IMAGE, NAME (--name, default: the image name without registry,
path or tag), OPT1-OPT3 (--opt1..--opt3, else the environment), PWD, and any
environment variable; undefined ones are empty. The whole words IMAGE and
NAME and a trailing =IMAGE or =NAME are replaced too. ARGS are appended as
they are.

The label is written by the image's author, so capdrop never gives it to a
shell: it must be one docker (or podman) run or create command. Pipes, lists,
redirections and command substitution are refused; other commands and docker
global options need --force. A leading docker or podman is replaced by the
docker CLI, which runs with no capabilities and no_new_privs against the
engine the label was read from.

An image without a RUN label gets capdrop's safe default: docker run --rm -i
--cap-drop=ALL (plus the capabilities its io.containers.capabilities label
asks for, within Docker's defaults) --security-opt=no-new-privileges.

The audit models the engine's Docker release. --strict refuses a container
that holds any capability the command does not --cap-add by name (Docker's
defaults, --privileged, --cap-add=ALL); --fail-on refuses findings at or above
a severity.

The report goes to standard output with --display (nothing runs), else to
standard error before the command runs. Exit status: the command's once it
runs; 1 when capdrop refuses to run it; 2 for a bad image, label or flag;
3 when no Docker engine answers.`,
		Example: `  capdrop runlabel --display myimage             # show the command and its audit
  capdrop runlabel myimage                       # audit, then run it
  capdrop runlabel --strict myimage              # run only if it drops capabilities
  capdrop runlabel --fail-on high myimage        # not if it grants a root-equivalent one
  capdrop runlabel --label INSTALL --opt1 /srv myimage
  capdrop runlabel --name web myimage --port 8080`,
		Args:              argsUsage(cobra.MinimumNArgs(1)),
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	cmd.Flags().SetInterspersed(false) // flags after IMAGE are ARGS
	f := cmd.Flags()
	f.BoolVar(&o.display, "display", false, "print the command and its audit, and run nothing")
	f.StringVar(&o.Label, "label", runlabel.DefaultLabel, "the label holding the command (INSTALL, UNINSTALL, …)")
	f.StringVarP(&o.Name, "name", "n", "", "container name (NAME); default: the image name without registry, path or tag")
	for i := range opts {
		f.StringVar(&opts[i], fmt.Sprintf("opt%d", i+1), "", fmt.Sprintf("value of OPT%d (default: $OPT%d from the environment)", i+1, i+1))
	}
	f.BoolVar(&o.strict, "strict", false, "refuse to run a command that does not drop capabilities to an explicit list")
	failOn := failOnFlag(cmd, "never", "refuse to run when a finding is at or above this severity")
	policy := choiceFlag(cmd, "policy", audit.PolicyDefault, "audit rule preset: "+strings.Join(audit.Policies, ", "), audit.Policies...)
	f.BoolVar(&o.Force, "force", false, "run a label that is not a docker run/create command, or that sets docker global options")
	out := outputFlag(cmd, "text", "json")

	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		o.output, o.policy = out.String(), policy.String()
		o.failOn = failOn
		for i := range opts {
			o.Opt[i], o.OptSet[i] = opts[i], cmd.Flags().Changed(fmt.Sprintf("opt%d", i+1))
		}
		o.Args = args[1:]
		return runRunlabel(cmd, s, o, args[0])
	}
	return cmd
}

func runRunlabel(cmd *cobra.Command, s *term.Streams, o runlabelOptions, ref string) error {
	failOn := threshold(o.failOn)
	// --display too: reading the image's accounts creates a container.
	if err := launch.CheckGained(); err != nil {
		return &ExitError{Code: ExitRunFailed, Err: err}
	}
	client, err := engine.FromEnv()
	if err != nil {
		return unsupportedError(err)
	}
	defer client.Close()
	ctx := cmd.Context()
	if f, ok := s.In.(*os.File); ok {
		o.TTY = xterm.IsTerminal(int(f.Fd()))
	}
	w := s.ErrOut
	if o.display {
		w = s.Out
	}
	prep, err := runlabel.Prepare(ctx, ref, runlabel.PrepareOptions{
		Options: o.Options, Engine: client, Policy: o.policy, Strict: o.strict, FailOn: failOn,
	})
	var le *runlabel.LabelError
	if prep != nil && errors.As(err, &le) {
		// Shown whole: the label, what it expanded to, and why not.
		if rerr := renderRunlabel(s, w, report.Runlabel{Command: prep.Command, Refused: prep.Refused}, o.output); rerr != nil {
			return rerr
		}
		code := ExitUsage
		if errors.Is(err, runlabel.ErrRefused) {
			code = ExitFindings
		}
		return &ExitError{Code: code, Silent: true}
	}
	if err != nil {
		return err
	}
	c := prep.Command
	r := report.Runlabel{Command: c, Audit: prep.Audit, Refused: prep.Refused}
	if err := renderRunlabel(s, w, r, o.output); err != nil {
		return err
	}
	if len(r.Refused) > 0 {
		return errFindings
	}
	if o.display {
		return nil
	}
	// A signal that came while the label was judged has been taken by
	// main's context, not by the relay Start sets up: start nothing.
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	// The run's containers carry a label of their own, so that an
	// interrupted run can find what its docker CLI made: the CLI may be
	// cut short between the engine's create and start, or relay a signal
	// the container's init ignores and wait forever.
	mark := runlabel.NewMark()
	p, _, err := c.Start(runlabel.StartOptions{Stdin: s.In, Stdout: s.Out, Stderr: s.ErrOut, Host: client.Host(), ForwardSignals: true, Mark: mark})
	if err != nil {
		var se *launch.StartError
		if errors.As(err, &se) {
			return &ExitError{Code: se.Code, Err: err}
		}
		return &ExitError{Code: ExitRunFailed, Err: err}
	}
	// One that came between that look and the relay is passed on here
	// (the command may then see it twice, which a shell or the docker CLI
	// answers the same).
	if code, ok := signalCode(ctx); ok {
		sig := syscall.SIGTERM
		if code == ExitInterrupted {
			sig = syscall.SIGINT
		}
		_ = p.Signal(sig)
	}
	done := make(chan waited, 1)
	go func() {
		exit, err := p.Wait()
		done <- waited{exit, err}
	}()
	var res waited
	finished := false
	select {
	case res = <-done:
		finished = true
	case <-ctx.Done():
		// The relay has passed the signal on: the command gets
		// runlabelGrace to end as it answers it.
		select {
		case res = <-done:
			finished = true
		case <-time.After(runlabelGrace):
		}
	}
	if code, ok := signalCode(ctx); ok {
		return runlabelInterrupted(client, p, mark, code, finished, res, done)
	}
	if !finished {
		res = <-done
	}
	if res.err != nil {
		return &ExitError{Code: ExitRunFailed, Err: fmt.Errorf("wait for %s: %w", c.Argv[0], res.err)}
	}
	// The command's own status, also 0: a signal capdrop forwarded to it
	// is the command's to answer.
	return &ExitError{Code: res.exit.Status(), Silent: true}
}

// waited is how the command ended.
type waited struct {
	exit launch.Exit
	err  error
}

// runlabelGrace is how long an interrupted run's command has to end on its
// own, and its containers to stop, before they are made to.
const runlabelGrace = 10 * time.Second

// runlabelInterrupted ends an interrupted run: the containers that carry
// its mark and still run are stopped, those created and never started are
// removed, and a command still running after that is killed. A command
// that ended on its own and left nothing running exits with its own
// status, as an uninterrupted one does; otherwise capdrop exits 130/143 and
// says what it ended.
func runlabelInterrupted(eng engine.API, p *launch.Process, mark string, code int, finished bool, res waited, done <-chan waited) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*runlabelGrace)
	defer cancel()
	swept, err := runlabel.Sweep(ctx, eng, mark, runlabelGrace)
	if finished && err == nil && res.err == nil && len(swept.Stopped) == 0 && len(swept.Removed) == 0 {
		// The command answered the signal and left nothing running: its
		// status is its answer (a container's TERM trap, relayed by the
		// docker CLI, decides it).
		return &ExitError{Code: res.exit.Status(), Silent: true}
	}
	if !finished {
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			_ = p.Signal(syscall.SIGKILL)
			<-done
		}
	}
	what := "interrupted"
	if code == ExitTerminated {
		what = "terminated"
	}
	msg := what
	if len(swept.Stopped) > 0 {
		msg += fmt.Sprintf("; stopped container(s) still running: %s", strings.Join(swept.Stopped, ", "))
	}
	if len(swept.Removed) > 0 {
		msg += fmt.Sprintf("; removed container(s) created and never started: %s", strings.Join(swept.Removed, ", "))
	}
	if err != nil {
		msg += fmt.Sprintf("; could not end every container labelled %s: %v", mark, err)
	}
	return &ExitError{Code: code, Err: errors.New(msg)}
}

func renderRunlabel(s *term.Streams, w io.Writer, r report.Runlabel, format string) error {
	if format == "json" {
		return report.RunlabelJSON(w, r)
	}
	t := report.Text{Color: s.Color && w == s.Out, Width: s.Width}
	var b strings.Builder
	if err := t.RunlabelText(&b, r); err != nil {
		return err
	}
	_, err := io.WriteString(w, b.String())
	return err
}
