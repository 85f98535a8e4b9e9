// Package inventorytest holds what tests of the inventory and of its
// renderers share: the fake /proc tree in procfs/testdata/proc, the Docker
// containers of that tree as a fake engine, and fixed user names.
package inventorytest

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/engine"
)

// The containers of the fixture tree.
const (
	WebID   = "cad7007695e0339eeadb56c10366455c52ab31ff7b8ad357ccb99f6526583f9a"
	AppID   = "5de789659b52a3e1b0c7f1d2e3a4b5c6d7e8f90112233445566778899aabbccd"
	AdminID = "677faee981bd0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f506172839"
	PrivID  = "c5f43d7776b6e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f80910"
	CRIID   = "34dc0b5e626f2c5c4c5170e34b10e7654ce36f0fcd532739f4445baabea03376"
	PodUID  = "74c13223-5a00-11e9-b385-42010a80018d"
)

// Proc returns the path of the fixture /proc tree.
func Proc() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "procfs", "testdata", "proc")
}

// Kernel is the fixture kernel's capabilities: 41, as Linux 5.9 and later.
var Kernel = capset.Upto(capset.CHECKPOINT_RESTORE)

// Engine answers like a Docker engine running the fixture's Docker
// containers (web, app, admin, priv; the CRI container is not Docker's), and
// counts the calls. With Err set, listing fails with it.
type Engine struct {
	Err error

	mu    sync.Mutex
	calls Calls
}

// Calls counts the calls an Engine answered.
type Calls struct{ Lists, Inspects int }

// Calls returns the calls answered so far.
func (f *Engine) Calls() Calls {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// Containers are what the fake engine knows.
var Containers = []engine.Container{
	{ID: WebID, Name: "/web", Config: engine.ContainerConfig{Image: "nginx:1.25"}, State: engine.ContainerState{Pid: 1000, Running: true}},
	{ID: AppID, Name: "/app", Config: engine.ContainerConfig{Image: "registry.example/app:2"}, State: engine.ContainerState{Pid: 1100, Running: true},
		HostConfig: engine.HostConfig{CapDrop: []string{"ALL"}, CapAdd: []string{"CAP_NET_BIND_SERVICE"}}},
	{ID: AdminID, Name: "/admin", Config: engine.ContainerConfig{Image: "busybox"}, State: engine.ContainerState{Pid: 1200, Running: true},
		HostConfig: engine.HostConfig{CapAdd: []string{"CAP_SYS_ADMIN"}}},
	{ID: PrivID, Name: "/priv", Config: engine.ContainerConfig{Image: "busybox", User: "1000"}, State: engine.ContainerState{Pid: 1300, Running: true},
		HostConfig: engine.HostConfig{Privileged: true}},
}

// ContainerList lists Containers.
func (f *Engine) ContainerList(ctx context.Context, opt engine.ListOptions) ([]engine.ContainerSummary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls.Lists++
	if f.Err != nil {
		return nil, f.Err
	}
	var out []engine.ContainerSummary
	for _, c := range Containers {
		out = append(out, engine.ContainerSummary{ID: c.ID, Names: []string{c.Name}, Image: c.Config.Image, State: "running"})
	}
	return out, nil
}

// ContainerInspect returns one of Containers by full ID.
func (f *Engine) ContainerInspect(ctx context.Context, ref string) (*engine.Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls.Inspects++
	for _, c := range Containers {
		if c.ID == ref {
			return &c, nil
		}
	}
	return nil, fmt.Errorf("inspect container %s: %w", ref, engine.ErrNotFound)
}

// Users names uids without the host's user database, so output does not
// depend on the machine.
func Users(uid int) string {
	switch uid {
	case 0:
		return "root"
	case 101:
		return "nginx"
	case 1000:
		return "alice"
	}
	return strconv.Itoa(uid)
}
