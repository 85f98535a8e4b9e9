package runlabel

import (
	"errors"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/capdrop/capdrop/launch"
)

// StartOptions say how Command.Start connects and runs the command.
type StartOptions struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Env is the caller's environment; nil means os.Environ().
	Env []string
	// Host is the engine address the label was read from (engine.Client's
	// Host). The docker CLI gets it as DOCKER_HOST, and DOCKER_CONTEXT is
	// removed, so it runs the container on that same engine whatever its
	// own configuration says.
	Host string
	// ForwardSignals relays the signals capdrop receives to the command
	// (see launch.Options).
	ForwardSignals bool
	// Mark, when set, is a container label (key=value) added to a docker
	// run/create command right after its subcommand, so that the
	// containers it makes can be found again (Sweep) when the run is
	// interrupted. A label changes nothing the audit judged.
	Mark string
}

// Start executes the command as a host process — never through a shell —
// and returns once it runs. The docker CLI needs no capability to talk to
// the engine's socket, so it runs with none (bounding set empty) and with
// no_new_privs: whatever the label makes it do on the host, it does with
// the caller's identity alone. A caller without CAP_SETPCAP (a non-root
// member of the docker group) cannot empty a bounding set; its command
// gets no_new_privs and keeps the caller's own (normally empty)
// capabilities. The plan says what the command holds.
func (c *Command) Start(o StartOptions) (*launch.Process, *launch.Plan, error) {
	env := o.Env
	if env == nil {
		env = os.Environ()
	}
	env = engineEnv(env, o.Host)
	req := launch.Request{DropAll: true, NoNewPrivs: true, KeepEnv: true, Env: env, Args: c.argv(o.Mark)}
	plan, err := launch.Prepare(req)
	if errors.Is(err, launch.ErrRefused) {
		req.DropAll = false
		plan, err = launch.Prepare(req)
	}
	if err != nil {
		return nil, nil, err
	}
	p, err := plan.Start(launch.Options{Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr, ForwardSignals: o.ForwardSignals})
	if err != nil {
		return nil, plan, err
	}
	return p, plan, nil
}

// engineEnv pins the docker CLI to host: DOCKER_HOST set to it,
// DOCKER_CONTEXT removed. An empty host leaves env as it is.
func engineEnv(env []string, host string) []string {
	if host == "" {
		return env
	}
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if strings.HasPrefix(kv, "DOCKER_HOST=") || strings.HasPrefix(kv, "DOCKER_CONTEXT=") {
			continue
		}
		out = append(out, kv)
	}
	return append(out, "DOCKER_HOST="+host)
}

// argv is the command to execute: Argv, with mark added as a label of the
// container when Argv is a docker run/create command.
func (c *Command) argv(mark string) []string {
	if mark == "" || c.Run == nil || c.Run.SubArg < 0 || c.Run.SubArg >= len(c.Argv) {
		return c.Argv
	}
	i := c.Run.SubArg + 1
	return slices.Concat(c.Argv[:i], []string{"--label", mark}, c.Argv[i:])
}
