package profile

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/engine"
	"github.com/capdrop/capdrop/engine/enginetest"
	"github.com/capdrop/capdrop/source/runargs"
	"github.com/capdrop/capdrop/workload"
)

// TestDockerFakeEngine: profile --docker's orchestration on a fake engine
// (which runs no process, so no exec is ever seen): the container is
// created from the shared builder with the run line's configuration and
// profile's label, and removed again although profiling failed.
func TestDockerFakeEngine(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to load the tracer")
	}
	c := runargs.FromArgv([]string{"docker", "run", "-d", "-e", "A=1", "-w", "/srv", "--sysctl", "a=b", "img:1", "serve"}, runargs.Quote)
	w, _ := c.Workload("arguments", workload.RunLine)
	fake := &enginetest.Fake{Behave: func(engine.CreateRequest) enginetest.Behaviour { return enginetest.Behaviour{Exit: 0} }}
	_, err := Run(context.Background(), Options{Docker: &w, Engine: fake})
	if err == nil {
		t.Fatal("a container that never execs anything gave a profile")
	}
	reqs := fake.Created()
	if len(reqs) != 1 {
		t.Fatalf("%d containers created", len(reqs))
	}
	r := reqs[0]
	if r.Image != "img:1" || strings.Join(r.Cmd, " ") != "serve" || strings.Join(r.Env, " ") != "A=1" || r.WorkingDir != "/srv" ||
		r.HostConfig.Sysctls["a"] != "b" || r.Labels[DockerLabel] != "1" || r.HostConfig.AutoRemove {
		t.Errorf("request %+v", r)
	}
	if left := fake.Containers(); len(left) != 0 {
		t.Errorf("containers left: %v", left)
	}
}
