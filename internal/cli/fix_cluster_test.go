package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/clusterprofile"
	"github.com/capdrop/capdrop/merge"
	"github.com/capdrop/capdrop/source/kube"
	"github.com/capdrop/capdrop/workload"
)

// clusterProfile writes a cluster profile made from the document
// clusterprofile's golden test writes, with one profile per entry of sets
// (namespace/Kind/name/[init:]container → needed names); the last one is
// partial when partial is set.
func clusterProfile(t *testing.T, dir string, sets map[string][]string, partial string) string {
	t.Helper()
	b, err := os.ReadFile("../../clusterprofile/testdata/document.json.golden")
	if err != nil {
		t.Fatal(err)
	}
	var d clusterprofile.Document
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	base := d.Profiles[0]
	d.Profiles = nil
	keys := make([]string, 0, len(sets))
	for k := range sets {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		p := base
		parts := strings.Split(k, "/")
		p.Workload = clusterprofile.Workload{Namespace: parts[0], Kind: parts[1], Name: parts[2], Container: parts[3], ContainerType: "container"}
		if c, ok := strings.CutPrefix(parts[3], "init:"); ok {
			p.Workload.Container, p.Workload.ContainerType = c, "init"
		}
		p.Images = nil
		p.Needed, p.UsedNotProven = sets[k], nil
		if k == partial {
			p.Complete = false
			p.Partial = []clusterprofile.Reason{{Reason: clusterprofile.ReasonStartedBefore, Detail: "2 containers started before the agent"}}
		}
		d.Profiles = append(d.Profiles, p)
	}
	out, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "cluster-profile.json")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestFixFromClusterProfile writes a cluster profile's sets into manifests
// in the shapes of real projects' files, picking each container's profile
// by namespace, controller and container, and reads the result back as
// capdrop audit does: the container gets exactly its profile's set.
func TestFixFromClusterProfile(t *testing.T) {
	dir := t.TempDir()
	cp := clusterProfile(t, dir, map[string][]string{
		"kube-system/Deployment/coredns/coredns":          {"CAP_NET_BIND_SERVICE"},
		"default/Deployment/redis-leader/leader":          {"CAP_SETUID", "CAP_SETGID"},
		"default/Deployment/frontend/php-redis":           {"CAP_CHOWN", "CAP_SETUID", "CAP_SETGID", "CAP_NET_BIND_SERVICE"},
		"default/Deployment/frontend/init:wait-for-redis": {},
		"staging/Deployment/frontend/php-redis":           {"CAP_KILL"},
		"default/Deployment/partial/c":                    {"CAP_KILL"},
	}, "default/Deployment/frontend/init:wait-for-redis")
	for _, c := range []struct {
		file, container string
		args            []string
		want            []string
		code            int
		msg             string
	}{
		{file: "coredns.yaml", container: "coredns", want: []string{"NET_BIND_SERVICE"}, msg: "the set of kube-system/Deployment/coredns/coredns: NET_BIND_SERVICE"},
		{file: "guestbook.yaml", container: "leader", args: []string{"-n", "default"}, want: []string{"SETGID", "SETUID"}},
		{file: "guestbook.yaml", container: "php-redis", args: []string{"-n", "default"}, want: []string{"CHOWN", "SETGID", "SETUID", "NET_BIND_SERVICE"}},
		// The namespace decides between two profiles of frontend.
		{file: "guestbook.yaml", container: "php-redis", args: []string{"-n", "staging"}, want: []string{"KILL"}},
		{file: "guestbook.yaml", container: "php-redis", code: ExitUsage, msg: "several (default/Deployment/frontend/php-redis, staging/Deployment/frontend/php-redis); name the namespace"},
		{file: "guestbook.yaml", container: "wait-for-redis", args: []string{"-n", "default"}, code: ExitUsage, msg: "the profile is partial: default/Deployment/frontend/init:wait-for-redis (started-before-agent"},
		{file: "guestbook.yaml", container: "wait-for-redis", args: []string{"-n", "default", "--allow-partial"}, want: []string{}},
		{file: "coredns.yaml", container: "coredns", args: []string{"-n", "default"}, code: ExitUsage, msg: "the manifest's Deployment/coredns is in namespace kube-system"},
	} {
		t.Run(c.file+"/"+c.container+strings.Join(c.args, ""), func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join("testdata/k8s", c.file))
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), c.file)
			if err := os.WriteFile(path, src, 0o644); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"fix", path, "--container", c.container, "--from", cp, "--write"}, c.args...)
			_, stderr, code := runMain(t, args...)
			if code != c.code || !strings.Contains(stderr, c.msg) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr, c.code, c.msg)
			}
			if c.code != 0 {
				return
			}
			out, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			ws, errs := kube.Parse(path, out, false, workload.Containerd)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			for _, w := range ws {
				if w.Attrs["container"] != c.container {
					continue
				}
				r := merge.Compute(w, merge.Options{})
				got := r.Sets.Bounding.ShortNames()
				if got == nil {
					got = []string{}
				}
				if !slices.Equal(got, c.want) {
					t.Errorf("%s: %s holds %v after the fix, want %v\n%s", c.file, w.Name, got, c.want, out)
				}
				return
			}
			t.Fatalf("no container %s in the result", c.container)
		})
	}
}
