package fix

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/capdrop/capdrop/merge"
	"github.com/capdrop/capdrop/source"
	"github.com/capdrop/capdrop/workload"
)

// target is the container fix rewrites: one of the workloads source reads
// from the file.
type target struct {
	w      workload.Workload
	format Format // the rewriter that edits it
	name   string // for messages: "service web", "Deployment/web container app"
	what   string // what picks it: "service", "container" or "line"
	// matches are what --service, --container or --line may say, shortest
	// first.
	matches []string
	// nth counts the workloads before it with the same kind and name, to
	// find it again in the result.
	nth int
	// json is set when the file is JSON.
	json bool
}

// read returns the workloads source reads from src, the way capdrop audit
// reads the file; format, when set, replaces detection.
func read(path string, src []byte, opts Options) ([]workload.Workload, []*workload.Error, source.Format, error) {
	name := path
	if path == "-" {
		name = source.StdinName
	}
	f := source.Detect(name, src)
	switch opts.Format {
	case "":
		if f == source.Unknown {
			f = source.Script
		}
	case Compose:
		f = source.Compose
	case Kubernetes, OCI:
		f = source.YAML
		if t := bytes.TrimLeft(src, " \t\r\n\ufeff"); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
			f = source.JSON
		}
	case Dockerfile:
		f = source.Dockerfile
	case Quadlet:
		f = source.Quadlet
	case Script:
		switch f {
		case source.Unit, source.Makefile, source.Markdown:
		default:
			f = source.Script
		}
	default:
		return nil, nil, f, fmt.Errorf("%w: unknown format %q", ErrInput, opts.Format)
	}
	ws, errs := source.ParseAs(name, src, f, opts.Source)
	return ws, errs, f, nil
}

// describe makes a target of a workload; ok is false for workloads fix does
// not write (inspect records, an image's capabilities label).
func describe(w workload.Workload) (target, bool) {
	t := target{w: w}
	switch w.Kind {
	case workload.ComposeService:
		svc := w.Attrs["service"]
		t.format, t.what, t.name, t.matches = Compose, "service", "service "+svc, []string{svc}
	case workload.KubeContainer, workload.KubeInitContainer, workload.KubeEphemeral:
		ctr, obj := w.Attrs["container"], w.Attrs["object"]
		kind := map[workload.Kind]string{workload.KubeContainer: "container", workload.KubeInitContainer: "init container", workload.KubeEphemeral: "ephemeral container"}[w.Kind]
		t.format, t.what, t.name = Kubernetes, "container", obj+" "+kind+" "+ctr
		t.matches = []string{ctr}
		if _, objName, ok := strings.Cut(obj, "/"); ok {
			t.matches = append(t.matches, objName+"/"+ctr)
		}
		t.matches = append(t.matches, w.Name)
	case workload.RunLine, workload.DockerfileLabel:
		line := strconv.Itoa(w.Pos.Line)
		t.format, t.what, t.name, t.matches = Script, "line", "run line "+line, []string{line}
		if w.Kind == workload.DockerfileLabel {
			t.format, t.name = Dockerfile, "LABEL RUN at line "+line
		}
		if label := cmp.Or(w.Attrs["container_name"], w.Image); label != "" {
			t.name += " (" + label + ")"
		}
	case workload.OCISpec:
		t.format, t.what, t.name, t.matches = OCI, "container", "the process of "+w.Name, []string{w.Name}
	case workload.QuadletUnit:
		t.format, t.what, t.name, t.matches = Quadlet, "container", "Quadlet unit "+w.Attrs["unit"], []string{w.Name, w.Attrs["unit"]}
	default:
		return t, false
	}
	return t, true
}

// choose picks the target: the workload the options name, or the only one.
func choose(path string, ws []workload.Workload, errs []*workload.Error, f source.Format, opts Options) (*target, error) {
	var cands, others []target
	seen := map[string]int{}
	for _, w := range ws {
		key := string(w.Kind) + "\x00" + w.Name
		t, ok := describe(w)
		t.nth = seen[key]
		seen[key]++
		if ok && (w.Kind != workload.DockerfileLabel || f == source.Dockerfile) {
			cands = append(cands, t)
		} else {
			others = append(others, t)
		}
	}
	what, want := "", ""
	switch {
	case opts.Service != "":
		what, want = "service", opts.Service
	case opts.Container != "":
		what, want = "container", opts.Container
	case opts.Line != 0:
		what, want = "line", strconv.Itoa(opts.Line)
	}
	if len(cands) == 0 {
		return nil, noTarget(path, ws, errs, others, what, want)
	}
	if what == "" {
		if len(cands) == 1 {
			return &cands[0], nil
		}
		return nil, &AmbiguousError{What: cands[0].what, Choices: choiceNames(cands)}
	}
	var mine []target
	for _, t := range cands {
		if t.what == what {
			mine = append(mine, t)
		}
	}
	if len(mine) == 0 {
		nouns := map[string]string{"service": "compose services", "container": "containers", "line": "run lines"}
		return nil, fmt.Errorf("%w: %s holds %s: choose with --%s, not --%s", ErrInput, path, nouns[cands[0].what], cands[0].what, what)
	}
	var found []target
	for _, t := range mine {
		if slices.Contains(t.matches, want) {
			found = append(found, t)
		}
	}
	names := choiceNames(mine)
	switch {
	case len(found) == 1:
		return &found[0], nil
	case len(found) > 1 && what == "line":
		return nil, fmt.Errorf("%w: %d run commands start on line %s; capdrop fix edits one per line: put them on lines of their own", ErrAmbiguous, len(found), want)
	case len(found) > 1:
		return nil, &AmbiguousError{What: what, Choices: choiceNames(found)}
	}
	for _, t := range others {
		if slices.Contains(t.matches, want) || t.w.Pos.Line == opts.Line {
			return nil, noTarget(path, []workload.Workload{t.w}, nil, []target{t}, what, want)
		}
	}
	if what == "line" {
		return nil, fmt.Errorf("%w: no run line starts on line %s; they start on lines %s", ErrNoTarget, want, strings.Join(slices.Compact(names), ", "))
	}
	return nil, fmt.Errorf("%w: no %s %q; the file has %s", ErrNoTarget, what, want, strings.Join(names, ", "))
}

// noTarget explains why a file offers nothing to fix.
func noTarget(path string, ws []workload.Workload, errs []*workload.Error, others []target, what, want string) error {
	for _, t := range others {
		switch t.w.Kind {
		case workload.InspectRecord, workload.DockerfileLabel:
			return fmt.Errorf("%w: %s is docker or podman inspect output, which reports what a container was created with: "+
				"capdrop fix does not write it; fix the compose file, manifest, run line or unit that creates %s instead", ErrReadOnly, path, t.w.Name)
		case workload.DockerfileImageCaps:
			return fmt.Errorf("%w: %s sets io.containers.capabilities, the default set Podman gives the image's containers; capdrop fix writes how a container is run: "+
				"fix its LABEL RUN, run line, compose service or Quadlet unit instead", ErrRefused, path)
		}
	}
	if len(ws) == 0 && len(errs) > 0 {
		return fmt.Errorf("%w: %v", ErrInput, errs[0])
	}
	switch what {
	case "service":
		return fmt.Errorf("%w: the file defines no services", ErrNoTarget)
	case "container":
		return fmt.Errorf("%w: the file defines no containers", ErrNoTarget)
	}
	return fmt.Errorf("%w: the file holds no container capdrop can fix: no compose service, Kubernetes container, docker, podman or nerdctl run line, LABEL RUN, OCI config or Quadlet unit", ErrNoTarget)
}

// choiceNames gives each target the shortest of its names that no other
// target shares.
func choiceNames(targets []target) []string {
	count := map[string]int{}
	for _, t := range targets {
		for _, m := range t.matches {
			count[m]++
		}
	}
	names := make([]string, len(targets))
	for i, t := range targets {
		names[i] = t.matches[len(t.matches)-1]
		for _, m := range t.matches {
			if count[m] == 1 {
				names[i] = m
				break
			}
		}
	}
	return names
}

// privilegedError refuses a privileged container.
func privilegedError(t *target) error {
	line := 0
	if p := t.w.PrivilegedPos; p != nil {
		line = p.Line
	}
	how := fmt.Sprintf(": true (line %d)", line)
	switch t.format {
	case Script, Dockerfile, Quadlet:
		how = " (--privileged)"
	case OCI:
		how = ""
	}
	extra := ""
	if t.format == Kubernetes {
		extra = "the API rejects privileged together with allowPrivilegeEscalation: false, "
	}
	return fmt.Errorf("%w: %s is privileged%s; a privileged container gets every capability whatever its drop list says, "+
		"%sand privileged also opens every host device and turns off seccomp and AppArmor, which capdrop will not decide for you: "+
		"remove privileged (or set it to false), check the container still works, then run capdrop fix again", ErrRefused, t.name, how, extra)
}

// userNotes say what the user of the process means for the set.
func userNotes(t *target, r merge.Result, opts Options) []string {
	var notes []string
	if !r.Root && !r.UserAssumed && r.Refusal == nil && !opts.Add.IsEmpty() {
		switch t.w.Runtime {
		case workload.Podman:
			notes = append(notes, fmt.Sprintf("%s runs as user %s: Podman makes added capabilities effective (ambient) for it", t.name, r.User))
		case workload.OCI:
			notes = append(notes, fmt.Sprintf("%s runs as user %s: it holds only what its ambient set keeps; the other capabilities of the set stay in the bounding set", t.name, r.User))
		default:
			notes = append(notes, fmt.Sprintf("%s runs as user %s: a non-root process holds added capabilities only through file capabilities (the runtime sets the bounding set only)", t.name, r.User))
		}
	}
	if a := t.w.AllowPrivilegeEscalation; a != nil && *a {
		notes = append(notes, fmt.Sprintf("%s sets allowPrivilegeEscalation: true, left as it is: setuid programs can still gain the capabilities the bounding set keeps", t.name))
	}
	return notes
}

// reaudit reads the result the way capdrop audit does and demands that the
// target now gets exactly the set.
func reaudit(path string, out []byte, t *target, opts Options) error {
	ws, errs, _, err := read(path, out, opts)
	if err != nil {
		return err
	}
	n := 0
	for _, w := range ws {
		if w.Kind != t.w.Kind || w.Name != t.w.Name {
			continue
		}
		if n == t.nth {
			r := merge.Compute(w, merge.Options{})
			if exact(r, opts.Add) {
				return nil
			}
			if err := inherited(t, w, opts); err != nil {
				return err
			}
			return fmt.Errorf("the result gives %s %s (names %v, refusal %v), not exactly %s", t.name, r.Held(), r.Names, r.Refusal, opts.Add)
		}
		n++
	}
	if len(errs) > 0 {
		return fmt.Errorf("the result does not read: %v", errs[0])
	}
	return fmt.Errorf("%s is gone from the result", t.name)
}

// inherited explains a target that cannot get exactly the set by edits of
// its own: capabilities it gets from elsewhere, such as the service it
// extends.
func inherited(t *target, w workload.Workload, opts Options) error {
	var extra []string
	for _, word := range w.CapAdd {
		c, ok := reads(w.Runtime, word.Text)
		if ok && opts.Add.Has(c) {
			continue
		}
		extra = append(extra, fmt.Sprintf("%s (%s)", word.Text, word.Pos))
	}
	if len(extra) == 0 {
		return errors.New("the result does not give exactly the set")
	}
	how := "from outside its own settings"
	if ext := w.Attrs["extends"]; ext != "" {
		how = "from service " + strings.ReplaceAll(ext, " ", ", then ") + " through extends, which adds the base's cap_add to the service's own"
	}
	return fmt.Errorf("%w: %s gets cap_add %s %s; capdrop fix edits only the target's own settings, and changing the base would change every service built on it: "+
		"remove it from the base or stop extending it, then run capdrop fix again", ErrRefused, t.name, strings.Join(extra, ", "), how)
}
