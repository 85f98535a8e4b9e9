package fleet

import (
	"cmp"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/capdrop/capdrop/audit"
	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/cluster"
	"github.com/capdrop/capdrop/clusterprofile"
	"github.com/capdrop/capdrop/inventory"
	"github.com/capdrop/capdrop/profile"
	"github.com/capdrop/capdrop/report"
	"github.com/capdrop/capdrop/shadow"
	"github.com/capdrop/capdrop/verify"
	"github.com/capdrop/capdrop/workload"
)

// Builder collects what capdrop knows and makes a Fleet of it. Containers
// come from live hosts and audits; profiles and verify results are then
// matched to them (see Build). The zero value is ready to use.
type Builder struct {
	containers []*Container
	profiles   []attached[*profile.Profile]
	kube       []attached[*clusterprofile.Profile]
	proofs     []attached[*verify.Result]
	shadows    []attached[*shadow.Result]
	before     []beforeEntry
	inputs     []string
	errors     []string
	warnings   []string
	hasBefore  bool
	kubeIndex  map[string][]*Container
}

func (b *Builder) warn(s string) { b.warnings = append(b.warnings, s) }

type attached[T any] struct {
	doc  T
	from string // the document's file name, or a description
}

type beforeEntry struct {
	file, kind, name string
	bounding         capset.Set
}

// Input records one line saying what went into the picture.
func (b *Builder) Input(format string, args ...any) {
	b.inputs = append(b.inputs, fmt.Sprintf(format, args...))
}

// Error records an input that could not be read.
func (b *Builder) Error(err error) { b.errors = append(b.errors, err.Error()) }

// AddInventory adds the containers of a live host, as `capdrop ps
// --containers` sees them. host names the machine.
func (b *Builder) AddInventory(inv *inventory.Inventory, host string) {
	docs := make([]report.PSContainer, len(inv.Containers))
	for i, c := range inv.Containers {
		docs[i] = report.NewPSContainer(c)
	}
	b.AddPSContainers(docs, host)
}

// AddPSContainers adds containers in the form `capdrop ps --containers -o
// json` writes. host names the machine they run on.
func (b *Builder) AddPSContainers(docs []report.PSContainer, host string) {
	for _, d := range docs {
		c := &Container{Name: d.Name, Image: d.Image, Kind: d.Runtime + " container", Runtime: d.Runtime, ID: d.ID,
			Group: Group{Host: host, Workload: d.Name}}
		if c.Name == "" {
			c.Name = d.Runtime + ":" + shortID(d.ID)
			c.Group.Workload = c.Name
		}
		if d.Config != nil {
			cfg := &Config{Privileged: d.Config.Privileged, CapAdd: d.Config.CapAdd, CapDrop: d.Config.CapDrop, User: d.Config.User}
			cfg.Set = configured(d.Config.CapAdd, d.Config.Privileged)
			c.Config = cfg
		}
		if d.Sets != nil {
			s := parseSets(*d.Sets)
			c.Sets = &s
		}
		for _, m := range d.Mismatches {
			c.Findings = append(c.Findings, Finding{Rule: "live:" + m.Kind, Message: m.Message})
			if m.Kind == "add-not-held" {
				c.Asked |= parseNames(m.Capabilities)
			}
		}
		if d.MainPID == 0 {
			c.Notes = append(c.Notes, "no main process was found; the sets are not known")
		}
		b.containers = append(b.containers, c)
	}
}

// AddAudit adds the workloads of an audit.
func (b *Builder) AddAudit(rep *audit.Report, errs []*workload.Error) {
	b.AddAuditDoc(report.NewAuditDoc(report.Audit{Report: rep, Errors: errs}))
}

// AddAuditDoc adds the workloads of an audit in the form `capdrop audit -o
// json` writes.
func (b *Builder) AddAuditDoc(doc report.AuditDoc) {
	byWorkload := map[int][]report.AuditFinding{}
	for _, f := range doc.Findings {
		byWorkload[f.WorkloadIdx] = append(byWorkload[f.WorkloadIdx], f)
	}
	first := len(b.containers)
	for i, w := range doc.Workloads {
		c := &Container{Name: w.Name, Image: w.Image, Kind: string(w.Kind), Runtime: string(w.Runtime),
			At: at(w.File, w.Line, w.Column), Root: w.Root, RootKnown: !w.UserAssumed,
			Group: Group{File: w.File, Namespace: w.Attrs["namespace"], Workload: auditWorkload(w)}}
		if doc.Cluster != nil {
			// A live cluster's container: grouped by its top controller
			// and its node; its place is the object, not a file.
			c.Kube = &Kube{Controller: w.Attrs["controller"], Container: w.Attrs["container"],
				Init: w.Kind == workload.KubeInitContainer, Origin: w.Attrs["origin"], Pod: w.Attrs["pod"], Node: w.Attrs["node"]}
			c.Group = Group{Namespace: w.Attrs["namespace"], Host: w.Attrs["node"], Workload: cmp.Or(w.Attrs["controller"], w.Attrs["object"])}
			c.ID = w.Attrs["container_id"]
		}
		for _, u := range w.Uncertain {
			c.Uncertain = append(c.Uncertain, u.Reason)
		}
		nnp := w.NoNewPrivs
		c.Config = &Config{Privileged: w.Privileged, CapAdd: w.CapAdd, CapDrop: w.CapDrop, User: w.User, NoNewPrivs: &nnp}
		if w.Refused != nil {
			c.Refused = w.Refused.Message
			if w.Refused.Hint != "" {
				c.Refused += " (" + w.Refused.Hint + ")"
			}
		}
		s := parseSets(w.Sets)
		c.Sets = &s
		c.Why = map[capset.Cap][]Reason{}
		for _, why := range w.Why {
			cp, err := capset.Parse(why.Capability)
			if err != nil {
				continue
			}
			for _, r := range why.Reasons {
				c.Why[cp] = append(c.Why[cp], Reason{Source: r.Source, Text: r.Text, At: at(w.File, r.Line, r.Column)})
				if r.Source != "default" {
					c.Config.Set = c.Config.Set.With(cp)
				}
			}
		}
		for _, n := range w.Names {
			if n.List == "cap_drop" {
				continue
			}
			if cp, err := capset.Parse(strings.TrimPrefix(strings.ToUpper(n.Text), "CAP_")); err == nil && !c.HeldSet().Has(cp) {
				c.Asked = c.Asked.With(cp)
			}
		}
		for _, f := range byWorkload[i] {
			c.Findings = append(c.Findings, Finding{Rule: f.Rule, Severity: f.Severity, Title: f.Title,
				At: at(f.File, f.Line, f.Column), Message: f.Message, Fix: f.Fix, Uncertain: f.Uncertain})
		}
		c.Notes = append(c.Notes, w.Notes...)
		b.containers = append(b.containers, c)
	}
	if doc.Cluster != nil {
		b.addCluster(doc.Cluster, first)
	}
	for _, e := range doc.Errors {
		msg := fmt.Sprintf("%s: %s", at(e.File, e.Line, e.Column), e.Message)
		if e.Warning {
			b.warn(msg)
		} else {
			b.errors = append(b.errors, msg)
		}
	}
}

// addCluster adds what an audit of a live cluster says besides its
// workloads: the nodes, the resources it could not read, and the running
// containers that differ from their controller's template (a finding of
// the Pod's row). The cluster's containers are b.containers[first:].
func (b *Builder) addCluster(cl *report.Cluster, first int) {
	for _, n := range cl.Nodes {
		rt := cmp.Or(string(n.Runtime), "a runtime capdrop does not model")
		b.Input("node %s: %s (%s rules)", n.Name, n.RuntimeVersion, rt)
	}
	for _, sk := range cl.Skipped {
		what := sk.Resource
		if sk.Namespace != "" {
			what += " in " + sk.Namespace
		}
		b.warn(fmt.Sprintf("cluster %s: not read: %s: %s", cl.Server, what, sk.Reason))
	}
	if len(cl.Differences) == 0 {
		return
	}
	pods := map[string]*Container{}
	for _, c := range b.containers[first:] {
		if c.Kube != nil && c.Kube.Pod != "" {
			pods[c.Group.Namespace+"/"+c.Kube.Pod+"/"+c.Kube.Container] = c
		}
	}
	for _, d := range cl.Differences {
		f := Finding{Rule: "live:differs-from-template", At: cluster.Location(d.Namespace, "Pod", d.Pod),
			Message: fmt.Sprintf("differs from %s's template: %s", d.Controller, strings.Join(d.Fields, "; "))}
		if c := pods[d.Namespace+"/"+d.Pod+"/"+d.Container]; c != nil {
			c.Findings = append(c.Findings, f)
		} else {
			b.warn(fmt.Sprintf("pod %s/%s container %s %s", d.Namespace, d.Pod, d.Container, f.Message))
		}
	}
}

// auditWorkload names the object a configured container belongs to: the
// Kubernetes object, else the compose file or script it is written in.
func auditWorkload(w report.AuditWorkload) string {
	if o := w.Attrs["object"]; o != "" {
		return o
	}
	return w.File
}

// AddProfile adds a profile; Build matches it to a container. from names
// the document (its file name).
func (b *Builder) AddProfile(p *profile.Profile, from string) {
	b.profiles = append(b.profiles, attached[*profile.Profile]{p, from})
}

// AddClusterProfiles adds the per-workload profiles of a cluster; Build
// matches each to the containers of its workload (namespace, top
// controller, container name and type), template and Pods alike.
func (b *Builder) AddClusterProfiles(doc *clusterprofile.Document, from string) {
	for i := range doc.Profiles {
		b.kube = append(b.kube, attached[*clusterprofile.Profile]{&doc.Profiles[i], from})
	}
}

// AddVerify adds a verify result; Build matches it to a container.
func (b *Builder) AddVerify(r *verify.Result, from string) {
	b.proofs = append(b.proofs, attached[*verify.Result]{r, from})
}

// AddClusterVerify adds a k8s verify result; Build matches it to the
// containers of its workload (namespace, controller, container name and
// type), template and Pods alike.
func (b *Builder) AddClusterVerify(r *shadow.Result, from string) {
	b.shadows = append(b.shadows, attached[*shadow.Result]{r, from})
}

// BeforeAudit records the state before a change from an audit document:
// Build compares each audited container's bounding set with its own before
// it (matched by file, kind and name).
func (b *Builder) BeforeAudit(doc report.AuditDoc) {
	b.hasBefore = true
	for _, w := range doc.Workloads {
		b.before = append(b.before, beforeEntry{file: w.File, kind: string(w.Kind), name: w.Name,
			bounding: parseNames(w.Sets.Bounding)})
	}
}

// BeforePS records the state before a change from a live host's
// containers (matched by name).
func (b *Builder) BeforePS(docs []report.PSContainer) {
	b.hasBefore = true
	for _, d := range docs {
		var bnd capset.Set
		if d.Sets != nil {
			bnd = parseNames(d.Sets.Bounding)
		}
		b.before = append(b.before, beforeEntry{kind: d.Runtime + " container", name: d.Name, bounding: bnd})
	}
}

// Build matches profiles and verify results to containers, compares with
// the state before a change, orders rows and columns, and returns the
// fleet.
func (b *Builder) Build(title string, generated time.Time) *Fleet {
	f := &Fleet{Title: title, Generated: generated, Inputs: b.inputs, Errors: b.errors, Warnings: b.warnings}
	for _, p := range b.profiles {
		t := p.doc.Target
		cs, how := b.match(key{id: t.ContainerID, name: t.ContainerName, image: t.Image, from: p.from})
		if len(cs) == 0 {
			// profile --docker names its own throwaway container: the
			// document's name says more.
			name := firstOf(stem(p.from), t.Image, t.ContainerName)
			if t.Kind == "container" {
				name = firstOf(t.ContainerName, name)
			}
			c := b.standalone(name, t.Image, p.from)
			cs, how = []*Container{c}, ""
			if len(b.containers) > 1 {
				f.Warnings = append(f.Warnings, fmt.Sprintf("%s matched no container: shown on a row of its own", p.from))
			}
		}
		for _, c := range cs {
			addUsage(c, p.doc, p.from)
			if how != "" {
				c.Notes = append(c.Notes, fmt.Sprintf("%s matched by %s", p.from, how))
			}
		}
	}
	for _, p := range b.kube {
		w := p.doc.Workload
		ctl := w.Kind + "/" + w.Name
		init := w.ContainerType != "" && w.ContainerType != "container"
		cs := b.byWorkload()[w.Namespace+"\x00"+ctl+"\x00"+w.Container]
		cs = slices.DeleteFunc(slices.Clone(cs), func(c *Container) bool { return c.Kube.Init != init })
		if len(cs) == 0 {
			c := b.standalone(w.String(), firstImage(p.doc), p.from)
			c.Group = Group{Namespace: w.Namespace, Workload: ctl}
			c.Kube = &Kube{Controller: ctl, Container: w.Container, Init: init}
			cs = []*Container{c}
			if len(b.containers) > 1 {
				f.Warnings = append(f.Warnings, fmt.Sprintf("%s: the profile of %s matched no container of the cluster: shown on a row of its own", p.from, w))
			}
		}
		for _, c := range cs {
			addClusterUsage(c, p.doc, p.from)
		}
	}
	for _, v := range b.proofs {
		k := key{from: v.from}
		if t := v.doc.Target; t != nil {
			k.image = t.Image
			if t.Kind == "compose" {
				k.service, k.file = composeSource(t.Source)
			}
		}
		cs, how := b.match(k)
		if len(cs) == 0 {
			img := ""
			if v.doc.Target != nil {
				img = v.doc.Target.Image
			}
			c := b.standalone(firstOf(k.service, img, stem(v.from)), img, v.from)
			cs, how = []*Container{c}, ""
			if len(b.containers) > 1 {
				f.Warnings = append(f.Warnings, fmt.Sprintf("%s matched no container: shown on a row of its own", v.from))
			}
		}
		for _, c := range cs {
			c.Proof = proofOf(v.doc, v.from)
			if how != "" {
				c.Notes = append(c.Notes, fmt.Sprintf("%s matched by %s", v.from, how))
			}
		}
	}
	for _, v := range b.shadows {
		t := v.doc.Target
		ctl := t.Kind + "/" + t.Name
		init := t.ContainerKind != "" && t.ContainerKind != "container"
		cs := slices.DeleteFunc(slices.Clone(b.byWorkload()[t.Namespace+"\x00"+ctl+"\x00"+t.Container]),
			func(c *Container) bool { return c.Kube.Init != init })
		if len(cs) == 0 {
			c := b.standalone(t.String(), t.Image, v.from)
			c.Group = Group{Namespace: t.Namespace, Workload: ctl}
			c.Kube = &Kube{Controller: ctl, Container: t.Container, Init: init}
			cs = []*Container{c}
			if len(b.containers) > 1 {
				f.Warnings = append(f.Warnings, fmt.Sprintf("%s: the k8s verify result of %s matched no container of the cluster: shown on a row of its own", v.from, t))
			}
		}
		r := v.doc
		for _, c := range cs {
			c.Proof = &Proof{From: v.from, Set: parseNames(r.Set), Passed: r.Passed, Minimized: r.Minimized, OneMinimal: r.OneMinimal,
				Start: parseNames(r.Start), Removed: parseNames(r.Removed), Runs: len(r.Runs), Message: r.Message}
		}
	}
	if b.hasBefore {
		b.compare(f)
	}
	f.Containers = b.containers
	f.finish()
	return f
}

// compare sets each container's Before from the recorded earlier state.
func (b *Builder) compare(f *Fleet) {
	exact := map[string][]int{}
	loose := map[string][]int{}
	for i, e := range b.before {
		exact[e.file+"\x00"+e.kind+"\x00"+e.name] = append(exact[e.file+"\x00"+e.kind+"\x00"+e.name], i)
		loose[e.kind+"\x00"+e.name] = append(loose[e.kind+"\x00"+e.name], i)
	}
	unmatched := 0
	for _, c := range b.containers {
		if c.Kind == "profile" {
			continue
		}
		ids := exact[c.Group.File+"\x00"+c.Kind+"\x00"+c.Name]
		if len(ids) != 1 {
			ids = loose[c.Kind+"\x00"+c.Name]
		}
		if len(ids) != 1 {
			unmatched++
			c.Notes = append(c.Notes, "not in the earlier state compared with")
			continue
		}
		bnd := b.before[ids[0]].bounding
		c.Before = &bnd
	}
	if unmatched > 0 {
		f.Warnings = append(f.Warnings, fmt.Sprintf("%d containers have no match in the earlier state", unmatched))
	}
}

// key is what a profile or verify result says about the container it
// describes.
type key struct {
	id, name, image string
	service, file   string // a compose service
	from            string // the document's file name
}

// match finds the containers a document describes, trying the most
// precise clue first: the container ID, its name, a compose service, the
// document's file name, and last the image (only when one container runs
// it). It returns the matches and how they were found.
func (b *Builder) match(k key) ([]*Container, string) {
	find := func(ok func(*Container) bool) []*Container {
		var out []*Container
		for _, c := range b.containers {
			if c.Kind != "profile" && ok(c) {
				out = append(out, c)
			}
		}
		return out
	}
	if k.id != "" {
		if cs := find(func(c *Container) bool { return c.ID != "" && c.ID == k.id }); len(cs) > 0 {
			return cs, "container ID"
		}
	}
	if k.name != "" {
		if cs := find(func(c *Container) bool { return nameIs(c, k.name) }); len(cs) > 0 {
			return cs, "container name"
		}
	}
	if k.service != "" {
		cs := find(func(c *Container) bool {
			return c.Kind == string(workload.ComposeService) && c.Name == k.service &&
				(k.file == "" || filepath.Clean(c.Group.File) == filepath.Clean(k.file))
		})
		if len(cs) > 0 {
			return cs, "compose service"
		}
	}
	if s := stem(k.from); s != "" {
		if cs := find(func(c *Container) bool { return nameIs(c, s) }); len(cs) > 0 {
			return cs, "file name"
		}
	}
	if k.image != "" {
		if cs := find(func(c *Container) bool { return sameImage(c.Image, k.image) }); len(cs) == 1 {
			return cs, "image"
		}
	}
	return nil, ""
}

// sameImage reports whether two references name the same image: equal
// once Docker Hub's implied "docker.io/library/" and ":latest" are taken
// off.
func sameImage(a, b string) bool {
	norm := func(s string) string {
		s = strings.TrimPrefix(strings.TrimPrefix(s, "docker.io/"), "library/")
		if i := strings.LastIndexByte(s, ':'); i < 0 || strings.Contains(s[i:], "/") {
			s += ":latest"
		}
		return s
	}
	return a != "" && norm(a) == norm(b)
}

// nameIs reports whether a container goes by name: its own name, or the
// last element of a Kubernetes "Deployment/web/app" path.
func nameIs(c *Container, name string) bool {
	if c.Name == name {
		return true
	}
	if i := strings.LastIndexByte(c.Name, '/'); i >= 0 && c.Name[i+1:] == name {
		return true
	}
	return false
}

// standalone adds a row for a profiled workload nothing else showed.
func (b *Builder) standalone(name, image, from string) *Container {
	for _, c := range b.containers {
		if c.Kind == "profile" && c.Name == name {
			return c
		}
	}
	c := &Container{Name: name, Image: image, Kind: "profile", Group: Group{File: from, Workload: name}}
	b.containers = append(b.containers, c)
	return c
}

// composeSource reads verify's "service NAME in FILE".
func composeSource(s string) (service, file string) {
	rest, ok := strings.CutPrefix(s, "service ")
	if !ok {
		return "", ""
	}
	service, file, _ = strings.Cut(rest, " in ")
	return service, file
}

// stem is a document's file name without directories, extension and a
// "profile"/"verify" suffix: "web" for "out/web.profile.json".
func stem(from string) string {
	s := filepath.Base(from)
	s = strings.TrimSuffix(s, filepath.Ext(s))
	for _, suf := range []string{".profile", "-profile", "_profile", ".verify", "-verify", "_verify"} {
		s = strings.TrimSuffix(s, suf)
	}
	if s == "." || s == "profile" || s == "verify" {
		return ""
	}
	return s
}

func addUsage(c *Container, p *profile.Profile, from string) {
	u := usageOf(c, from)
	u.Needed |= parseNames(p.Needed)
	u.Denied |= parseNames(p.Denied)
	noiseGranted := map[string]uint64{}
	noiseReasons := map[string][]string{}
	for _, n := range p.Noise {
		noiseGranted[n.Capability] += n.Granted
		noiseReasons[n.Capability] = append(noiseReasons[n.Capability], n.Reason)
	}
	// The profiler's own classes: a use programs commonly survive losing
	// is used but not proven needed, with its reason.
	unproven := map[string][]string{}
	for _, x := range p.UsedNotProven {
		why := x.Reason
		if text := profile.Tolerated[x.Reason]; text != "" {
			why += ": " + text
		}
		unproven[x.Capability] = append(unproven[x.Capability], why)
	}
	kept := map[string][]string{}
	for _, k := range p.Kept {
		for _, name := range k.Capabilities {
			kept[name] = append(kept[name], fmt.Sprintf("kept by %s ×%d (%s)", k.Source, k.Count, strings.Join(k.Commands, ", ")))
		}
	}
	for name, ch := range p.Checks {
		cp, err := capset.Parse(name)
		if err != nil || ch == nil {
			continue
		}
		ev := Evidence{Cap: cp, Granted: ch.Granted, Denied: ch.Denied, Commands: ch.Commands, Noise: noiseReasons[name]}
		for _, s := range ch.Syscalls {
			ev.Syscalls = append(ev.Syscalls, SyscallCount{Syscall: s.Syscall, Granted: s.Granted, Denied: s.Denied})
		}
		switch {
		case ch.Needed || u.Needed.Has(cp):
			ev.Class = "needed"
			ev.Reasons = kept[name]
			u.Used = u.Used.With(cp)
		case unproven[name] != nil:
			ev.Class = "used"
			ev.Reasons = unproven[name]
			u.Unproven = u.Unproven.With(cp)
		case p.UsedNotProven == nil && ch.Granted > noiseGranted[name]:
			// A profile written before the used-not-proven class: granted
			// checks that are neither needs nor noise are used, not
			// proven needed.
			ev.Class = "used"
			u.Unproven = u.Unproven.With(cp)
		case ch.Granted > 0:
			ev.Class = "noise"
		default:
			ev.Class = "denied"
		}
		u.Evidence = mergeEvidence(u.Evidence, ev)
	}
	// Needs without a check of their own (kept across a uid switch by
	// capset, gained by an exec) and uses the checks do not list.
	for _, name := range slices.Sorted(maps.Keys(kept)) {
		if cp, err := capset.Parse(name); err == nil && p.Checks[name] == nil {
			u.Evidence = mergeEvidence(u.Evidence, Evidence{Cap: cp, Class: "needed", Reasons: kept[name]})
		}
	}
	for _, x := range p.UsedNotProven {
		if cp, err := capset.Parse(x.Capability); err == nil && p.Checks[x.Capability] == nil {
			u.Unproven = u.Unproven.With(cp)
			u.Evidence = mergeEvidence(u.Evidence, Evidence{Cap: cp, Class: "used", Granted: x.Granted,
				Commands: x.Commands, Reasons: unproven[x.Capability]})
		}
	}
	u.Unproven &^= u.Needed
	u.Used |= u.Needed | u.Unproven
	u.Warnings = append(u.Warnings, p.Warnings...)
}

// addClusterUsage adds what a cluster profile saw a workload container
// do, over every Pod and node.
func addClusterUsage(c *Container, p *clusterprofile.Profile, from string) {
	u := usageOf(c, fmt.Sprintf("%s (%s)", from, p.Workload))
	u.Needed |= p.NeededSet()
	u.Unproven |= p.UsedSet()
	u.Denied |= parseNames(p.Denied)
	for _, x := range p.Capabilities {
		cp, err := capset.Parse(x.Capability)
		if err != nil {
			continue
		}
		ev := Evidence{Cap: cp, Granted: x.Granted, Denied: x.Denied, Pods: x.Pods, Nodes: x.Nodes}
		explain := func(m map[string]string) []string {
			var out []string
			for _, r := range x.Reasons {
				if t := m[r]; t != "" {
					r += ": " + t
				}
				out = append(out, r)
			}
			return out
		}
		switch x.Class {
		case clusterprofile.ClassNeeded:
			ev.Class = "needed"
		case clusterprofile.ClassUsed:
			ev.Class = "used"
			ev.Reasons = explain(profile.Tolerated)
		case clusterprofile.ClassNoise:
			ev.Class = "noise"
			ev.Noise = x.Reasons
		default:
			ev.Class = "denied"
		}
		if e := x.Evidence; e != nil {
			if e.Syscall != "" {
				ev.Syscalls = []SyscallCount{{Syscall: e.Syscall, Granted: e.Count}}
				if x.Class == clusterprofile.ClassDenied {
					ev.Syscalls[0] = SyscallCount{Syscall: e.Syscall, Denied: e.Count}
				}
			}
			if e.Command != "" {
				ev.Commands = []string{e.Command}
			}
			if e.Source != "" && e.Source != "check" {
				ev.Reasons = append(ev.Reasons, fmt.Sprintf("kept by %s ×%d", e.Source, e.Count))
			}
		}
		u.Evidence = mergeEvidence(u.Evidence, ev)
	}
	u.Unproven &^= u.Needed
	u.Used |= u.Needed | u.Unproven
	if !p.Complete {
		u.Partial = true
		for _, r := range p.Partial {
			text := cmp.Or(clusterprofile.Reasons[r.Reason], r.Reason)
			if r.Detail != "" {
				text += " (" + r.Detail + ")"
			}
			u.Warnings = append(u.Warnings, fmt.Sprintf("partial profile of %s: %s", p.Workload, text))
		}
		if len(p.Partial) == 0 {
			u.Warnings = append(u.Warnings, fmt.Sprintf("partial profile of %s", p.Workload))
		}
	}
	u.Warnings = append(u.Warnings, p.Warnings...)
}

// byWorkload indexes the cluster's containers by namespace, top
// controller and container name (made once, when first asked for).
func (b *Builder) byWorkload() map[string][]*Container {
	if b.kubeIndex == nil {
		b.kubeIndex = map[string][]*Container{}
		for _, c := range b.containers {
			if c.Kube != nil && c.Kind != "profile" {
				k := c.Group.Namespace + "\x00" + c.Kube.Controller + "\x00" + c.Kube.Container
				b.kubeIndex[k] = append(b.kubeIndex[k], c)
			}
		}
	}
	return b.kubeIndex
}

func firstImage(p *clusterprofile.Profile) string {
	if len(p.Images) > 0 {
		return p.Images[0].Image
	}
	return ""
}

// usageOf returns the container's usage, made on first use, recording the
// document it comes from.
func usageOf(c *Container, from string) *Usage {
	if c.Usage == nil {
		c.Usage = &Usage{}
	}
	c.Usage.From = append(c.Usage.From, from)
	return c.Usage
}

// mergeEvidence adds ev to the list, summing counts with an entry of the
// same capability (several profiles of one container), keeping the list
// in capability order.
func mergeEvidence(list []Evidence, ev Evidence) []Evidence {
	for i := range list {
		if list[i].Cap == ev.Cap {
			e := &list[i]
			e.Granted += ev.Granted
			e.Denied += ev.Denied
			e.Syscalls = append(e.Syscalls, ev.Syscalls...)
			e.Pods += ev.Pods
			for _, r := range ev.Reasons {
				if !contains(e.Reasons, r) {
					e.Reasons = append(e.Reasons, r)
				}
			}
			for _, n := range ev.Nodes {
				if !contains(e.Nodes, n) {
					e.Nodes = append(e.Nodes, n)
				}
			}
			for _, c := range ev.Commands {
				if !contains(e.Commands, c) {
					e.Commands = append(e.Commands, c)
				}
			}
			if rank(ev.Class) > rank(e.Class) {
				e.Class = ev.Class
			}
			return list
		}
	}
	i := 0
	for i < len(list) && list[i].Cap < ev.Cap {
		i++
	}
	list = append(list, Evidence{})
	copy(list[i+1:], list[i:])
	list[i] = ev
	return list
}

func rank(class string) int {
	switch class {
	case "needed":
		return 3
	case "used":
		return 2
	case "noise":
		return 1
	}
	return 0
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func proofOf(r *verify.Result, from string) *Proof {
	p := &Proof{From: from, Set: parseNames(r.Set), Passed: r.Passed, Minimized: r.Minimized, OneMinimal: r.OneMinimal,
		Start: parseNames(r.Start), Removed: parseNames(r.Removed), Runs: len(r.Runs), Message: r.Message}
	return p
}

// configured is what a live configuration asks for explicitly.
func configured(add []string, privileged bool) capset.Set {
	if privileged {
		return capset.Known
	}
	var s capset.Set
	for _, w := range add {
		if capset.IsAll(w) {
			return capset.Known
		}
		if cp, err := capset.Parse(w); err == nil {
			s = s.With(cp)
		}
	}
	return s
}

func parseNames(names []string) capset.Set {
	var s capset.Set
	for _, n := range names {
		if cp, err := capset.Parse(n); err == nil {
			s = s.With(cp)
		}
	}
	return s
}

func parseSets(n capset.SetNames) capset.Sets {
	return capset.Sets{Effective: parseNames(n.Effective), Permitted: parseNames(n.Permitted),
		Inheritable: parseNames(n.Inheritable), Bounding: parseNames(n.Bounding), Ambient: parseNames(n.Ambient)}
}

func at(file string, line, col int) string {
	return workload.Position{File: file, Line: line, Col: col}.String()
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func firstOf(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return "unnamed"
}
