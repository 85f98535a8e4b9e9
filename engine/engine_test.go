package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/capdrop/capdrop/engine"
	"github.com/capdrop/capdrop/internal/dockertest"
)

// TestRealEngine drives a real Docker engine through the whole life of a
// container with the client, and checks each answer against the docker CLI.
func TestRealEngine(t *testing.T) {
	dockertest.Require(t)
	img := dockertest.Image(t, nil, `LABEL RUN="docker run --cap-drop=all \${IMAGE}"`)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := engine.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	v, err := c.ServerVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := dockertest.Docker(t, "version", "--format", "{{.Server.Version}}"); v.Version != want {
		t.Errorf("engine version %q, docker CLI says %q", v.Version, want)
	}

	im, err := c.ImageInspect(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	if got := im.Config.Labels["RUN"]; got != "docker run --cap-drop=all ${IMAGE}" {
		t.Errorf("RUN label %q", got)
	}

	name := "capdrop-engine-test-" + strings.ReplaceAll(time.Now().Format("150405.000000"), ".", "")
	cr, err := c.ContainerCreate(ctx, name, map[string]any{
		"Image":  img,
		"Cmd":    []string{"sh", "-c", "echo hello; echo oops >&2; sleep 30"},
		"Labels": map[string]string{dockertest.Label: "1"},
		"HostConfig": map[string]any{
			"CapDrop": []string{"ALL"}, "CapAdd": []string{"NET_BIND_SERVICE"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dockertest.Remove(cr.ID) })

	list, err := c.ContainerList(ctx, engine.ListOptions{All: true, Filters: map[string][]string{"name": {name}}})
	if err != nil || len(list) != 1 || list[0].Name() != name || list[0].ID != cr.ID {
		t.Fatalf("list by name: %+v, %v", list, err)
	}

	wait, err := c.ContainerWait(ctx, cr.ID, "next-exit")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ContainerStart(ctx, cr.ID); err != nil {
		t.Fatal(err)
	}
	ct, err := c.ContainerInspect(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if !ct.State.Running || ct.State.Pid <= 0 || ct.ID != cr.ID || ct.ShortName() != name {
		t.Errorf("inspect after start: %+v", ct.State)
	}
	if strings.Join(ct.HostConfig.CapDrop, ",") != "ALL" || strings.Join(ct.HostConfig.CapAdd, ",") != "NET_BIND_SERVICE" {
		t.Errorf("HostConfig caps: add %v drop %v", ct.HostConfig.CapAdd, ct.HostConfig.CapDrop)
	}
	if sets, _ := dockertest.KernelSets(t, cr.ID); sets.Bounding.String() != "CAP_NET_BIND_SERVICE" {
		t.Errorf("kernel bounding set %v", sets.Bounding)
	}

	res, err := c.Exec(ctx, cr.ID, []string{"sh", "-c", "grep CapEff /proc/self/status; echo e >&2; exit 3"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 3 || !strings.Contains(res.Stdout, "0000000000000400") || res.Stderr != "e\n" {
		t.Errorf("exec: %+v", res)
	}

	var logs string
	for range 50 {
		if logs, err = c.ContainerLogs(ctx, cr.ID, "all"); err != nil || strings.Contains(logs, "oops") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil || !strings.Contains(logs, "hello\n") || !strings.Contains(logs, "oops\n") {
		t.Errorf("logs %q, %v", logs, err)
	}

	if err := c.ContainerKill(ctx, cr.ID, "KILL"); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-wait:
		if r.Err != nil || r.StatusCode != 137 {
			t.Errorf("wait: %+v", r)
		}
	case <-ctx.Done():
		t.Fatal("wait never returned")
	}
	if err := c.ContainerRemove(ctx, cr.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ContainerInspect(ctx, cr.ID); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("inspect after remove: %v", err)
	}

	_, err = c.ContainerCreate(ctx, "", map[string]any{"Image": img, "HostConfig": map[string]any{"CapAdd": []string{"CAP_NOPE"}}})
	var ae *engine.APIError
	if !errors.As(err, &ae) || !strings.Contains(ae.Message, "NOPE") {
		t.Errorf("create with an unknown capability: %v", err)
	}
}
