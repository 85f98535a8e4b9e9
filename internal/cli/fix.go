package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/evidence"
	"github.com/capdrop/capdrop/fix"
	"github.com/capdrop/capdrop/internal/input"
	"github.com/capdrop/capdrop/internal/term"
	"github.com/capdrop/capdrop/workload"
)

// maxFixFile bounds the size of a file capdrop fix reads.
const maxFixFile = 16 << 20

type fixOptions struct {
	service, container string
	line               int
	capAdd, from       string
	format             string
	diff, write        bool
	allowWiden         bool
	allowPartial       bool
	namespace          string
}

func newFixCmd(s *term.Streams) *cobra.Command {
	var o fixOptions
	formats := make([]string, len(fix.Formats))
	for i, f := range fix.Formats {
		formats[i] = string(f)
	}
	cmd := &cobra.Command{
		Use:   "fix FILE",
		Short: "Write a capability set into a compose file, Kubernetes manifest, Dockerfile, script, Quadlet unit or OCI config, changing nothing else",
		Long: `fix makes one container drop every capability and add exactly the given set:
a compose service (cap_drop: [ALL], cap_add), a Kubernetes container
(securityContext.capabilities drop ["ALL"] and add, and allowPrivilegeEscalation:
false when it is not set), a Dockerfile LABEL RUN, a docker/podman run line in
a shell script, Makefile, Markdown file or systemd unit, a Podman Quadlet unit
(DropCapability=ALL, AddCapability=) or an OCI bundle's config.json (the five
lists of process.capabilities). fix finds the container the way 'capdrop audit'
reads the file, and reads its result back the same way: it must give exactly
the set. docker inspect output is read-only.

Everything else in the file stays byte for byte: comments, key order, indentation,
quoting, anchors, line endings, other documents. The rewrite is checked before it
is shown: the result must parse, give the target exactly the set and nothing else
must change. Running fix again changes nothing.

The set comes from --cap-add, or from --from: a document written by
'capdrop profile -o json' (its "needed" set), 'capdrop verify -o json' or
'capdrop k8s verify -o json' (its "set", which must have passed), or
'capdrop k8s profile -o json' (a cluster profile: the profile of the
manifest's container is picked by namespace, controller and container name;
a partial one is refused without --allow-partial).

By default fix prints a unified diff (apply it with 'patch -p0'); --write replaces
the file atomically. fix never grants a capability the target does not hold
today unless --allow-widen is given, and refuses targets it cannot change safely:
privileged containers, lists shared through YAML anchors, several possible
targets (choose with --service, --container or --line).`,
		Example: `  capdrop fix compose.yaml --service web --cap-add net_bind_service,chown
  capdrop fix k8s/deploy.yaml --container app --from profile.json --write
  capdrop fix k8s/deploy.yaml --container app --from cluster-profile.json
  capdrop fix run.sh --line 12 --cap-add '' --write
  capdrop fix Dockerfile --from verify.json | patch -p0`,
		Args: argsUsage(cobra.ExactArgs(1)),
	}
	f := cmd.Flags()
	f.StringVar(&o.service, "service", "", "the compose service to fix")
	f.StringVar(&o.container, "container", "", "the Kubernetes container to fix: NAME, OBJECT/NAME or KIND/OBJECT/NAME (or the container of a Quadlet unit or OCI config)")
	f.IntVar(&o.line, "line", 0, "the run line or LABEL RUN to fix, by the line it starts on")
	f.StringVar(&o.capAdd, "cap-add", "", `the capabilities to keep: names (any case, CAP_ optional) or hex masks, comma-separated; '' or none for nothing`)
	f.StringVar(&o.from, "from", "", "read the set from a capdrop profile or verify JSON document (- for stdin)")
	f.BoolVar(&o.diff, "diff", false, "print a unified diff of the change (the default)")
	f.BoolVar(&o.write, "write", false, "write the file in place, atomically (FILE - writes the result to stdout)")
	f.BoolVar(&o.allowWiden, "allow-widen", false, "allow granting capabilities the target does not hold today")
	f.StringVarP(&o.namespace, "namespace", "n", "", "with a cluster profile: the namespace the manifest is deployed to, when it names none")
	f.BoolVar(&o.allowPartial, "allow-partial", false, "use a cluster profile's set even when the profile is partial (not every container seen from its start)")
	format := choiceFlag(cmd, "format", "", "the file's format when detection guesses wrong: "+strings.Join(formats, ", "), formats...)
	_ = cmd.RegisterFlagCompletionFunc("cap-add", completeCaps)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		o.format = format.String()
		return runFix(s, cmd, args[0], o)
	}
	return cmd
}

func runFix(s *term.Streams, cmd *cobra.Command, path string, o fixOptions) error {
	switch {
	case cmd.Flags().Changed("cap-add") == (o.from != ""):
		return usageErrorf("give the set with exactly one of --cap-add and --from")
	case o.diff && o.write:
		return usageErrorf("--diff and --write do not go together")
	case btoi(o.service != "")+btoi(o.container != "")+btoi(o.line != 0) > 1:
		return usageErrorf("choose the target with one of --service, --container and --line")
	case path == "-" && o.from == "-":
		return usageErrorf("FILE and --from cannot both be standard input")
	case o.namespace != "" && o.from == "":
		return usageErrorf("--namespace picks a profile from a cluster profile given with --from")
	case o.line < 0:
		return usageErrorf("--line must be a line number, not %d", o.line)
	}
	ev, err := fixSet(s, o)
	if err != nil {
		return err
	}
	src, err := readFixFile(s, path)
	if err != nil {
		return err
	}
	fopts := fix.Options{Service: o.service, Container: o.container, Line: o.line,
		Format: fix.Format(o.format), AllowWiden: o.allowWiden}
	if ev.Kind == evidence.ClusterProfile {
		// One profile per workload container: the one of the container
		// fix rewrites.
		w, err := fix.Locate(path, src, fopts)
		if err != nil {
			return err
		}
		var notes []string
		ref := manifestRef(w)
		if ref.Namespace == "" {
			ref.Namespace = o.namespace
		} else if o.namespace != "" && o.namespace != ref.Namespace {
			return usageErrorf("--namespace %s: the manifest's %s is in namespace %s", o.namespace, w.Attrs["object"], ref.Namespace)
		}
		ev, notes, err = ev.Pick(ref, o.allowPartial)
		if err != nil {
			return err
		}
		for _, n := range notes {
			fmt.Fprintf(s.ErrOut, "capdrop: note: %s\n", n)
		}
		fmt.Fprintf(s.ErrOut, "capdrop: the set of %s: %s\n", ev.Workload, words(ev.Set))
	}
	set := ev.Set
	fopts.Add = set
	res, err := fix.Apply(path, src, fopts)
	if err != nil {
		return err
	}
	for _, n := range res.Notes {
		fmt.Fprintf(s.ErrOut, "capdrop: note: %s\n", n)
	}
	what := "adds nothing"
	if !set.IsEmpty() {
		what = "adds exactly " + strings.Join(set.ShortNames(), ", ")
	}
	switch {
	case o.write && path == "-":
		_, err := s.Out.Write(res.Output)
		return err
	case !res.Changed:
		fmt.Fprintf(s.ErrOut, "%s: %s already drops ALL and %s; nothing to do\n", path, res.Target, what)
		return nil
	case o.write:
		if err := fix.WriteFile(path, src, res.Output); err != nil {
			return err
		}
		fmt.Fprintf(s.Out, "%s: %s now drops ALL and %s\n", path, res.Target, what)
		return nil
	}
	return writeDiff(s, fix.Unified(path, path, src, res.Output))
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// fixSet reads the set from --cap-add or --from.
func fixSet(s *term.Streams, o fixOptions) (evidence.Evidence, error) {
	if o.from == "" {
		l, err := capset.ParseList(o.capAdd)
		if err != nil {
			return evidence.Evidence{}, usageErrorf("--cap-add: %v", err)
		}
		if l.All {
			return evidence.Evidence{}, usageErrorf("--cap-add ALL is not a reduced set: list the capabilities to keep")
		}
		return evidence.Evidence{Set: l.Set}, nil
	}
	return readEvidence(s, o.from)
}

// manifestRef names a manifest's container as a cluster profile does: the
// namespace (any, when the manifest names none), the object's kind and name
// (its own controller: a manifest's Deployment is the profile's top
// controller), the container and its image.
func manifestRef(w workload.Workload) evidence.Ref {
	kind, name, _ := strings.Cut(w.Attrs["object"], "/")
	return evidence.Ref{Namespace: w.Attrs["namespace"], Kind: kind, Name: name, Container: w.Attrs["container"],
		Init: w.Kind == workload.KubeInitContainer, Image: w.Image}
}

// words lists a set's short names, or says it is empty.
func words(s capset.Set) string {
	if s.IsEmpty() {
		return "no capability"
	}
	return strings.Join(s.ShortNames(), ", ")
}

// readEvidence reads --from: a profile or verify document, "-" for
// standard input.
func readEvidence(s *term.Streams, from string) (evidence.Evidence, error) {
	var r io.Reader = s.In
	if from != "-" {
		f, _, err := input.Open(from)
		if err != nil {
			return evidence.Evidence{}, err
		}
		defer f.Close()
		r = f
	}
	return evidence.Read(r, from)
}

func readFixFile(s *term.Streams, path string) ([]byte, error) {
	var r io.Reader = s.In
	if path != "-" {
		f, _, err := input.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxFixFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > maxFixFile {
		return nil, fmt.Errorf("%s: larger than %d MiB", path, maxFixFile>>20)
	}
	return b, nil
}

// writeDiff prints a diff, coloured on a terminal.
func writeDiff(s *term.Streams, diff string) error {
	p := s.Palette()
	var b strings.Builder
	for _, line := range strings.SplitAfter(diff, "\n") {
		switch {
		case line == "":
		case strings.HasPrefix(line, "+++"), strings.HasPrefix(line, "---"):
			b.WriteString(p.Bold(strings.TrimSuffix(line, "\n")) + "\n")
		case strings.HasPrefix(line, "@@"):
			b.WriteString(p.Cyan(strings.TrimSuffix(line, "\n")) + "\n")
		case strings.HasPrefix(line, "+"):
			b.WriteString(p.Green(strings.TrimSuffix(line, "\n")) + "\n")
		case strings.HasPrefix(line, "-"):
			b.WriteString(p.Red(strings.TrimSuffix(line, "\n")) + "\n")
		default:
			b.WriteString(line)
		}
	}
	_, err := io.WriteString(s.Out, b.String())
	return err
}
