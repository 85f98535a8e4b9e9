package clusterprofile

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/profile"
)

// Merge folds a newer profile of the same workload container and
// fingerprint (from the agents' reports now) into an older one (kept from
// before: the continuous mode's object), so that nothing the older one saw
// is lost when the agents forget it (a node gone, Pods long ended).
//
// The agents' reports are cumulative, so the newer profile already counts
// what the older one counted while the agents still remember it: counts
// (checks, runs, Pods, containers) are the larger of the two, never the
// sum — a lower bound of the truth once the agents forgot part of it,
// never an overcount. Sets are unions and classes are recomputed as
// Aggregate does: needed in either is needed, used in either and needed in
// neither is used but not proven, and so on. A partial reason in either
// stays (a container not seen from its start stays not seen), except a
// window too short, which is judged again on the merged observation.
func Merge(old, cur Profile, minWindow time.Duration) (Profile, error) {
	if old.Workload.String() != cur.Workload.String() || old.Fingerprint != cur.Fingerprint {
		return cur, fmt.Errorf("merge: %s %s and %s %s are not one profile", old.Workload, old.Fingerprint, cur.Workload, cur.Fingerprint)
	}
	p := cur
	needed := old.NeededSet().Union(cur.NeededSet())
	used := old.UsedSet().Union(cur.UsedSet()).Minus(needed)
	var denied capset.Set
	for _, d := range append(append([]string{}, old.Denied...), cur.Denied...) {
		if c, err := capset.Parse(d); err == nil {
			denied = denied.With(c)
		}
	}
	denied = denied.Minus(needed).Minus(used)
	p.Needed, p.Denied = needed.Names(), denied.Names()

	p.UsedNotProven = []profile.Use{}
	uses := map[string]profile.Use{}
	for _, u := range append(append([]profile.Use{}, old.UsedNotProven...), cur.UsedNotProven...) {
		k := u.Capability + "\x00" + u.Reason
		m, ok := uses[k]
		if !ok {
			m = profile.Use{Capability: u.Capability, Reason: u.Reason}
		}
		m.Granted = max(m.Granted, u.Granted)
		m.Syscalls, m.Commands = union(m.Syscalls, u.Syscalls), union(m.Commands, u.Commands)
		uses[k] = m
	}
	for _, k := range sortedKeys(uses) {
		if c, err := capset.Parse(uses[k].Capability); err == nil && used.Has(c) {
			p.UsedNotProven = append(p.UsedNotProven, uses[k])
		}
	}
	p.Noise = []profile.Noise{}
	noise := map[string]profile.Noise{}
	for _, n := range append(append([]profile.Noise{}, old.Noise...), cur.Noise...) {
		k := n.Capability + "\x00" + n.Reason + "\x00" + n.From
		m, ok := noise[k]
		if !ok {
			m = profile.Noise{Capability: n.Capability, Reason: n.Reason, From: n.From}
		}
		m.Granted, m.Denied = max(m.Granted, n.Granted), max(m.Denied, n.Denied)
		m.Syscalls, m.Commands = union(m.Syscalls, n.Syscalls), union(m.Commands, n.Commands)
		noise[k] = m
	}
	for _, k := range sortedKeys(noise) {
		p.Noise = append(p.Noise, noise[k])
	}
	p.Kept = []profile.Kept{}
	kept := map[string]profile.Kept{}
	for _, k := range append(append([]profile.Kept{}, old.Kept...), cur.Kept...) {
		m, ok := kept[k.Source]
		if !ok {
			m = profile.Kept{Source: k.Source}
		}
		m.Capabilities, m.Commands = union(m.Capabilities, k.Capabilities), union(m.Commands, k.Commands)
		m.Count = max(m.Count, k.Count)
		kept[k.Source] = m
	}
	for _, k := range sortedKeys(kept) {
		p.Kept = append(p.Kept, kept[k])
	}

	// Capabilities: the newer entry's counts unless the older's are larger.
	caps := map[string]Capability{}
	for _, c := range old.Capabilities {
		caps[c.Capability] = c
	}
	for _, c := range cur.Capabilities {
		o, ok := caps[c.Capability]
		if ok {
			c.Pods = max(c.Pods, o.Pods)
			c.Granted, c.Denied, c.NoiseChecks = max(c.Granted, o.Granted), max(c.Denied, o.Denied), max(c.NoiseChecks, o.NoiseChecks)
			c.Nodes, c.Reasons = union(c.Nodes, o.Nodes), union(c.Reasons, o.Reasons)
			if !o.FirstSeen.IsZero() && (c.FirstSeen.IsZero() || o.FirstSeen.Before(c.FirstSeen)) {
				c.FirstSeen = o.FirstSeen
			}
			if c.Evidence == nil {
				c.Evidence = o.Evidence
			}
		}
		caps[c.Capability] = c
	}
	p.Capabilities = []Capability{}
	for _, c := range caps {
		cp, err := capset.Parse(c.Capability)
		if err != nil {
			continue
		}
		switch {
		case needed.Has(cp):
			c.Class = ClassNeeded
		case used.Has(cp):
			c.Class = ClassUsed
		case denied.Has(cp):
			c.Class = ClassDenied
		default:
			c.Class = ClassNoise
		}
		p.Capabilities = append(p.Capabilities, c)
	}
	sort.Slice(p.Capabilities, func(i, j int) bool {
		a, _ := capset.Parse(p.Capabilities[i].Capability)
		b, _ := capset.Parse(p.Capabilities[j].Capability)
		return a < b
	})

	sessions := map[string]SessionSummary{}
	var order []string
	for _, s := range append(append([]SessionSummary{}, old.Sessions...), cur.Sessions...) {
		k := s.Kind + "\x00" + s.Name + "\x00" + strings.Join(s.Command, "\x00")
		m, ok := sessions[k]
		if !ok {
			order = append(order, k)
			m = SessionSummary{Kind: s.Kind, Name: s.Name, Command: s.Command}
		}
		m.Runs, m.Pods = max(m.Runs, s.Runs), max(m.Pods, s.Pods)
		m.Capabilities = m.Capabilities.Union(s.Capabilities)
		sessions[k] = m
	}
	p.Sessions = []SessionSummary{}
	for _, k := range order {
		p.Sessions = append(p.Sessions, sessions[k])
	}
	p.Excluded.Sessions = max(old.Excluded.Sessions, cur.Excluded.Sessions)
	p.Excluded.Capabilities = old.Excluded.Capabilities.Union(cur.Excluded.Capabilities)
	p.Excluded.Commands = append([][]string{}, cur.Excluded.Commands...)
	for _, c := range old.Excluded.Commands {
		if len(p.Excluded.Commands) >= MaxCommands {
			break
		}
		if !slices.ContainsFunc(p.Excluded.Commands, func(x []string) bool { return slices.Equal(x, c) }) {
			p.Excluded.Commands = append(p.Excluded.Commands, c)
		}
	}

	images := map[Image]bool{}
	for _, im := range append(append([]Image{}, old.Images...), cur.Images...) {
		images[im] = true
	}
	p.Images = []Image{}
	for im := range images {
		p.Images = append(p.Images, im)
	}
	sort.Slice(p.Images, func(i, j int) bool {
		return p.Images[i].Image+"\x00"+p.Images[i].ImageID < p.Images[j].Image+"\x00"+p.Images[j].ImageID
	})
	p.Revisions = union(old.Revisions, cur.Revisions)
	p.Nodes = union(old.Nodes, cur.Nodes)
	p.Pods, p.Containers = max(old.Pods, cur.Pods), max(old.Containers, cur.Containers)
	if !old.FirstSeen.IsZero() && old.FirstSeen.Before(p.FirstSeen) {
		p.FirstSeen = old.FirstSeen
	}
	if old.LastSeen.After(p.LastSeen) {
		p.LastSeen = old.LastSeen
	}
	obs := p.LastSeen.Sub(p.FirstSeen)
	p.Observed = max(obs, 0).Round(time.Millisecond).Seconds()
	p.Warnings = union(old.Warnings, cur.Warnings)

	reasons := map[string]Reason{}
	for _, r := range append(append([]Reason{}, old.Partial...), cur.Partial...) {
		if r.Reason == ReasonShortWindow {
			continue
		}
		m, ok := reasons[r.Reason]
		if !ok {
			m = Reason{Reason: r.Reason, Detail: r.Detail}
		}
		m.Pods, m.Nodes = union(m.Pods, r.Pods), union(m.Nodes, r.Nodes)
		reasons[r.Reason] = m
	}
	if obs < minWindow {
		reasons[ReasonShortWindow] = Reason{Reason: ReasonShortWindow,
			Detail: fmt.Sprintf("observed %s, less than the minimum window %s", obs.Round(time.Second), minWindow)}
	}
	p.Partial = []Reason{}
	for _, k := range sortedKeys(reasons) {
		p.Partial = append(p.Partial, reasons[k])
	}
	p.Complete = len(p.Partial) == 0
	return p, nil
}

// union returns the sorted union of two lists, without repeats (never
// nil).
func union(a, b []string) []string {
	out := append(append([]string{}, a...), b...)
	sort.Strings(out)
	return slices.Compact(out)
}
