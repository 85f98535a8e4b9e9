package verify

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/capdrop/capdrop/engine"
)

// LabelSession is the label every container capdrop verify creates carries;
// its value is the session's ID. `docker ps -a --filter label=capdrop.verify`
// finds them (there should never be any left).
const LabelSession = "capdrop.verify"

// ErrNoDockerCLI is returned when docker run arguments are given but no
// docker command is installed to parse them.
var ErrNoDockerCLI = errors.New("no docker command to parse the docker run arguments")

// Session is one verification: its engine, its ID (in every container's
// name and label) and the extra labels to put on its containers.
type Session struct {
	Engine *engine.Client
	ID     string
	// Labels are added to every container the session creates.
	Labels map[string]string
	// DockerCLI is the docker command used to parse run arguments
	// ("docker" when empty).
	DockerCLI string

	seq int
}

// NewSession starts a session on an engine.
func NewSession(c *engine.Client, labels map[string]string) *Session {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return &Session{Engine: c, ID: hex.EncodeToString(b[:]), Labels: labels}
}

// labels returns the labels for a new container: the session label plus the
// extra ones.
func (s *Session) labels() map[string]string {
	l := map[string]string{LabelSession: s.ID}
	for k, v := range s.Labels {
		l[k] = v
	}
	return l
}

// nextName returns a fresh container name in the session.
func (s *Session) nextName(what string) string {
	s.seq++
	return fmt.Sprintf("capdrop-verify-%s-%s%d", s.ID, what, s.seq)
}

// cleanupContext returns a context for removing containers that survives the
// cancellation of ctx (Ctrl-C) but not forever.
func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
}

// remove force-removes a container by ID or name, even when ctx is already
// cancelled. A container that is already gone is not an error.
func (s *Session) remove(ctx context.Context, ref string) error {
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	err := s.Engine.ContainerRemove(cctx, ref, true)
	if err != nil && !errors.Is(err, engine.ErrNotFound) {
		return err
	}
	return nil
}

// Cleanup removes every container of this session that is still there (a
// safety net: each trial removes its own container) and returns how many it
// found.
func (s *Session) Cleanup(ctx context.Context) (int, error) {
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	list, err := s.Engine.ContainerList(cctx, engine.ListOptions{All: true, Filters: map[string][]string{"label": {LabelSession + "=" + s.ID}}})
	if err != nil {
		return 0, fmt.Errorf("list this session's containers: %w", err)
	}
	var errs []error
	for _, c := range list {
		if err := s.remove(ctx, c.ID); err != nil {
			errs = append(errs, err)
		}
	}
	return len(list), errors.Join(errs...)
}

// FromImage returns the target that runs an image with its own
// configuration (entrypoint, command, user, environment, working directory),
// optionally with another command.
func (s *Session) FromImage(ctx context.Context, ref string, cmd []string) (*Target, error) {
	img, err := s.Engine.ImageInspect(ctx, ref)
	if err != nil {
		return nil, err
	}
	t := &Target{
		Kind: "image", Source: "image " + ref, Image: ref, User: img.Config.User,
		config: map[string]any{"Image": ref},
		host:   map[string]any{},
	}
	if len(cmd) > 0 {
		t.config["Cmd"] = cmd
	}
	return t, nil
}

// FromRunArgs returns the target that docker run args describe. To read the
// arguments exactly as Docker does (every option, env files, the image's
// defaults), it lets the docker CLI create a container from them once,
// never started, reads that container's whole configuration from the engine,
// and removes it; each trial is then created through the engine API from
// that configuration with only the capability settings replaced.
func (s *Session) FromRunArgs(ctx context.Context, args []string) (*Target, error) {
	ra, err := ParseRunArgs(args)
	if err != nil {
		return nil, err
	}
	cli := s.DockerCLI
	if cli == "" {
		cli = "docker"
	}
	path, err := exec.LookPath(cli)
	if err != nil {
		return nil, fmt.Errorf("%w (%v): install the docker CLI, or verify an image (--image) or a compose service (--compose)", ErrNoDockerCLI, err)
	}
	name := s.nextName("parse")
	argv := []string{"-H", s.Engine.Host(), "create", "--name", name}
	for k, v := range s.labels() {
		argv = append(argv, "--label", k+"="+v)
	}
	argv = append(argv, ra.Flags...)
	argv = append(argv, ra.Image)
	argv = append(argv, ra.Cmd...)
	cmd := exec.CommandContext(ctx, path, argv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	defer func() { _ = s.remove(ctx, name) }()
	if runErr != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = runErr.Error()
		}
		return nil, &RunArgsError{Message: msg}
	}
	ct, err := s.Engine.ContainerInspect(ctx, name)
	if err != nil {
		return nil, err
	}
	t, err := fromInspect(ct.Raw)
	if err != nil {
		return nil, err
	}
	t.Kind, t.Source = "run", "docker run "+shellQuote(args)
	for _, d := range ra.Dropped {
		opt := strings.TrimLeft(strings.Fields(d)[0], "-")
		opt, _, _ = strings.Cut(opt, "=")
		if len(opt) == 1 {
			opt = runShortLong[opt[0]]
		}
		if why := runDropped[opt]; why != "" {
			t.Notes = append(t.Notes, fmt.Sprintf("%s left out: %s", d, why))
		}
	}
	return t, nil
}

// shellQuote joins words into a command line a shell reads back as the
// same words.
func shellQuote(words []string) string {
	out := make([]string, len(words))
	for i, w := range words {
		safe := w != ""
		for _, r := range w {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,+@%", r)) {
				safe = false
				break
			}
		}
		if safe {
			out[i] = w
		} else {
			out[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
		}
	}
	return strings.Join(out, " ")
}

// RunArgsError is the docker CLI's refusal of the run arguments.
type RunArgsError struct{ Message string }

func (e *RunArgsError) Error() string { return "docker run arguments: " + e.Message }

// fromInspect turns a container's inspect record into a target that
// re-creates it.
func fromInspect(raw json.RawMessage) (*Target, error) {
	var ins struct {
		ID              string         `json:"Id"`
		Config          map[string]any `json:"Config"`
		HostConfig      map[string]any `json:"HostConfig"`
		NetworkSettings struct {
			Networks map[string]map[string]any `json:"Networks"`
		} `json:"NetworkSettings"`
	}
	if err := json.Unmarshal(raw, &ins); err != nil {
		return nil, fmt.Errorf("read the container's configuration: %w", err)
	}
	if ins.Config == nil || ins.HostConfig == nil {
		return nil, errors.New("read the container's configuration: the engine sent no Config or HostConfig")
	}
	t := &Target{config: ins.Config, host: ins.HostConfig}
	t.Image, _ = ins.Config["Image"].(string)
	t.User, _ = ins.Config["User"].(string)
	// The engine names a container's host after its ID unless told
	// otherwise; let each trial get its own.
	if h, _ := ins.Config["Hostname"].(string); h != "" && len(ins.ID) >= 12 && h == ins.ID[:12] {
		delete(ins.Config, "Hostname")
	}
	if l, ok := ins.Config["Labels"].(map[string]any); ok {
		delete(l, LabelSession)
	}
	t.CapAdd = stringList(ins.HostConfig["CapAdd"])
	t.CapDrop = stringList(ins.HostConfig["CapDrop"])
	t.Privileged, _ = ins.HostConfig["Privileged"].(bool)
	if t.Privileged {
		t.Notes = append(t.Notes, "--privileged replaced by the candidate set: host devices, seccomp, AppArmor and masked /proc paths are back to Docker's defaults in the trials")
	}
	if pb, ok := ins.HostConfig["PortBindings"].(map[string]any); ok && len(pb) > 0 {
		t.Notes = append(t.Notes, "published ports left out (trials never bind host ports; probes use the container's own address)")
	}
	if pa, _ := ins.HostConfig["PublishAllPorts"].(bool); pa {
		t.Notes = append(t.Notes, "--publish-all left out (trials never bind host ports)")
	}
	if rp, ok := ins.HostConfig["RestartPolicy"].(map[string]any); ok {
		if n, _ := rp["Name"].(string); n != "" && n != "no" {
			t.Notes = append(t.Notes, "restart policy "+n+" left out (a trial runs once)")
		}
	}
	// A user-defined network is chosen at create time with its endpoint
	// settings (static address, aliases); the default bridge needs nothing.
	mode, _ := ins.HostConfig["NetworkMode"].(string)
	eps := map[string]any{}
	for name, ep := range ins.NetworkSettings.Networks {
		if name == "bridge" || name == "host" || name == "none" || name == mode && (mode == "default" || strings.HasPrefix(mode, "container:")) {
			continue
		}
		keep := map[string]any{}
		for _, k := range []string{"IPAMConfig", "Links", "Aliases", "DriverOpts", "MacAddress"} {
			if v, ok := ep[k]; ok && v != nil && v != "" {
				keep[k] = v
			}
		}
		if al, ok := keep["Aliases"].([]any); ok && len(ins.ID) >= 12 {
			var out []any
			for _, a := range al {
				if a != ins.ID[:12] {
					out = append(out, a)
				}
			}
			keep["Aliases"] = out
		}
		eps[name] = keep
	}
	if len(eps) > 1 {
		return nil, fmt.Errorf("the container is attached to %d networks; the engine attaches one at create time, so capdrop cannot reproduce it", len(eps))
	}
	if len(eps) == 1 {
		t.networking = map[string]any{"EndpointsConfig": eps}
	}
	return t, nil
}
