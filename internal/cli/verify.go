package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/engine"
	"github.com/capdrop/capdrop/internal/term"
	"github.com/capdrop/capdrop/knowledge"
	"github.com/capdrop/capdrop/launch"
	"github.com/capdrop/capdrop/report"
	"github.com/capdrop/capdrop/verify"
)

// verifyOptions are the flags of capdrop verify.
type verifyOptions struct {
	capAdd       string
	from         string
	minimize     bool
	retries      int
	noPrediction bool
	timeout      time.Duration
	compose      string
	service      string
	image        string
	checkExit    int
	checkExec    string
	checkHTTP    string
	checkTCP     string
	checkRunning time.Duration
	output       *choice
	// labels go on every container (tests use them to find theirs).
	labels map[string]string
}

func newVerifyCmd(s *term.Streams) *cobra.Command {
	o := &verifyOptions{}
	cmd := &cobra.Command{
		Use:   "verify [flags] [--] [docker run args] IMAGE [CMD...] | --compose FILE [--service NAME] | --image IMAGE",
		Short: "Prove a container works with only a given capability set; --minimize shrinks it to what is needed",
		Long: `Run a container with --cap-drop=ALL and only the candidate set added, keeping
the rest of its configuration, and judge the run with a check. With
--minimize, shrink the set by delta debugging until removing any one
capability makes the check fail.

The container comes from docker run arguments (after --), a compose service,
or an image's own configuration. The candidate set comes from --cap-add, from
a profile or an earlier verify result (--from), or else from the
configuration itself (Docker's defaults with its cap_add/cap_drop).

Checks (default: the container exits with code 0):
  --check-exit N        it exits by itself with code N
  --check-exec CMD      CMD, run inside it, exits 0 (it runs with the same set)
  --check-http PORT/PATH  a GET to the container's address answers below 400
  --check-tcp PORT      the container accepts TCP connections on PORT
  --check-running D     it is still running after D
Probes are retried until they pass, the container exits, or --timeout ends.

Every container verify starts carries the label capdrop.verify and is
removed, also on failure and on Ctrl-C.

Exit status: 0 the (final) set passes, 1 it fails or is flaky, 2 bad usage
or input, 3 no Docker engine.`,
		Example: `  capdrop verify --cap-add CHOWN,SETUID,SETGID -- -p 80:80 nginx
  capdrop verify --from profile.json --check-http 80/ -- nginx
  capdrop verify --minimize --check-tcp 5432 -- -e POSTGRES_PASSWORD=x postgres:16
  capdrop verify --minimize --compose compose.yaml --service web --check-http 8080/healthz
  capdrop verify --minimize --image myapp:1 --check-running 10s -o json > verify.json`,
		Args: argsUsage(cobra.ArbitraryArgs),
	}
	f := cmd.Flags()
	f.SetInterspersed(false) // the first word that is not capdrop's flag starts the docker run arguments
	f.StringVar(&o.capAdd, "cap-add", "", "the candidate set: capability names (CHOWN,cap_setuid), hex masks or ALL; \"\" for none")
	f.StringVar(&o.from, "from", "", "read the candidate set from a profile (capdrop profile -o json: \"needed\") or a verify result (\"set\")")
	f.BoolVar(&o.minimize, "minimize", false, "shrink the set by delta debugging to a 1-minimal set")
	f.IntVar(&o.retries, "retries", -1, "extra runs of the starting, final and boundary sets to catch a flaky check (default 0 for verify, 1 for --minimize)")
	f.BoolVar(&o.noPrediction, "no-prediction", false, "with --minimize, run every set the search asks about instead of predicting that subsets of a failing set fail")
	f.DurationVar(&o.timeout, "timeout", verify.DefaultTimeout, "how long one run may take, from its start")
	f.StringVar(&o.compose, "compose", "", "verify a service of this compose file")
	f.StringVar(&o.service, "service", "", "the compose service (needed when the file has several)")
	f.StringVar(&o.image, "image", "", "verify this image with its own configuration")
	f.IntVar(&o.checkExit, "check-exit", 0, "the exit code that passes, when no other check is given")
	f.StringVar(&o.checkExec, "check-exec", "", "a command (split like a shell would, not run by one) that must exit 0 inside the container")
	f.StringVar(&o.checkHTTP, "check-http", "", "PORT/PATH (on the container's address) or a whole http:// URL that must answer below 400")
	f.StringVar(&o.checkTCP, "check-tcp", "", "a TCP port on the container's address that must accept a connection")
	f.DurationVar(&o.checkRunning, "check-running", 0, "the container must still run after this long (e.g. 5s)")
	o.output = outputFlag(cmd, "text", "json")
	_ = cmd.RegisterFlagCompletionFunc("cap-add", completeCaps)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return runVerify(cmd.Context(), s, o, cmd, args)
	}
	return cmd
}

// verifyPlan is what the flags ask for, checked before anything runs.
type verifyPlan struct {
	check   verify.Check
	set     capset.Set
	setFrom string
	hasSet  bool
	retries int
}

func (o *verifyOptions) plan(s *term.Streams, cmd *cobra.Command, args []string) (verifyPlan, error) {
	var p verifyPlan
	sources := 0
	for _, given := range []bool{len(args) > 0, o.compose != "", o.image != ""} {
		if given {
			sources++
		}
	}
	switch {
	case sources == 0:
		return p, usageErrorf("say what to verify: docker run arguments (capdrop verify [flags] -- [docker run args] IMAGE [CMD]), --compose FILE or --image IMAGE")
	case sources > 1:
		return p, usageErrorf("give only one of docker run arguments, --compose and --image")
	case o.service != "" && o.compose == "":
		return p, usageErrorf("--service needs --compose")
	}
	capAddSet := cmd.Flags().Changed("cap-add")
	if capAddSet && o.from != "" {
		return p, usageErrorf("give the candidate set with --cap-add or --from, not both")
	}
	if capAddSet {
		set, err := capset.ParseSet(o.capAdd)
		if err != nil {
			return p, fmt.Errorf("--cap-add: %w", err)
		}
		p.set, p.setFrom, p.hasSet = set, "--cap-add", true
	}
	if o.from != "" {
		ev, err := readEvidence(s, o.from)
		if err != nil {
			return p, err
		}
		p.set, p.setFrom, p.hasSet = ev.Set, ev.String(), true
	}

	c := verify.Check{ExitCode: o.checkExit, Running: o.checkRunning}
	if o.checkExec != "" {
		w, err := verify.SplitWords(o.checkExec)
		if err != nil || len(w) == 0 {
			return p, usageErrorf("--check-exec %q: %v", o.checkExec, errOr(err, "empty command"))
		}
		c.Exec = w
	}
	if cmd.Flags().Changed("check-http") {
		h, err := verify.ParseHTTPProbe(o.checkHTTP)
		if err != nil {
			return p, usageErrorf("%v", err)
		}
		c.HTTP = h
	}
	if o.checkTCP != "" {
		port, err := verify.ParsePort(o.checkTCP)
		if err != nil {
			return p, usageErrorf("--check-tcp: %v", err)
		}
		c.TCP = port
	}
	if o.checkRunning < 0 || o.timeout <= 0 {
		return p, usageErrorf("--check-running must not be negative and --timeout must be positive")
	}
	if cmd.Flags().Changed("check-exit") && (len(c.Exec) > 0 || c.HTTP != nil || c.TCP != 0 || c.Running > 0) {
		return p, usageErrorf("--check-exit judges a container that exits; it cannot be combined with --check-exec, --check-http, --check-tcp or --check-running")
	}
	p.check = c
	p.retries = o.retries
	if p.retries < 0 {
		p.retries = 0
		if o.minimize {
			p.retries = 1
		}
	}
	return p, nil
}

func errOr(err error, msg string) error {
	if err != nil {
		return err
	}
	return errors.New(msg)
}

func runVerify(ctx context.Context, s *term.Streams, o *verifyOptions, cmd *cobra.Command, args []string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	// verify drives the engine (root's, usually) for its caller: a
	// capdrop that gained privileges at exec must not lend them.
	if err := launch.CheckGained(); err != nil {
		return unsupportedError(err)
	}
	p, err := o.plan(s, cmd, args)
	if err != nil {
		return err
	}
	// A compose file is read before any engine is needed, so its mistakes
	// are reported the same everywhere.
	var tg *verify.Target
	if o.compose != "" {
		if tg, err = verify.FromCompose(o.compose, o.service, nil); err != nil {
			return targetError(err)
		}
	}
	eng, err := engine.FromEnv()
	if err != nil {
		return unsupportedError(err)
	}
	defer eng.Close()
	ver, err := eng.ServerVersion(ctx)
	if err != nil {
		return engineError(err)
	}
	sess := verify.NewSession(eng, o.labels)
	defer func() {
		if n, err := sess.Cleanup(ctx); err != nil {
			fmt.Fprintf(s.ErrOut, "capdrop: warning: removing this session's containers: %v\n", err)
		} else if n > 0 {
			fmt.Fprintf(s.ErrOut, "capdrop: warning: removed %d container(s) a run left behind\n", n)
		}
	}()

	switch {
	case tg != nil:
	case o.image != "":
		tg, err = sess.FromImage(ctx, o.image, nil)
	default:
		tg, err = sess.FromRunArgs(ctx, args)
	}
	if err != nil {
		return targetError(err)
	}
	if tg.NonRoot() {
		tg.Notes = append(tg.Notes, fmt.Sprintf("runs as user %s: Docker puts added capabilities only in a non-root process's bounding set, usable only through file capabilities", tg.User))
	}
	set, from := p.set, p.setFrom
	if !p.hasSet {
		all := verify.EngineAll(ver.Version)
		set, err = tg.ConfiguredSet(all)
		if err != nil {
			return fmt.Errorf("the configuration's capabilities: %w", err)
		}
		from = "the configuration (Docker's rules)"
		if tg.Kind == "image" {
			from = "Docker's defaults"
		}
		if set == knowledge.MustDefault(knowledge.Docker) && tg.Kind != "image" {
			from = "the configuration (Docker's defaults)"
		}
	}

	r := &verify.Runner{Session: sess, Target: tg, Check: p.check, Timeout: o.timeout}
	if err := r.Validate(); err != nil {
		return usageErrorf("%v", err)
	}
	text := textRenderer(s)
	live := o.output.String() == "text"
	if live {
		head := &verify.Result{Target: tg, Check: p.check.String(), Start: set.Names(), StartFrom: from, Minimized: o.minimize}
		text.VerifyHeader(s.Out, head)
		r.OnRun = func(run verify.Run) { text.VerifyRun(s.Out, run) }
	}

	var res *verify.Result
	if o.minimize {
		res, err = r.Minimize(ctx, set, from, verify.MinimizeOptions{Retries: p.retries, NoPrediction: o.noPrediction})
	} else {
		res, err = r.Verify(ctx, set, from, p.retries)
	}
	if err != nil {
		if ctx.Err() != nil {
			return &ExitError{Code: ExitFindings, Err: fmt.Errorf("interrupted after %d runs; the containers it started are removed", len(r.Runs()))}
		}
		return engineError(err)
	}
	if live {
		if err := text.VerifySummary(s.Out, res); err != nil {
			return err
		}
	} else if err := report.JSON(s.Out, res); err != nil {
		return err
	}
	if !res.Passed {
		return errFindings
	}
	return nil
}

// engineError maps what the engine said to an exit code: no engine is an
// unsupported environment (3), and so is an engine refusing a request
// (an unknown capability on an old engine, a missing image).
func engineError(err error) error {
	var ae *engine.APIError
	switch {
	case errors.Is(err, engine.ErrUnreachable):
		return unsupportedError(fmt.Errorf("%w (is dockerd running? set DOCKER_HOST to its socket)", err))
	case errors.As(err, &ae) && ae.Status == 404:
		return err
	case errors.As(err, &ae):
		return unsupportedError(fmt.Errorf("the engine refused: %w", err))
	}
	return err
}

// targetError maps errors reading what to verify: bad arguments or files
// are input errors (2), a missing docker CLI or engine is 3.
func targetError(err error) error {
	var ra *verify.RunArgsError
	var ce *verify.ComposeError
	switch {
	case errors.Is(err, verify.ErrNoDockerCLI):
		return unsupportedError(err)
	case errors.As(err, &ra), errors.As(err, &ce):
		return err
	case errors.Is(err, engine.ErrUnreachable):
		return engineError(err)
	}
	var ae *engine.APIError
	if errors.As(err, &ae) {
		return engineError(err)
	}
	return err
}
