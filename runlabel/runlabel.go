// Package runlabel turns an image's LABEL RUN (or any other label holding a
// command line, like INSTALL) into the command capdrop runlabel executes:
// the successor of `atomic run` and `podman container runlabel`, for Docker.
//
// The label is written by whoever built the image, so the package treats it
// as untrusted text. Expand reads it by shell-word rules without a shell and
// refuses shell code; Build substitutes IMAGE, NAME, OPT1–OPT3, PWD and
// environment variables, replaces a leading docker or podman with the docker
// CLI, refuses commands that are not a docker run or create (unless forced),
// lists the options that reach into the host, and describes the container as
// a workload, so that it is audited with the same engine as capdrop audit
// before anything runs. An image without the label gets capdrop's safe
// default instead of atomic's.
//
// The package never prints and never exits; it starts the command only when
// asked to (Command.Start).
package runlabel

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/engine"
	"github.com/capdrop/capdrop/knowledge"
	"github.com/capdrop/capdrop/source/runargs"
	"github.com/capdrop/capdrop/workload"
)

// DefaultLabel is the label read when none is named.
const DefaultLabel = "RUN"

// CapsLabel is the label in which an image lists the capabilities it needs
// (Podman uses it as the container's default set).
const CapsLabel = "io.containers.capabilities"

// AtomicDefault is what atomic run executed for an image without a RUN
// label (with -t added on a terminal). It keeps the engine's default
// capabilities.
const AtomicDefault = "docker run -i --name ${NAME} ${IMAGE}"

// File is the workload file name of a runlabel command: positions in
// findings are columns of the command as Command.Text shows it.
const File = "command"

// Image is what runlabel needs to know about an image.
type Image struct {
	// Ref is the reference the user gave (a name, name:tag, or an ID).
	Ref string `json:"ref"`
	// ID is the image ID (sha256:…).
	ID       string            `json:"id"`
	RepoTags []string          `json:"repo_tags"`
	Labels   map[string]string `json:"-"`
	// User is the image's USER ("" is root).
	User string `json:"user"`
}

// FromEngine converts an engine image inspection of ref.
func FromEngine(ref string, img *engine.Image) Image {
	return Image{Ref: ref, ID: img.ID, RepoTags: img.RepoTags, Labels: img.Config.Labels, User: img.Config.User}
}

// Options say which label to run and how to fill in its variables.
type Options struct {
	// Label is the label's name; "" means RUN. An exact match wins;
	// otherwise the one label whose name differs only in case is used, as
	// podman does.
	Label string
	// Name is the container name (NAME); "" derives it from the image.
	Name string
	// Opt and OptSet are --opt1..--opt3 (see Vars).
	Opt    [3]string
	OptSet [3]bool
	// Args are appended to the command as they are: no substitution, no
	// splitting.
	Args []string
	// Env is the caller's environment; nil means os.Environ().
	Env []string
	// Dir is PWD; "" means the working directory.
	Dir string
	// Docker is the docker CLI to run in place of a leading docker or
	// podman; "" means docker from PATH (or "docker" when none is found).
	Docker string
	// Force runs a label that is not a docker run/create command.
	Force bool
	// TTY adds -t to the safe default, as atomic did on a terminal.
	TTY bool
}

// Command is a label resolved into the command runlabel would execute.
type Command struct {
	Image Image `json:"image"`
	// Label is the label's name as the image spells it, and LabelText its
	// value; both are empty when the image has no such label and Default
	// is true.
	Label     string `json:"label"`
	LabelText string `json:"label_text"`
	// Default is true when the image has no RUN label and Argv is
	// capdrop's safe default.
	Default bool `json:"default"`
	// Argv is the command to execute, Text the same quoted for a shell.
	Argv []string `json:"argv"`
	Text string   `json:"text"`
	// Vars are the variables the label used and their values.
	Vars []Var `json:"variables"`
	// Run is the docker run/create command Argv is, nil when it is not one
	// (only with Force).
	Run *runargs.Command `json:"-"`
	// Workload is the container Run configures, for the audit; nil when
	// Run is nil.
	Workload *workload.Workload `json:"-"`
	// Host are the options that reach into the host.
	Host []HostAccess `json:"host_access"`
	// Judged is the image the audit judged the container as (see
	// JudgeImage): the one the command names.
	Judged Judged `json:"judged"`
	// Notes are facts worth telling before the command runs.
	Notes []string `json:"notes"`
}

// NoLabelError says the image has no label of that name.
type NoLabelError struct {
	Image, Label string
}

func (e *NoLabelError) Error() string {
	return fmt.Sprintf("image %s has no %s label", e.Image, e.Label)
}

// Build resolves the label of img into the command to execute. When the
// label is refused or cannot be read (a *LabelError), the Command is
// returned too, with the label's text and, when it got that far, the
// command it expanded to: a refusal shows what it refused.
func Build(img Image, o Options) (*Command, error) {
	if o.Label == "" {
		o.Label = DefaultLabel
	}
	if o.Env == nil {
		o.Env = os.Environ()
	}
	if o.Dir == "" {
		d, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("working directory (PWD): %w", err)
		}
		o.Dir = d
	}
	if o.Docker == "" {
		o.Docker = "docker"
		if p, err := exec.LookPath("docker"); err == nil {
			o.Docker = p
		}
	}
	vars := Vars{Image: img.Ref, Name: o.Name, NameFrom: "--name", Opt: o.Opt, OptSet: o.OptSet, Dir: o.Dir, Env: o.Env}
	if vars.Name == "" {
		vars.Name, vars.NameFrom = DefaultName(img), "image name"
	}

	key, text, err := FindLabel(img.Labels, o.Label)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", img.Ref, err)
	}
	c := &Command{Image: img, Label: key, LabelText: text, Notes: []string{}, Host: []HostAccess{}, Vars: []Var{}}
	kind := workload.DockerfileLabel
	if key == "" {
		if !strings.EqualFold(o.Label, DefaultLabel) {
			return nil, &NoLabelError{Image: img.Ref, Label: o.Label}
		}
		c.Default = true
		c.Argv = safeDefault(img, o, vars.Name, c)
		kind = workload.RunLine
	} else {
		argv, used, err := Expand(text, vars)
		if err != nil {
			return c, fmt.Errorf("image %s, label %s: %w", img.Ref, key, err)
		}
		c.Argv, c.Vars = argv, used
	}
	c.Argv = append(c.Argv, o.Args...)
	replaced := isDockerCLI(c.Argv[0])
	if replaced {
		if path.Base(c.Argv[0]) == "podman" {
			c.Notes = append(c.Notes, fmt.Sprintf("the label runs %s; capdrop runs the docker CLI instead, against the engine it read the label from", Quote(c.Argv[0])))
		}
		c.Argv[0] = o.Docker
	}
	c.Text = Join(c.Argv)
	if err := c.classify(replaced, o.Force); err != nil {
		return c, fmt.Errorf("image %s, label %s: %w", img.Ref, key, err)
	}
	if c.Run != nil {
		w, errs := c.Run.Workload(File, kind)
		if len(errs) > 0 {
			// A file the label names that cannot be read here: the
			// command is refused, not run with a part unaudited.
			return c, fmt.Errorf("image %s, label %s: %w", img.Ref, key, errs[0].Err)
		}
		w.ImageUser = img.User
		w.ImageCaps = imageCaps(img)
		w.Attrs["image_id"] = img.ID
		if c.Default {
			w.Name = "capdrop's safe default"
		} else {
			w.Name = "LABEL " + key
			w.Attrs["label"] = key + "=" + text
			// The label as written: audit's fix rewrites it into the
			// LABEL line the image should carry.
			w.Attrs["command"] = text
		}
		c.Workload = &w
		c.Host = hostAccess(c.Run)
	}
	return c, nil
}

// classify parses Argv as a docker run/create command, refusing anything
// else unless force. docker says whether Argv[0] is the docker CLI.
func (c *Command) classify(docker, force bool) error {
	args := make([]runargs.Arg, len(c.Argv))
	off := 0
	for i, a := range c.Argv {
		q := Quote(a)
		cols := len([]rune(c.Text[:off]))
		args[i] = runargs.Arg{Value: a, Literal: true, Raw: q,
			Start: runargs.Loc{Offset: off, Line: 1, Col: cols + 1},
			End:   runargs.Loc{Offset: off + len(q), Line: 1, Col: cols + len([]rune(q)) + 1}}
		off += len(q) + 1
	}
	var run *runargs.Command
	var why string
	if docker {
		// The docker CLI may live under any name (--docker); parse it
		// as what it is.
		parsed := slices.Clone(args)
		parsed[0].Value = "docker"
		run = runargs.FromArgs(parsed)
		if run != nil {
			run.Args = args
		}
	}
	switch {
	case !docker:
		why = fmt.Sprintf("%s is not docker or podman", Quote(c.Argv[0]))
	case run == nil || run.ToolArg != 0:
		sub := "with no subcommand"
		if len(c.Argv) > 1 {
			sub = Quote(c.Argv[1])
		}
		why = fmt.Sprintf("docker %s is not a docker run or docker create command", sub)
		run = nil
	default:
		if g := globals(run); len(g) > 0 {
			why = fmt.Sprintf("the label sets docker's global options (%s), which could send the command to another engine or use another configuration", strings.Join(g, " "))
		}
	}
	if run != nil {
		run.Start, run.End, run.Text = args[0].Start, args[len(args)-1].End, c.Text
	}
	c.Run = run
	if why == "" {
		return nil
	}
	if !force {
		return &LabelError{Msg: why + " (--force runs it anyway)", Refused: true}
	}
	c.Notes = append(c.Notes, "--force: "+why)
	if run == nil {
		c.Notes = append(c.Notes, "capdrop cannot audit a command that does not start a container")
	}
	return nil
}

func isDockerCLI(argv0 string) bool {
	b := path.Base(argv0)
	return b == "docker" || b == "podman"
}

// globals returns the words between the tool and the subcommand (docker's
// global options), leaving out the "container" of `docker container run`.
func globals(c *runargs.Command) []string {
	var out []string
	for i := c.ToolArg + 1; i < c.SubArg; i++ {
		if i == c.SubArg-1 && c.Args[i].Value == "container" {
			continue
		}
		out = append(out, c.Args[i].Raw)
	}
	return out
}

// FindLabel returns the label called name: the exact name, else the one
// label whose name differs only in case (podman compares without case;
// atomic tried RUN, run and Run). An empty value counts as no label. key
// is "" when there is none.
func FindLabel(labels map[string]string, name string) (key, value string, err error) {
	if v, ok := labels[name]; ok && strings.TrimSpace(v) != "" {
		return name, v, nil
	}
	var keys []string
	for k, v := range labels {
		if strings.EqualFold(k, name) && strings.TrimSpace(v) != "" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	switch len(keys) {
	case 0:
		return "", "", nil
	case 1:
		return keys[0], labels[keys[0]], nil
	}
	return "", "", fmt.Errorf("labels %s differ only in case; name one exactly with --label", strings.Join(keys, ", "))
}

// DefaultName is NAME when --name is not given: podman's rule, the last
// path component of the image reference without its tag or digest. For an
// image given by ID it is taken from the image's first tag, or is the
// short ID.
func DefaultName(img Image) string {
	ref := img.Ref
	if isID(img, ref) {
		if len(img.RepoTags) == 0 || img.RepoTags[0] == "<none>:<none>" {
			return shortID(img.ID)
		}
		ref = img.RepoTags[0]
	}
	ref, _, _ = strings.Cut(ref, "@")
	if i := strings.LastIndexByte(ref, '/'); i >= 0 {
		ref = ref[i+1:]
	}
	ref, _, _ = strings.Cut(ref, ":")
	if ref == "" {
		return shortID(img.ID)
	}
	return ref
}

// isID reports whether ref names img by (a prefix of) its ID.
func isID(img Image, ref string) bool {
	id := strings.TrimPrefix(img.ID, "sha256:")
	r := strings.TrimPrefix(ref, "sha256:")
	if r == "" || id == "" || !strings.HasPrefix(id, r) {
		return false
	}
	for _, c := range r {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

// imageCaps returns the image's io.containers.capabilities label as words.
func imageCaps(img Image) []workload.Word {
	v, ok := img.Labels[CapsLabel]
	if !ok {
		return nil
	}
	var out []workload.Word
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, workload.Word{Text: f, Pos: workload.Position{File: "label " + CapsLabel}})
		}
	}
	return out
}

// safeDefault is the command capdrop runs for an image without a RUN label:
// atomic's default with every capability dropped, the ones the image's
// io.containers.capabilities label asks for added back when Docker would
// have given them anyway, no_new_privs, and --rm.
func safeDefault(img Image, o Options, name string, c *Command) []string {
	argv := []string{"docker", "run", "--rm", "-i"}
	if o.TTY {
		argv = append(argv, "-t")
	}
	argv = append(argv, "--cap-drop=ALL")
	docker := knowledge.MustDefault(knowledge.Docker)
	var wider []string
	caps := imageCaps(img)
	if len(caps) > 0 && !rootUser(img.User) {
		c.Notes = append(c.Notes, fmt.Sprintf("the image runs as USER %s: Docker gives a non-root process none of the capabilities it adds (and no_new_privs stops file capabilities), so the safe default adds none of those its %s label names",
			Quote(img.User), CapsLabel))
		caps = nil
	}
	for _, w := range caps {
		cp, err := capset.Parse(w.Text)
		switch {
		case err != nil:
			c.Notes = append(c.Notes, fmt.Sprintf("the image's %s label names %q, which is not a capability: left out", CapsLabel, w.Text))
		case !docker.Has(cp):
			wider = append(wider, cp.Short())
		default:
			if a := "--cap-add=" + cp.Short(); !slices.Contains(argv, a) {
				argv = append(argv, a)
			}
		}
	}
	if len(wider) > 0 {
		c.Notes = append(c.Notes, fmt.Sprintf("the image's %s label asks for %s, which Docker does not give by default either: the safe default leaves %s out (add %s yourself if you trust the image)",
			CapsLabel, strings.Join(wider, ", "), pronoun(len(wider)), pronoun(len(wider))))
	}
	argv = append(argv, "--security-opt=no-new-privileges", "--name", name, img.Ref)
	c.Notes = append(c.Notes, fmt.Sprintf("the image has no %s label; atomic run would have run %q, which keeps Docker's default capabilities; capdrop runs its safe default instead", DefaultLabel, AtomicDefault))
	return argv
}

func pronoun(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

// rootUser reports whether an image USER runs as uid 0: unset, root or 0,
// with or without a group.
func rootUser(user string) bool {
	u, _, _ := strings.Cut(user, ":")
	return u == "" || u == "root" || u == "0"
}
