// Package enginetest is an in-memory Docker engine for tests: it
// implements engine.API, records every create request, and runs no
// process — each started container behaves as the test says, from its
// create request (its capabilities, command, environment). Verbs that take
// an engine.API (verify, profile --docker, runlabel) test their
// orchestration with it beside their real-engine tests.
package enginetest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/capdrop/capdrop/engine"
)

// Behaviour is how a started container behaves.
type Behaviour struct {
	// Exit is its exit code when it exits by itself; Running keeps it
	// running until it is killed (then it exits 137).
	Exit    int
	Running bool
	// Logs is its output.
	Logs string
	// Exec answers a command run inside it: exit code and output. nil
	// exits 0.
	Exec func(cmd []string) (int, string)
	// StartError makes the start fail with this engine message.
	StartError string
}

// Fake is an in-memory engine. The zero value is ready: version 26.0.0, no
// images (every image is accepted), every container exits 0.
type Fake struct {
	// Version is what ServerVersion reports ("26.0.0" when empty).
	Version string
	// Images are the images ImageInspect knows; when nil, every image is
	// known, with an empty configuration.
	Images map[string]engine.Image
	// Files are the files of each image, for ImageFiles.
	Files map[string]map[string][]byte
	// Behave decides how a container behaves from its create request; nil
	// exits 0.
	Behave func(req engine.CreateRequest) Behaviour

	mu         sync.Mutex
	seq        int
	containers map[string]*container
	created    []engine.CreateRequest
}

type container struct {
	id, name string
	req      engine.CreateRequest
	beh      Behaviour
	running  bool
	exited   bool
	code     int
	waiters  []chan engine.WaitResult
}

var _ engine.API = (*Fake)(nil)

// Created returns every create request the fake received, in order.
func (f *Fake) Created() []engine.CreateRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.created)
}

// Containers returns the names of the containers that exist now.
func (f *Fake) Containers() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.containers {
		out = append(out, c.name)
	}
	slices.Sort(out)
	return out
}

func notFound(op string) error {
	return &engine.APIError{Status: http.StatusNotFound, Message: "No such object", Op: op}
}

// Host names the fake.
func (f *Fake) Host() string { return "fake://engine" }

// ServerVersion reports Version.
func (f *Fake) ServerVersion(ctx context.Context) (engine.Version, error) {
	v := f.Version
	if v == "" {
		v = "26.0.0"
	}
	return engine.Version{Version: v, APIVersion: "1.43", Os: "linux", Arch: "amd64"}, ctx.Err()
}

// ImageInspect returns a known image.
func (f *Fake) ImageInspect(ctx context.Context, ref string) (*engine.Image, error) {
	if f.Images == nil {
		return &engine.Image{ID: "sha256:fake", RepoTags: []string{ref}}, ctx.Err()
	}
	img, ok := f.Images[ref]
	if !ok {
		return nil, notFound("inspect image " + ref)
	}
	return &img, ctx.Err()
}

// ImageFiles returns the image's Files among paths.
func (f *Fake) ImageFiles(ctx context.Context, image string, paths []string, limit int64) (map[string][]byte, error) {
	if _, err := f.ImageInspect(ctx, image); err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, p := range paths {
		if b, ok := f.Files[image][p]; ok && int64(len(b)) <= limit {
			out[p] = b
		}
	}
	return out, ctx.Err()
}

func (f *Fake) find(ref string) *container {
	if c, ok := f.containers[ref]; ok {
		return c
	}
	for _, c := range f.containers {
		if c.name == ref || strings.HasPrefix(c.id, ref) {
			return c
		}
	}
	return nil
}

// ContainerList lists the containers, filtered by label=KEY=VALUE only.
func (f *Fake) ContainerList(ctx context.Context, opt engine.ListOptions) ([]engine.ContainerSummary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []engine.ContainerSummary
	for _, c := range f.containers {
		match := true
		for _, l := range opt.Filters["label"] {
			k, v, hasV := strings.Cut(l, "=")
			got, ok := c.req.Labels[k]
			match = match && ok && (!hasV || got == v)
		}
		if match && (opt.All || c.running) {
			out = append(out, engine.ContainerSummary{ID: c.id, Names: []string{"/" + c.name}, Image: c.req.Image, Labels: c.req.Labels})
		}
	}
	return out, ctx.Err()
}

// ContainerInspect returns a container's state; its address is 127.0.0.1.
func (f *Fake) ContainerInspect(ctx context.Context, ref string) (*engine.Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.find(ref)
	if c == nil {
		return nil, notFound("inspect container " + ref)
	}
	ct := &engine.Container{ID: c.id, Name: "/" + c.name, Image: c.req.Image,
		State:  engine.ContainerState{Running: c.running, ExitCode: c.code, Status: map[bool]string{true: "running", false: "exited"}[c.running]},
		Config: engine.ContainerConfig{Image: c.req.Image, User: c.req.User, Env: c.req.Env, Labels: c.req.Labels, Tty: c.req.Tty}}
	ct.Raw, _ = json.Marshal(map[string]any{"Id": c.id, "NetworkSettings": map[string]any{"IPAddress": "127.0.0.1"}})
	return ct, ctx.Err()
}

// ContainerCreate records the request and creates a container.
func (f *Fake) ContainerCreate(ctx context.Context, name string, body any) (engine.CreateResult, error) {
	if err := ctx.Err(); err != nil {
		return engine.CreateResult{}, err
	}
	b, err := json.Marshal(body)
	if err != nil {
		return engine.CreateResult{}, err
	}
	var req engine.CreateRequest
	if err := json.Unmarshal(b, &req); err != nil {
		return engine.CreateResult{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.containers == nil {
		f.containers = map[string]*container{}
	}
	f.seq++
	id := fmt.Sprintf("%064x", f.seq)
	if name == "" {
		name = "fake_" + id[len(id)-6:]
	}
	if f.find(name) != nil {
		return engine.CreateResult{}, &engine.APIError{Status: http.StatusConflict, Message: "name in use: " + name, Op: "create container"}
	}
	beh := Behaviour{}
	if f.Behave != nil {
		beh = f.Behave(req)
	}
	f.created = append(f.created, req)
	f.containers[id] = &container{id: id, name: name, req: req, beh: beh}
	return engine.CreateResult{ID: id}, nil
}

// ContainerStart starts a container as its behaviour says.
func (f *Fake) ContainerStart(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.find(id)
	if c == nil {
		return notFound("start container " + id)
	}
	if c.beh.StartError != "" {
		return &engine.APIError{Status: http.StatusInternalServerError, Message: c.beh.StartError, Op: "start container " + id}
	}
	c.running = true
	if !c.beh.Running {
		c.exit(c.beh.Exit)
	}
	return ctx.Err()
}

// exit ends the container with code and tells the waiters.
func (c *container) exit(code int) {
	c.running, c.exited, c.code = false, true, code
	for _, w := range c.waiters {
		w <- engine.WaitResult{StatusCode: code}
	}
	c.waiters = nil
}

// ContainerWait reports the container's next exit.
func (f *Fake) ContainerWait(ctx context.Context, id, condition string) (<-chan engine.WaitResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.find(id)
	if c == nil {
		return nil, notFound("wait for container " + id)
	}
	ch := make(chan engine.WaitResult, 1)
	if condition != "next-exit" && c.exited {
		ch <- engine.WaitResult{StatusCode: c.code}
		return ch, nil
	}
	c.waiters = append(c.waiters, ch)
	return ch, nil
}

// ContainerKill ends a running container with 128+9.
func (f *Fake) ContainerKill(ctx context.Context, id, signal string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.find(id)
	if c == nil {
		return notFound("kill container " + id)
	}
	if c.running {
		c.exit(137)
	}
	return nil
}

// ContainerStop stops a container like ContainerKill.
func (f *Fake) ContainerStop(ctx context.Context, id string, timeout time.Duration) error {
	return f.ContainerKill(ctx, id, "TERM")
}

// ContainerRemove removes a container, killing it first when force.
func (f *Fake) ContainerRemove(ctx context.Context, id string, force bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.find(id)
	if c == nil {
		return notFound("remove container " + id)
	}
	if c.running {
		if !force {
			return &engine.APIError{Status: http.StatusConflict, Message: "container is running", Op: "remove container " + id}
		}
		c.exit(137)
	}
	delete(f.containers, c.id)
	return nil
}

// ContainerLogs returns the behaviour's output.
func (f *Fake) ContainerLogs(ctx context.Context, id string, tail string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.find(id)
	if c == nil {
		return "", notFound("logs of container " + id)
	}
	return c.beh.Logs, nil
}

// Exec answers from the behaviour.
func (f *Fake) Exec(ctx context.Context, id string, cmd []string, user string) (engine.ExecResult, error) {
	f.mu.Lock()
	c := f.find(id)
	f.mu.Unlock()
	if c == nil {
		return engine.ExecResult{}, notFound("exec in container " + id)
	}
	if c.beh.Exec == nil {
		return engine.ExecResult{}, nil
	}
	code, out := c.beh.Exec(cmd)
	return engine.ExecResult{ExitCode: code, Stdout: out}, nil
}
