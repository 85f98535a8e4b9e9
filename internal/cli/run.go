package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/internal/term"
	"github.com/capdrop/capdrop/launch"
	"github.com/capdrop/capdrop/report"
)

// ExitRunFailed is what `capdrop run` returns when it fails itself, before
// the command runs: like env(1), nice(1) and docker run, it keeps the small
// numbers for the command's own exit status.
const ExitRunFailed = 125

func runError(err error) error {
	var se *launch.StartError
	if errors.As(err, &se) {
		return &ExitError{Code: se.Code, Err: err}
	}
	return &ExitError{Code: ExitRunFailed, Err: err}
}

func newRunCmd(s *term.Streams) *cobra.Command {
	var drops, adds []string
	var req launch.Request
	var printPlan, dryRun bool
	cmd := &cobra.Command{
		Use:   "run [flags] [--] CMD [ARGS...]",
		Short: "Run a command with only the capabilities you choose (like setpriv/capsh, done right)",
		Long: `Run a command on this host with a reduced capability bounding set, and the
inheritable, permitted, effective and ambient sets that make the kept
capabilities usable — for a non-root user too — and nothing more.

--cap-drop and --cap-add work like docker run's, on the capabilities you hold:
--cap-drop ALL keeps only what --cap-add names; otherwise the command keeps
what you hold minus --cap-drop plus --cap-add. You can only keep what you
have: adding a capability you lack is refused.

As root, the command gets its bounding set as permitted and effective. As
another user (--user), it gets exactly the capabilities you --cap-add, through
the ambient set; others left in the bounding set stay unusable unless a
set-user-ID or file-capability binary uses them (--no-new-privs stops that).
A non-root caller's own ambient capabilities carry over unless dropped.

The environment is reduced to PATH, TERM, LANG, LANGUAGE, LC_*, TZ and the
target user's HOME, USER, LOGNAME, SHELL unless --keep-env. Descriptors other
than 0, 1, 2 are closed. Signals are forwarded; the exit status is the
command's (128+N when signal N killed it). capdrop's own failures exit 125,
a command that cannot be executed 126, one that is not found 127.`,
		Example: `  capdrop run --cap-drop all -- chown nobody file          # fails: no CAP_CHOWN
  capdrop run --cap-drop all --cap-add chown -- chown nobody file
  capdrop run --user nobody --cap-drop all --cap-add net_bind_service -- ./server :80
  capdrop run --cap-drop sys_admin,sys_module --no-new-privs -- bash
  capdrop run --dry-run -o json --user www-data --cap-drop all -- nginx`,
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	cmd.Flags().SetInterspersed(false) // flags after CMD are CMD's
	out := outputFlag(cmd, "text", "json")
	f := cmd.Flags()
	f.StringArrayVar(&drops, "cap-drop", nil, "capabilities to drop (names, comma-separated or repeated), or ALL")
	f.StringArrayVar(&adds, "cap-add", nil, "capabilities to keep or, for a non-root user, to make usable; ALL is everything you hold")
	f.StringVarP(&req.User, "user", "u", "", "run as USER[:GROUP] (names or numeric ids), with the user's groups from /etc/group")
	f.BoolVar(&req.NoNewPrivs, "no-new-privs", false, "set no_new_privs: set-user-ID and file-capability binaries gain nothing")
	f.BoolVar(&req.KeepEnv, "keep-env", false, "pass the environment unchanged instead of the minimal one")
	f.BoolVar(&printPlan, "print", false, "print what the command will get (to standard error) before running it")
	f.BoolVar(&dryRun, "dry-run", false, "print what the command would get (to standard output) and do not run it")
	_ = cmd.RegisterFlagCompletionFunc("cap-drop", completeCaps)
	_ = cmd.RegisterFlagCompletionFunc("cap-add", completeCaps)
	cmd.SetFlagErrorFunc(flagErrors(ExitRunFailed))

	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return &ExitError{Code: ExitRunFailed, Err: flagError{errors.New("give the command to run after the flags (capdrop run [flags] -- CMD [ARGS...])")}}
		}
		var err error
		if req.DropAll, req.Drop, err = parseCapList("cap-drop", drops); err != nil {
			return runError(err)
		}
		if req.AddAll, req.Add, err = parseCapList("cap-add", adds); err != nil {
			return runError(err)
		}
		req.Args = args
		plan, err := launch.Prepare(req)
		if err != nil {
			return runError(err)
		}
		if printPlan || dryRun {
			w := s.ErrOut
			if dryRun {
				w = s.Out
			}
			if err := renderPlan(s, w, plan, out.String()); err != nil {
				return runError(err)
			}
			if dryRun {
				return nil
			}
		}
		p, err := plan.Start(launch.Options{Stdin: s.In, Stdout: s.Out, Stderr: s.ErrOut, ForwardSignals: true})
		if err != nil {
			return runError(err)
		}
		exit, err := p.Wait()
		if err != nil {
			return runError(fmt.Errorf("wait for %s: %w", args[0], err))
		}
		// The command's own status, also 0: a signal capdrop forwarded
		// to it is the command's to answer.
		return &ExitError{Code: exit.Status(), Silent: true}
	}
	return cmd
}

// parseCapList parses the values of a repeatable list flag
// (capset.ParseList: names in any case with or without CAP_, separated by
// commas or spaces, or ALL).
func parseCapList(flag string, values []string) (all bool, set capset.Set, err error) {
	var errs []error
	for _, v := range values {
		l, err := capset.ParseList(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", flag, err))
		}
		all, set = all || l.All, set|l.Set
	}
	return all, set, errors.Join(errs...)
}

func renderPlan(s *term.Streams, w io.Writer, plan *launch.Plan, format string) error {
	if format == "json" {
		return report.JSON(w, report.NewLaunchPlan(plan))
	}
	t := report.Text{Color: s.Color && w == s.Out, Width: s.Width}
	var b strings.Builder
	if err := t.LaunchPlan(&b, plan); err != nil {
		return err
	}
	_, err := fmt.Fprint(w, b.String())
	return err
}
