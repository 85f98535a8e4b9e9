package cli

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/engine"
	"github.com/capdrop/capdrop/internal/term"
	"github.com/capdrop/capdrop/procfs"
	"github.com/capdrop/capdrop/profile"
	"github.com/capdrop/capdrop/report"
	"github.com/capdrop/capdrop/source/runargs"
	"github.com/capdrop/capdrop/trace"
)

type profileOptions struct {
	container string
	docker    bool
	duration  time.Duration
	mechanism string
	maxKeys   int
	output    *choice
}

func newProfileCmd(s *term.Streams) *cobra.Command {
	o := &profileOptions{}
	cmd := &cobra.Command{
		Use:   "profile [flags] -- CMD ARGS... | --container NAME|ID | --docker -- [docker run flags] IMAGE [CMD]",
		Short: "Measure the capabilities a workload really uses, with eBPF, from its first exec",
		Long: `Trace the kernel's capability checks with eBPF and turn them into the set a
workload needs, with the noise (advisory probes, checks only ever denied,
set*id to ids already held, overlayfs checks on its mounter's credentials)
reported apart, and snippets that apply the set.

  profile -- CMD ARGS...     run a host command in its own mount namespace
                             and profile it and its descendants, from its
                             exec to its exit
  profile --container NAME   profile a running container (until it stops,
                             --duration passes or Ctrl-C)
  profile --docker -- ARGS   create a container from docker run arguments,
                             profile it from its first exec (the runtime's
                             own init is not counted), remove it afterwards

The workload's own output goes to standard error; the report to standard
output. Needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN): run as root. See
docs/profile.md for the JSON document (-o json) that verify and fix read.`,
		Example: `  capdrop profile -- ./server --port 8080
  capdrop profile --container web --duration 60s
  capdrop profile --docker -- --rm -p 8080:80 nginx
  capdrop profile -o json --docker -- myimage > profile.json`,
	}
	cmd.Flags().SetInterspersed(false)
	o.output = outputFlag(cmd, "text", "json")
	f := cmd.Flags()
	f.StringVar(&o.container, "container", "", "profile this running container (name or ID)")
	f.BoolVar(&o.docker, "docker", false, "start a container from the docker run arguments after -- and profile it")
	f.DurationVar(&o.duration, "duration", 0, "stop after this long (default: when the workload exits, or Ctrl-C)")
	f.StringVar(&o.mechanism, "mechanism", "", "use only this tracing mechanism: tp_btf, raw_tp, fexit, kprobe (default: the first that works)")
	f.IntVar(&o.maxKeys, "max-keys", 0, "size of the in-kernel counts map (default 16384)")
	_ = f.MarkHidden("max-keys")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return runProfile(cmd, s, o, args)
	}
	return cmd
}

func runProfile(cmd *cobra.Command, s *term.Streams, o *profileOptions, args []string) error {
	modes := 0
	if o.container != "" {
		modes++
	}
	if o.docker {
		modes++
	}
	if modes > 1 {
		return usageErrorf("give --container or --docker, not both")
	}
	if o.container != "" && len(args) > 0 {
		return usageErrorf("--container takes no command; got %q", args[0])
	}
	if o.container == "" && len(args) == 0 {
		if o.docker {
			return usageErrorf("--docker needs docker run arguments after --: capdrop profile --docker -- [flags] IMAGE [CMD]")
		}
		return usageErrorf("nothing to profile: give -- CMD ARGS..., --container NAME or --docker -- IMAGE")
	}
	if o.duration < 0 {
		return usageErrorf("--duration must not be negative")
	}
	opts := profile.Options{Duration: o.duration, MaxKeys: o.maxKeys, Stdin: s.In, Stdout: s.ErrOut, Stderr: s.ErrOut}
	if o.mechanism != "" {
		m, err := trace.ParseMechanism(o.mechanism)
		if err != nil {
			return usageErrorf("--mechanism: %v", err)
		}
		opts.Mechanisms = []trace.Mechanism{m}
	}
	if err := tracerPrivileges(); err != nil {
		return unsupportedError(err)
	}
	var live *liveView
	if s.OutTTY && o.output.String() == "text" {
		live = &liveView{t: textRenderer(s), s: s, start: time.Now()}
		opts.Live = live.update
	}

	ctx := cmd.Context()
	opts.Command = args
	if o.container != "" || o.docker {
		opts.Command = nil
		eng, eerr := engine.FromEnv()
		if eerr != nil {
			return unsupportedError(eerr)
		}
		defer eng.Close()
		if _, eerr := eng.APIVersion(ctx); eerr != nil {
			return fmt.Errorf("profiling a container needs a Docker engine: %w", eerr)
		}
		opts.Engine, opts.Container = eng, o.container
		if o.docker {
			w, err := runargs.FromRunArgs(args)
			if err != nil {
				return usageErrorf("--docker: %v (capdrop profile --docker -- [docker run flags] IMAGE [CMD])", err)
			}
			opts.Docker = &w
		}
	}
	p, err := profile.Run(ctx, opts)
	if live != nil {
		live.clear()
	}
	if err != nil {
		if errors.Is(err, engine.ErrNotFound) {
			return err
		}
		return fmt.Errorf("profile: %w", err)
	}
	if o.output.String() == "json" {
		err = report.JSON(s.Out, p)
	} else {
		err = textRenderer(s).Profile(s.Out, p)
	}
	if err == nil && ctx.Err() != nil {
		// Stopped by a signal: the profile of what was seen is still the
		// report, and the exit status says it was interrupted (130, 143).
		return &ExitError{Code: exitCode(ctx, ctx.Err()), Silent: true, Err: ctx.Err()}
	}
	return err
}

// tracerPrivileges checks, before anything starts, that capdrop holds what
// the tracer needs, and names what is missing.
func tracerPrivileges() error {
	st, err := procfs.ReadStatus("", os.Getpid())
	if err != nil {
		return nil // the tracer will say what fails
	}
	if missing := trace.NeededPrivileges(st.Sets.Effective); !missing.IsEmpty() {
		return &trace.PrivilegeError{Missing: missing, Detail: "capdrop's effective set is " + report.Summarize(st.Sets.Effective)}
	}
	return nil
}

// liveView shows on a terminal what has been seen so far.
type liveView struct {
	mu    sync.Mutex
	t     report.Text
	s     *term.Streams
	start time.Time
	shown bool
}

func (l *liveView) update(seen capset.Set, kinds int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.shown = true
	_ = l.t.ProfileLive(l.s.ErrOut, seen, kinds, time.Since(l.start).Seconds())
}

func (l *liveView) clear() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.shown {
		fmt.Fprint(l.s.ErrOut, "\r\x1b[K")
	}
}
