package collect

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/capdrop/capdrop/agent"
	"github.com/capdrop/capdrop/cluster"
	"github.com/capdrop/capdrop/clusterprofile"
)

// The continuous mode keeps one ConfigMap per workload container, in the
// workload's namespace, owned by the workload (deleted with it by the
// garbage collector), labelled LabelProfile, holding the container's
// profile (a clusterprofile.Profile, JSON) under DataKey.
const (
	LabelProfile = "capdrop.io/profile"
	DataKey      = "profile.json"
	// AnnotationWorkload holds the workload container's name
	// (namespace/Kind/name/container), which the object's name may have
	// to shorten.
	AnnotationWorkload = "capdrop.io/workload"
)

// ConfigMaps is the ConfigMap resource.
var ConfigMaps = kinds["v1/ConfigMap"]

var notDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// ObjectName is the name of a workload container's ConfigMap:
// capdrop-profile-KIND-NAME-CONTAINER (init- or sidecar- before the
// container of those types), lower-case, shortened with a hash of the
// whole when longer than a name may be.
func ObjectName(w clusterprofile.Workload) string {
	c := w.Container
	if w.ContainerType != "" && w.ContainerType != agent.TypeContainer {
		c = w.ContainerType + "-" + c
	}
	n := notDNS.ReplaceAllString(strings.ToLower("capdrop-profile-"+w.Kind+"-"+w.Name+"-"+c), "-")
	if len(n) <= 253 && n == strings.Trim(n, "-") {
		return n
	}
	h := sha256.Sum256([]byte(w.String()))
	return strings.Trim(n[:min(len(n), 200)], "-") + "-" + hex.EncodeToString(h[:])[:10]
}

// Continuous keeps the workload containers' profiles in the cluster: each
// pass reads every agent, aggregates, and folds each profile into its
// ConfigMap (clusterprofile.Merge, so that nothing is lost when the
// agents forget), or replaces it when the container's fingerprint changed
// (a rollout to a new image, command, arguments or environment starts a
// new profile).
type Continuous struct {
	API   API
	Top   TopFunc
	Agent AgentSet
	// Namespace limits the profiles kept to one namespace ("" for all).
	Namespace string
	MinWindow time.Duration
	Cluster   string
	Log       func(format string, args ...any)
	// since is when the first pass started: containers no Pod named
	// make the profiles partial if seen since (before it, nothing here
	// was kept).
	since time.Time
}

// Pass is what one pass did.
type Pass struct {
	// Written are the ConfigMaps written (namespace/name), Merged those
	// of them that held the same profile before.
	Written, Merged []string
	// Skipped say which profiles were not kept, and why.
	Skipped []string
	// Nodes are the nodes whose agents answered; Failed why others did
	// not.
	Nodes  []string
	Failed map[string]string
}

// Once makes one pass.
func (c *Continuous) Once(ctx context.Context) (*Pass, error) {
	log := c.Log
	if log == nil {
		log = func(string, ...any) {}
	}
	if c.since.IsZero() {
		c.since = time.Now()
	}
	got, failed, err := ReadAgents(ctx, c.API, c.Agent)
	if err != nil {
		return nil, err
	}
	pass := &Pass{Failed: failed}
	if len(got) == 0 {
		return pass, fmt.Errorf("no agent answered (%s in %s): %v", c.Agent.Selector, c.Agent.Namespace, failed)
	}
	now := time.Now()
	in := clusterprofile.Input{Unreachable: failed, MinWindow: cmp.Or(c.MinWindow, DefaultMinWindow),
		Source: "continuous", Cluster: c.Cluster, Generated: now, UnnamedSince: c.since,
		Top: func(ns, pod string, owner *agent.OwnerRef) (agent.OwnerRef, error) {
			if c.Top == nil {
				return *owner, nil
			}
			return c.Top(ctx, ns, *owner)
		},
		Keep: func(w clusterprofile.Workload) bool { return c.Namespace == "" || w.Namespace == c.Namespace },
	}
	start := now
	for _, n := range sortedKeys(got) {
		r := got[n]
		in.Reports = append(in.Reports, r)
		pass.Nodes = append(pass.Nodes, n)
		if r.TracingSince.Before(start) {
			start = r.TracingSince
		}
	}
	in.Window = clusterprofile.NewWindow(start, now)
	doc := clusterprofile.Aggregate(in)
	// One object per workload container: of several fingerprints, the
	// one seen last (the newest rollout).
	latest := map[string]*clusterprofile.Profile{}
	for i := range doc.Profiles {
		p := &doc.Profiles[i]
		k := p.Workload.String()
		if l := latest[k]; l == nil || p.FirstSeen.After(l.FirstSeen) {
			latest[k] = p
		}
	}
	for _, k := range sortedKeys(latest) {
		p := latest[k]
		if p.Workload.UID == "" {
			pass.Skipped = append(pass.Skipped, k+": its controller's UID is not known, so nothing could own its object")
			continue
		}
		merged, err := c.keep(ctx, *p, in.MinWindow)
		if err != nil {
			pass.Skipped = append(pass.Skipped, k+": "+err.Error())
			log("warning: %s: %v", k, err)
			continue
		}
		name := p.Workload.Namespace + "/" + ObjectName(p.Workload)
		pass.Written = append(pass.Written, name)
		if merged {
			pass.Merged = append(pass.Merged, name)
		}
	}
	return pass, nil
}

// keep writes a profile into its workload container's ConfigMap, merged
// with the profile there when it is of the same fingerprint.
func (c *Continuous) keep(ctx context.Context, p clusterprofile.Profile, minWindow time.Duration) (merged bool, err error) {
	ns, name := p.Workload.Namespace, ObjectName(p.Workload)
	data, err := c.API.Get(ctx, ConfigMaps, ns, name)
	exists := err == nil
	if err != nil && !errors.Is(err, cluster.ErrNotFound) {
		return false, keepErr("get", ns, err)
	}
	if exists {
		var m struct {
			Metadata struct {
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
		}
		if json.Unmarshal(data, &m) != nil || m.Metadata.Labels[LabelProfile] == "" {
			return false, fmt.Errorf("ConfigMap %s/%s exists without the label %s: not capdrop's, left alone", ns, name, LabelProfile)
		}
		old, err := storedProfile(data)
		switch {
		case err != nil:
			// Not one capdrop can read (an older format, edited by hand):
			// replaced by what the agents say now.
		case old.Workload.String() == p.Workload.String() && old.Fingerprint == p.Fingerprint:
			if p, err = clusterprofile.Merge(old, p, minWindow); err != nil {
				return false, err
			}
			merged = true
		}
	}
	js, err := json.Marshal(p)
	if err != nil {
		return false, err
	}
	w := p.Workload
	obj := map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{
			"name": name, "namespace": ns,
			"labels":      map[string]string{LabelProfile: "1", "app.kubernetes.io/managed-by": "capdrop"},
			"annotations": map[string]string{AnnotationWorkload: w.String()},
			"ownerReferences": []map[string]any{{"apiVersion": w.APIVersion, "kind": w.Kind, "name": w.Name, "uid": w.UID,
				"controller": false, "blockOwnerDeletion": false}},
		},
		"data": map[string]string{DataKey: string(js)},
	}
	body, err := json.Marshal(obj)
	if err != nil {
		return false, err
	}
	wo := cluster.WriteOptions{FieldManager: "capdrop"}
	if exists {
		if _, err = c.API.Patch(ctx, ConfigMaps, ns, name, body, wo); err != nil {
			return merged, keepErr("patch", ns, err)
		}
		return merged, nil
	}
	if _, err = c.API.Create(ctx, ConfigMaps, ns, body, wo); err != nil {
		return merged, keepErr("create", ns, err)
	}
	return merged, nil
}

// keepErr says which verb on the profile's ConfigMap failed, and, when the
// API server refused it, that capdrop-profile-keep grants it.
func keepErr(verb, ns string, err error) error {
	if cluster.IsForbidden(err) {
		return fmt.Errorf("not kept: %s on ConfigMaps is forbidden in %s (capdrop-profile-keep grants get, create and patch on them): %w", verb, ns, err)
	}
	return fmt.Errorf("not kept (%s): %w", verb, err)
}

func storedProfile(data []byte) (clusterprofile.Profile, error) {
	var cm struct {
		Data map[string]string `json:"data"`
	}
	var p clusterprofile.Profile
	if err := json.Unmarshal(data, &cm); err != nil {
		return p, err
	}
	s, ok := cm.Data[DataKey]
	if !ok {
		return p, fmt.Errorf("no %s", DataKey)
	}
	err := json.Unmarshal([]byte(s), &p)
	return p, err
}

// Run makes a pass every interval until ctx ends (or, with a positive
// duration, until it has passed).
func (c *Continuous) Run(ctx context.Context, interval, duration time.Duration) error {
	log := c.Log
	if log == nil {
		log = func(string, ...any) {}
	}
	var end <-chan time.Time
	if duration > 0 {
		t := time.NewTimer(duration)
		defer t.Stop()
		end = t.C
	}
	for {
		pass, err := c.Once(ctx)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			log("warning: %v", err)
		default:
			log("%d agents read, %d profiles kept (%d merged)%s", len(pass.Nodes), len(pass.Written), len(pass.Merged), failures(pass.Failed))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-end:
			return nil
		case <-time.After(interval):
		}
	}
}

func failures(f map[string]string) string {
	if len(f) == 0 {
		return ""
	}
	var s []string
	for _, n := range sortedKeys(f) {
		s = append(s, n+": "+f[n])
	}
	return "; not read: " + strings.Join(s, "; ")
}

// Stored reads the profiles the continuous mode keeps, in namespace (""
// for all), as one Document (source "continuous"). An object that cannot
// be read is named in the Document's warnings.
func Stored(ctx context.Context, api API, namespace, host string) (*clusterprofile.Document, error) {
	doc := &clusterprofile.Document{Version: clusterprofile.Version, Kind: clusterprofile.Kind, Source: "continuous",
		Generated: time.Now().UTC().Truncate(time.Millisecond), Cluster: host,
		Nodes: []clusterprofile.Node{}, Profiles: []clusterprofile.Profile{}, Excluded: []clusterprofile.ExcludedContainer{}, Warnings: []string{}}
	err := api.List(ctx, ConfigMaps, namespace, LabelProfile, func(item json.RawMessage) error {
		var m struct {
			Metadata struct{ Name, Namespace string } `json:"metadata"`
		}
		_ = json.Unmarshal(item, &m)
		p, err := storedProfile(item)
		if err != nil {
			doc.Warnings = append(doc.Warnings, fmt.Sprintf("ConfigMap %s/%s: %v", m.Metadata.Namespace, m.Metadata.Name, err))
			return nil
		}
		doc.Profiles = append(doc.Profiles, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(doc.Profiles, func(i, j int) bool { return doc.Profiles[i].Workload.String() < doc.Profiles[j].Workload.String() })
	for _, p := range doc.Profiles {
		if doc.Window.Start.IsZero() || p.FirstSeen.Before(doc.Window.Start) {
			doc.Window.Start = p.FirstSeen
		}
		if p.LastSeen.After(doc.Window.End) {
			doc.Window.End = p.LastSeen
		}
	}
	if !doc.Window.Start.IsZero() {
		doc.Window = clusterprofile.NewWindow(doc.Window.Start, doc.Window.End)
	}
	return doc, nil
}
