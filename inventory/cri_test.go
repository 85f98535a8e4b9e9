package inventory

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/cri"
)

// fakeCRI answers like containerd running the fixture's CRI container.
type fakeCRI struct {
	cfg *cri.Config
	err error
}

func (f fakeCRI) Containers(_ context.Context, details bool) ([]cri.Container, error) {
	if f.err != nil {
		return nil, f.err
	}
	c := cri.Container{ID: criID, PodNamespace: "shop", PodName: "web-7d9c-x2x", PodUID: podUID, Name: "app",
		Image: "registry.example/app:1", State: "CONTAINER_RUNNING"}
	if details {
		c.Config, c.PID = f.cfg, 1400
	}
	return []cri.Container{c, {ID: strings.Repeat("f", 64), PodNamespace: "other", PodName: "gone", Name: "x"}}, nil
}

func TestTakeCRI(t *testing.T) {
	ctx := context.Background()
	uid := int64(65535)
	for _, tc := range []struct {
		name     string
		cfg      *cri.Config
		mismatch string
	}{
		{"the spec the kubelet passed", &cri.Config{RunAsUser: &uid}, ""},
		// containerd sends CAP_CAP_SYS_ADMIN, which runc ignores: the
		// live set is right not to hold it.
		{"a CAP_ prefix containerd ignores", &cri.Config{RunAsUser: &uid, CapAdd: []string{"CAP_SYS_ADMIN"}}, ""},
		{"a drop that did not happen", &cri.Config{RunAsUser: &uid, CapDrop: []string{"ALL"}}, "bounding holds 14 capabilities"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := fixtureOptions(nil)
			opts.CRI, opts.Summaries, opts.Pod = fakeCRI{cfg: tc.cfg}, true, "shop/web-7d9c-x2x"
			opts.HostCaps = capset.Upto(capset.CHECKPOINT_RESTORE)
			opts.Owners = func(_ context.Context, ns, pod string) (string, error) { return "Deployment/web", nil }
			inv, err := Take(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(inv.Containers) != 1 {
				t.Fatalf("--pod kept %d containers", len(inv.Containers))
			}
			c := inv.Containers[0]
			if c.Pod == nil || c.Pod.String() != "shop/web-7d9c-x2x/app" || c.Name != c.Pod.String() || c.Pod.Owner != "Deployment/web" || c.Image != "registry.example/app:1" {
				t.Errorf("container %q pod %+v image %q", c.Name, c.Pod, c.Image)
			}
			if c.Main == nil || c.Main.PID != 1400 || c.Config == nil || c.Config.User != "65535" {
				t.Errorf("main %+v config %+v", c.Main, c.Config)
			}
			var got []string
			for _, m := range c.Mismatches {
				got = append(got, m.Kind+": "+m.Message)
			}
			switch {
			case tc.mismatch == "" && len(got) > 0:
				t.Errorf("mismatches %q, want none", got)
			case tc.mismatch != "" && (len(got) != 1 || !strings.Contains(got[0], tc.mismatch) || !strings.HasPrefix(got[0], MismatchSpec)):
				t.Errorf("mismatches %q, want one %s saying %q", got, MismatchSpec, tc.mismatch)
			}
			for _, p := range inv.Processes {
				if p.Container != c {
					t.Errorf("--pod kept process %d of another container", p.PID)
				}
			}
		})
	}

	// No CRI: attributed by cgroup, and the reason said once.
	opts := fixtureOptions(nil)
	opts.CRIError, opts.All = cri.ErrNoSocket, true
	inv, err := Take(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, w := range inv.Warnings {
		if errors.Is(w, cri.ErrNoSocket) && strings.Contains(w.Error(), "names are missing") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("warnings %v, want the missing CRI once", inv.Warnings)
	}
	// A failing CRI is a warning too; a --pod filter without a CRI is an error.
	opts = fixtureOptions(nil)
	opts.CRI, opts.All = fakeCRI{err: errors.New("rpc error: code = Unavailable")}, true
	if inv, err := Take(ctx, opts); err != nil || len(inv.Warnings) != 2 { // and the fixture's malformed status
		t.Errorf("failing CRI: %v, warnings %v", err, inv.Warnings)
	}
	opts = fixtureOptions(nil)
	opts.Namespace = "shop"
	if _, err := Take(ctx, opts); !errors.Is(err, ErrNoContainer) {
		t.Errorf("--namespace without a CRI: %v, want ErrNoContainer", err)
	}
}
