// Package oci reads the JSON that runtimes and engines write: an OCI
// runtime bundle's config.json (whose process.capabilities are the five
// sets, stated outright; namespaces, mounts, devices, seccomp and masked
// paths for host access) and `docker inspect` / `podman inspect` output
// for containers (HostConfig.CapAdd, CapDrop, Privileged, SecurityOpt,
// Config.User; the namespace modes, Binds, Mounts and Devices) and for
// images (the RUN/INSTALL/UNINSTALL and io.containers.capabilities labels,
// Config.User).
package oci

import (
	"fmt"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/capdrop/capdrop/source/internal/tree"
	"github.com/capdrop/capdrop/source/runargs"
	"github.com/capdrop/capdrop/source/textpos"
	"github.com/capdrop/capdrop/workload"
)

// IsConfig reports whether a JSON document is an OCI runtime config.
func IsConfig(root *yaml.Node) bool {
	w := tree.NewWalker(0)
	_, ok := tree.Scalar(w.Get(root, "ociVersion"))
	return ok && tree.IsMap(w.Get(root, "process"))
}

// IsInspect reports whether a JSON document is inspect output: an array of
// objects (or one object) with an Id and a Config or HostConfig.
func IsInspect(root *yaml.Node) bool {
	w := tree.NewWalker(0)
	items := []*yaml.Node{root}
	if tree.IsSeq(root) {
		items = w.Items(root)
	}
	if len(items) == 0 {
		return false
	}
	for _, it := range items {
		_, id := tree.Scalar(w.Get(it, "Id"))
		if !id || (w.Get(it, "Config") == nil && w.Get(it, "HostConfig") == nil) {
			return false
		}
	}
	return true
}

// Parse reads a JSON file holding an OCI config or inspect output; other
// JSON yields nothing.
func Parse(file string, data []byte) ([]workload.Workload, []*workload.Error) {
	docs, err := tree.ParseJSON(file, data)
	var errs []*workload.Error
	if err != nil {
		errs = append(errs, err)
	}
	ws, more := FromDocs(file, data, docs)
	return ws, append(errs, more...)
}

// FromDocs reads parsed JSON documents of data, the content of file.
func FromDocs(file string, data []byte, docs []tree.Doc) ([]workload.Workload, []*workload.Error) {
	r := &reader{file: file, data: data, idx: textpos.New(file, data)}
	for _, d := range docs {
		r.w = tree.WalkerFor(d)
		switch {
		case IsConfig(d.Root):
			r.config(d.Root)
		case IsInspect(d.Root):
			items := []*yaml.Node{d.Root}
			if tree.IsSeq(d.Root) {
				items = r.w.Items(d.Root)
			}
			for _, it := range items {
				if r.w.Get(it, "HostConfig") != nil {
					r.container(it)
				} else {
					r.image(it)
				}
			}
		}
	}
	return r.out, r.errs
}

type reader struct {
	file string
	data []byte
	idx  *textpos.Index
	w    *tree.Walker
	out  []workload.Workload
	errs []*workload.Error
}

func (r *reader) pos(n *yaml.Node) workload.Position {
	return workload.Position{File: r.file, Line: n.Line, Col: n.Column}
}

func (r *reader) ptr(n *yaml.Node) *workload.Position {
	p := r.pos(n)
	return &p
}

func (r *reader) errorf(n *yaml.Node, format string, args ...any) {
	r.errs = append(r.errs, &workload.Error{Pos: r.pos(n), Err: fmt.Errorf(format, args...)})
}

func (r *reader) words(n *yaml.Node, what string) []workload.Word {
	out := []workload.Word{}
	if n == nil || n.Tag == "!!null" {
		return out
	}
	if !tree.IsSeq(n) {
		r.errorf(n, "%s must be a list", what)
		return out
	}
	for _, it := range r.w.Items(n) {
		s, ok := tree.Scalar(it)
		if !ok || it.Tag != "!!str" {
			r.errorf(it, "%s items must be strings", what)
			continue
		}
		out = append(out, workload.Word{Text: s, Pos: r.pos(it)})
	}
	return out
}

func (r *reader) config(root *yaml.Node) {
	w := r.w
	proc := w.Get(root, "process")
	name := filepath.Base(filepath.Dir(r.file))
	if name == "." || name == "/" || name == "" {
		name = "config.json"
	}
	if h, ok := tree.Scalar(w.Get(root, "hostname")); ok && h != "" {
		name = h
	}
	ann := w.Get(root, "annotations")
	if cn, ok := tree.Scalar(w.Get(ann, "io.kubernetes.cri.container-name")); ok {
		name = cn
	}
	wl := workload.Workload{
		Pos: r.pos(root), Kind: workload.OCISpec, Name: name, Runtime: workload.OCI,
		CapAdd: []workload.Word{}, CapDrop: []workload.Word{}, Attrs: map[string]string{},
	}
	if img, ok := tree.Scalar(w.Get(ann, "io.kubernetes.cri.image-name")); ok {
		wl.Image = img
	}
	if p, ok := tree.Scalar(w.Path(root, "root", "path")); ok {
		wl.Attrs["root"] = p
	}
	capsAt := proc
	wl.Explicit = &workload.ExplicitSets{Bounding: []workload.Word{}, Effective: []workload.Word{},
		Permitted: []workload.Word{}, Inheritable: []workload.Word{}, Ambient: []workload.Word{}}
	if caps := w.Get(proc, "capabilities"); caps != nil && caps.Tag != "!!null" {
		if !tree.IsMap(caps) {
			r.errorf(caps, "process.capabilities must be an object")
		} else {
			capsAt = caps
			e := wl.Explicit
			e.Bounding = r.words(w.Get(caps, "bounding"), "process.capabilities.bounding")
			e.Effective = r.words(w.Get(caps, "effective"), "process.capabilities.effective")
			e.Permitted = r.words(w.Get(caps, "permitted"), "process.capabilities.permitted")
			e.Inheritable = r.words(w.Get(caps, "inheritable"), "process.capabilities.inheritable")
			e.Ambient = r.words(w.Get(caps, "ambient"), "process.capabilities.ambient")
		}
	}
	wl.CapsPos = r.ptr(capsAt)
	if uid := w.Path(proc, "user", "uid"); uid != nil {
		if s, ok := tree.Scalar(uid); ok && uid.Tag == "!!int" {
			wl.User, wl.UserPos = s, r.ptr(uid)
		} else {
			r.errorf(uid, "process.user.uid must be an integer")
		}
	}
	if gid, ok := tree.Scalar(w.Path(proc, "user", "gid")); ok {
		wl.Attrs["gid"] = gid
	}
	if n := w.Get(proc, "noNewPrivileges"); n != nil {
		if s, ok := tree.Scalar(n); ok && n.Tag == "!!bool" {
			v := s == "true"
			wl.NoNewPrivs, wl.NoNewPrivsPos = &v, r.ptr(n)
		} else if n.Tag != "!!null" {
			r.errorf(n, "process.noNewPrivileges must be true or false")
		}
	}
	wl.Host = r.configHost(root)
	r.out = append(r.out, wl)
}

func (r *reader) container(c *yaml.Node) {
	w := r.w
	hc := w.Get(c, "HostConfig")
	cfg := w.Get(c, "Config")
	id, _ := tree.Scalar(w.Get(c, "Id"))
	name, _ := tree.Scalar(w.Get(c, "Name"))
	name = strings.TrimPrefix(name, "/")
	if name == "" {
		name = short(id)
	}
	rt := workload.Docker
	if w.Get(c, "OCIRuntime") != nil || w.Get(c, "EffectiveCaps") != nil || w.Get(c, "ConmonPidFile") != nil {
		rt = workload.Podman
	}
	wl := workload.Workload{
		Pos: r.pos(c), Kind: workload.InspectRecord, Name: name, Runtime: rt,
		CapAdd: r.words(w.Get(hc, "CapAdd"), "HostConfig.CapAdd"), CapDrop: r.words(w.Get(hc, "CapDrop"), "HostConfig.CapDrop"),
		Attrs: map[string]string{"id": short(id)},
	}
	if img, ok := tree.Scalar(w.Get(cfg, "Image")); ok {
		wl.Image = img
	}
	if hc != nil {
		wl.CapsPos = r.ptr(hc)
	}
	if n := w.Get(hc, "CapAdd"); n != nil {
		wl.CapsPos = r.ptr(n)
	}
	if n := w.Get(hc, "Privileged"); n != nil {
		if s, ok := tree.Scalar(n); ok && n.Tag == "!!bool" {
			wl.Privileged, wl.PrivilegedPos = s == "true", r.ptr(n)
		} else {
			r.errorf(n, "HostConfig.Privileged must be true or false")
		}
	}
	if n := w.Get(cfg, "User"); n != nil {
		if s, ok := tree.Scalar(n); ok && s != "" {
			wl.User, wl.UserPos = s, r.ptr(n)
		}
	}
	for _, o := range r.words(w.Get(hc, "SecurityOpt"), "HostConfig.SecurityOpt") {
		if on, ok := runargs.NoNewPrivileges(o.Text); ok {
			p := o.Pos
			wl.NoNewPrivs, wl.NoNewPrivsPos = &on, &p
		}
	}
	wl.Host = r.inspectHost(hc)
	for _, k := range []string{"EffectiveCaps", "BoundingCaps"} {
		if ws := r.words(w.Get(c, k), k); len(ws) > 0 {
			wl.Attrs[strings.ToLower(strings.TrimSuffix(k, "Caps"))+"_caps"] = strings.Join(workload.Texts(ws), ",")
		}
	}
	r.out = append(r.out, wl)
}

func short(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// image reads an image record: its RUN labels and capability label.
func (r *reader) image(img *yaml.Node) {
	w := r.w
	cfg := w.Get(img, "Config")
	id, _ := tree.Scalar(w.Get(img, "Id"))
	name := short(id)
	if tags := w.Items(w.Get(img, "RepoTags")); len(tags) > 0 {
		if t, ok := tree.Scalar(tags[0]); ok {
			name = t
		}
	}
	user, _ := tree.Scalar(w.Get(cfg, "User"))
	labels := w.Get(cfg, "Labels")
	var caps []workload.Word
	var capsNode *yaml.Node
	for _, p := range w.Pairs(labels) {
		if p.Key.Value == "io.containers.capabilities" {
			capsNode = p.Value
			if s, ok := tree.Scalar(p.Value); ok {
				for i, part := range strings.Split(s, ",") {
					if t := strings.TrimSpace(part); t != "" {
						caps = append(caps, workload.Word{Text: t, Pos: r.inString(p.Value, s, offsetOfPart(s, i))})
					}
				}
			}
		}
	}
	for _, p := range w.Pairs(labels) {
		key := strings.ToUpper(p.Key.Value)
		if key != "RUN" && key != "INSTALL" && key != "UNINSTALL" {
			continue
		}
		s, ok := tree.Scalar(p.Value)
		if !ok {
			continue
		}
		cmds, err := runargs.ParseLine(s, runargs.Vars{})
		if err != nil || len(cmds) == 0 {
			r.errorf(p.Value, "image %s: label %s is not a docker/podman run command capdrop can read", name, p.Key.Value)
			continue
		}
		c := cmds[0]
		c.Remap(func(off int) runargs.Loc {
			pos := r.inString(p.Value, s, off)
			return runargs.Loc{Offset: r.idx.Offset(pos.Line, pos.Col), Line: pos.Line, Col: pos.Col}
		})
		wl, errs := c.Workload(r.file, workload.DockerfileLabel)
		r.errs = append(r.errs, errs...)
		wl.Name = name + " LABEL " + key
		wl.Image = name
		wl.ImageUser = user
		wl.ImageCaps = caps
		wl.Attrs["label"] = p.Key.Value + "=" + s
		r.out = append(r.out, wl)
	}
	if capsNode != nil {
		r.out = append(r.out, workload.Workload{
			Pos: r.pos(capsNode), Kind: workload.DockerfileImageCaps, Name: name, Image: name,
			Runtime: workload.Podman, CapAdd: []workload.Word{}, CapDrop: []workload.Word{},
			ImageUser: user, ImageCaps: caps, Attrs: map[string]string{"id": short(id)},
		})
	}
}

func offsetOfPart(s string, i int) int {
	off := 0
	for k, part := range strings.Split(s, ",") {
		if k == i {
			return off + len(part) - len(strings.TrimLeft(part, " "))
		}
		off += len(part) + 1
	}
	return off
}

// inString locates byte off of a JSON string's value: exact when the
// string is written without escapes, the string's start otherwise.
func (r *reader) inString(n *yaml.Node, value string, off int) workload.Position {
	start := r.idx.Offset(n.Line, n.Column)
	if start >= 0 && start+1+len(value) < len(r.data) && string(r.data[start+1:start+1+len(value)]) == value && r.data[start+1+len(value)] == '"' {
		return r.idx.Pos(start + 1 + min(off, len(value)))
	}
	return r.pos(n)
}
