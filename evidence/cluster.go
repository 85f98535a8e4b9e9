package evidence

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/clusterprofile"
)

// ErrPartial is wrapped by Pick's error for a profile that is not
// complete (a container seen only after its start, lost checks, a short
// window): its set may miss what the workload needs.
var ErrPartial = errors.New("the profile is partial")

// ErrNoProfile is wrapped by Pick's error when a cluster profile holds no
// profile of the container asked for, or several that cannot be told
// apart.
var ErrNoProfile = errors.New("no profile of this container")

// parseCluster reads a cluster profile (`capdrop k8s profile -o json`):
// one profile per workload container. Every name of every profile's set is
// checked, with its place.
func parseCluster(b []byte, name string) (Evidence, error) {
	ev := Evidence{Name: name, Kind: ClusterProfile}
	var doc clusterprofile.Document
	if err := json.Unmarshal(b, &doc); err != nil {
		return ev, fmt.Errorf("%s: %w: a cluster profile: %v", name, ErrNotEvidence, err)
	}
	if doc.Version != clusterprofile.Version {
		return ev, fmt.Errorf("%s: %w: cluster profile version %d; this capdrop reads version %d", name, ErrNotEvidence, doc.Version, clusterprofile.Version)
	}
	var errs []error
	for i := range doc.Profiles {
		p := &doc.Profiles[i]
		for j, n := range p.Needed {
			if err := oneName(n); err != nil {
				errs = append(errs, fmt.Errorf("%s: profiles[%d] (%s): needed[%d]: %w", name, i, p.Workload, j, err))
			}
		}
		for j, u := range p.UsedNotProven {
			if err := oneName(u.Capability); err != nil {
				errs = append(errs, fmt.Errorf("%s: profiles[%d] (%s): used_not_proven[%d]: %w", name, i, p.Workload, j, err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return ev, badNames{err}
	}
	ev.Profiles = &doc
	return ev, nil
}

func oneName(n string) error {
	if capset.IsAll(n) {
		return errors.New("ALL is not a reduced set")
	}
	l, err := capset.ParseList(n)
	if err == nil && (l.All || l.Set.Len() != 1) {
		err = fmt.Errorf("%q is not one capability name", n)
	}
	return err
}

// Ref names a workload container to pick from a cluster profile. Empty
// fields match anything.
type Ref struct {
	Namespace string
	// Kind and Name are the top controller's (Deployment, web).
	Kind, Name string
	Container  string
	// Init is true for an init container (sidecars are init containers
	// with restartPolicy Always): it matches profiles of type "init" and
	// "sidecar", otherwise of type "container".
	Init bool
	// Image is the image the container runs now: among several profiles
	// of the container (one per fingerprint), those of this image win.
	Image string
}

// String names the container as a cluster profile does.
func (r Ref) String() string {
	c := r.Container
	if r.Init {
		c = "init:" + c
	}
	return strings.Join([]string{r.Namespace, r.Kind, r.Name, c}, "/")
}

// Pick returns the evidence for one workload container. A profile or
// verify document holds one set and is returned as it is. From a cluster
// profile it picks the profile of the container r names: among several
// fingerprints the most recent one of r.Image (or the most recent one, with
// a note saying its image differs). A partial profile is refused
// (ErrPartial) unless allowPartial. Notes say what the caller should tell
// the user.
func (e Evidence) Pick(r Ref, allowPartial bool) (Evidence, []string, error) {
	if e.Kind != ClusterProfile {
		return e, nil, nil
	}
	var cands []*clusterprofile.Profile
	for _, p := range e.Profiles.Find(clusterprofile.Workload{Namespace: r.Namespace, Kind: r.Kind, Name: r.Name, Container: r.Container}) {
		if (p.Workload.ContainerType == "init" || p.Workload.ContainerType == "sidecar") == r.Init {
			cands = append(cands, p)
		}
	}
	if len(cands) == 0 {
		return e, nil, fmt.Errorf("%s: %w %s (it has %s)", e.Name, ErrNoProfile, r, e.names(8))
	}
	workloads := map[clusterprofile.Workload]bool{}
	for _, p := range cands {
		w := p.Workload
		w.UID, w.APIVersion = "", ""
		workloads[w] = true
	}
	if len(workloads) > 1 {
		var ws []string
		for w := range workloads {
			ws = append(ws, w.String())
		}
		slices.Sort(ws)
		return e, nil, fmt.Errorf("%s: %w %s: it has several (%s); name the namespace", e.Name, ErrNoProfile, r, strings.Join(ws, ", "))
	}
	var notes []string
	pick := latest(cands, func(p *clusterprofile.Profile) bool {
		return r.Image != "" && slices.ContainsFunc(p.Images, func(i clusterprofile.Image) bool { return i.Image == r.Image })
	})
	if pick == nil {
		pick = latest(cands, func(*clusterprofile.Profile) bool { return true })
		if r.Image != "" && len(pick.Images) > 0 {
			var imgs []string
			for _, i := range pick.Images {
				imgs = append(imgs, i.Image)
			}
			notes = append(notes, fmt.Sprintf("the profile of %s was made with image %s, not %s: profile the new image before relying on it",
				pick.Workload, strings.Join(imgs, ", "), r.Image))
		}
	}
	if len(cands) > 1 {
		notes = append(notes, fmt.Sprintf("%s has %d profiles (one per image, command and environment); the one last seen %s is used",
			pick.Workload, len(cands), pick.LastSeen.Format("2006-01-02 15:04:05Z07:00")))
	}
	if !pick.Complete {
		var why []string
		for _, p := range pick.Partial {
			why = append(why, p.Reason+": "+p.Detail)
		}
		if !allowPartial {
			return e, notes, fmt.Errorf("%s: %w: %s (%s); profile it from its start, or pass --allow-partial to use it anyway",
				e.Name, ErrPartial, pick.Workload, strings.Join(why, "; "))
		}
		notes = append(notes, fmt.Sprintf("the profile of %s is partial (%s): its set may miss what the workload needs", pick.Workload, strings.Join(why, "; ")))
	}
	return Evidence{Set: pick.RecommendedSet(), Used: pick.UsedSet(), Kind: ClusterProfile, Name: e.Name,
		Workload: pick.Workload.String(), Profiles: e.Profiles}, notes, nil
}

// latest returns the profile last seen among those ok accepts.
func latest(ps []*clusterprofile.Profile, ok func(*clusterprofile.Profile) bool) *clusterprofile.Profile {
	var best *clusterprofile.Profile
	for _, p := range ps {
		if ok(p) && (best == nil || p.LastSeen.After(best.LastSeen)) {
			best = p
		}
	}
	return best
}

// names lists up to n of a cluster profile's workload containers.
func (e Evidence) names(n int) string {
	var out []string
	seen := map[string]bool{}
	for _, p := range e.Profiles.Profiles {
		s := p.Workload.String()
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return "no profile"
	}
	if len(out) > n {
		return strings.Join(out[:n], ", ") + fmt.Sprintf(" and %d more", len(out)-n)
	}
	return strings.Join(out, ", ")
}
