package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/engine"
	"github.com/capdrop/capdrop/internal/term"
	"github.com/capdrop/capdrop/launch"
	"github.com/capdrop/capdrop/report"
	"github.com/capdrop/capdrop/source"
	"github.com/capdrop/capdrop/source/runargs"
	"github.com/capdrop/capdrop/verify"
	"github.com/capdrop/capdrop/workload"
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
		w, err := runargs.Split(o.checkExec)
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
	// verify drives the engine (root's, usually) for its caller: a
	// capdrop that gained privileges at exec must not lend them.
	if err := launch.CheckGained(); err != nil {
		return unsupportedError(err)
	}
	p, err := o.plan(s, cmd, args)
	if err != nil {
		return err
	}
	// What to run is read before any engine is needed, so its mistakes
	// are reported the same everywhere.
	w, kind, source, err := verifyWorkload(o, args)
	if err != nil {
		return err
	}
	if _, err := verify.NewTarget(w, kind, source); err != nil {
		return err // what capdrop cannot reproduce, before any engine is needed
	}
	eng, err := engine.FromEnv()
	if err != nil {
		return unsupportedError(err)
	}
	defer eng.Close()
	text := textRenderer(s)
	live := o.output.String() == "text"
	vo := verify.Options{
		Engine: eng, Workload: w, Kind: kind, Source: source,
		Start: p.set, StartFrom: p.setFrom, HasStart: p.hasSet, Check: p.check,
		Minimize: o.minimize, Retries: p.retries, NoPrediction: o.noPrediction, Timeout: o.timeout,
		Labels: o.labels,
		Warn:   func(err error) { fmt.Fprintf(s.ErrOut, "capdrop: warning: %v\n", err) },
	}
	if live {
		vo.OnStart = func(head *verify.Result) { text.VerifyHeader(s.Out, head) }
		vo.OnRun = func(run verify.Trial) { text.VerifyRun(s.Out, run) }
	}
	res, err := verify.Run(ctx, vo)
	if err != nil {
		if errors.Is(err, verify.ErrCheck) {
			return usageErrorf("%v", err)
		}
		if res != nil && ctx.Err() != nil {
			return &ExitError{Code: exitCode(ctx, err), Err: fmt.Errorf("interrupted after %d runs; the containers it started are removed", len(res.Runs))}
		}
		return err
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

// verifyWorkload reads what to verify into the model: a compose service
// (read by package source, like audit reads it), docker run arguments, or
// an image with its own configuration.
func verifyWorkload(o *verifyOptions, args []string) (w workload.Workload, kind, from string, err error) {
	switch {
	case o.compose != "":
		res := source.Collect([]string{o.compose}, source.Options{})
		var services []workload.Workload
		for _, w := range res.Workloads {
			if w.Kind == workload.ComposeService {
				services = append(services, w)
			}
		}
		var bad []error
		for _, e := range res.Errors {
			if !e.Warning {
				bad = append(bad, e)
			}
		}
		if len(bad) > 0 {
			return w, "", "", errors.Join(bad...)
		}
		var names []string
		for _, s := range services {
			names = append(names, s.Name)
			if s.Name == o.service || o.service == "" && len(services) == 1 {
				return s, "compose", fmt.Sprintf("service %s in %s", s.Name, o.compose), nil
			}
		}
		if o.service == "" {
			return w, "", "", fmt.Errorf("%s: %d services (%s): choose one with --service", o.compose, len(services), strings.Join(names, ", "))
		}
		return w, "", "", fmt.Errorf("%s: no service %q (the file has: %s)", o.compose, o.service, strings.Join(names, ", "))
	case o.image != "":
		w = workload.Workload{Kind: workload.RunLine, Name: o.image, Image: o.image, Runtime: workload.Docker}
		return w, "image", "image " + o.image, nil
	}
	w, err = runargs.FromRunArgs(args)
	if err != nil {
		return w, "", "", err
	}
	return w, "run", runargs.Join(append([]string{"docker", "run"}, args...)), nil
}
