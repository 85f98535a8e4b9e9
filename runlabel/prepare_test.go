package runlabel

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/audit"
	"github.com/capdrop/capdrop/engine"
	"github.com/capdrop/capdrop/engine/enginetest"
)

// TestPrepareFakeEngine: Prepare's orchestration on a fake engine — the
// image read from the engine, the label resolved, the image the command
// names judged (absent: root), the audit under the engine's Docker release,
// the verdict — and nothing started.
func TestPrepareFakeEngine(t *testing.T) {
	img := func(user string, labels map[string]string) engine.Image {
		var i engine.Image
		i.ID, i.Config.User, i.Config.Labels = "sha256:1", user, labels
		return i
	}
	fake := &enginetest.Fake{Version: "20.10.24", Images: map[string]engine.Image{
		"app:1":   img("1000", map[string]string{"RUN": "docker run --cap-add SYS_ADMIN other:latest"}),
		"plain:1": img("", nil),
		"bad:1":   img("", map[string]string{"RUN": "docker run img; rm -rf /"}),
	}}
	ctx := context.Background()
	opts := PrepareOptions{Options: Options{Env: []string{}, Dir: "/", Docker: "docker"}, Engine: fake, Strict: true, FailOn: audit.SeverityUnset}

	p, err := Prepare(ctx, "app:1", opts)
	if err != nil {
		t.Fatal(err)
	}
	if p.Command.Workload.Image != "other:latest" || len(p.Refused) == 0 || p.Audit == nil || !p.Audit.Workloads[0].Result.Root {
		t.Errorf("the command's own image, absent, is judged as root and refused under --strict: %+v %v", p.Command.Workload, p.Refused)
	}
	if v := p.Audit.Workloads[0].Result.Version.String(); !strings.HasPrefix(v, "20.10") {
		t.Errorf("audited as Docker %s, not the engine's 20.10", v)
	}

	p, err = Prepare(ctx, "plain:1", opts)
	if err != nil || !p.Command.Default || len(p.Refused) != 0 {
		t.Errorf("an image without a label gets the safe default, which --strict lets run: %+v %v %v", p, p.Refused, err)
	}

	p, err = Prepare(ctx, "bad:1", opts)
	var le *LabelError
	if !errors.As(err, &le) || p == nil || len(p.Refused) != 1 {
		t.Errorf("shell code in a label: %v %+v", err, p)
	}

	if _, err := Prepare(ctx, "missing:1", opts); !errors.Is(err, engine.ErrNotFound) || !strings.Contains(err.Error(), "does not pull") {
		t.Errorf("missing image: %v", err)
	}
	if n := len(fake.Created()); n != 0 {
		t.Errorf("Prepare created %d containers", n)
	}
}
