package source

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/merge"
	"github.com/capdrop/capdrop/workload"
)

// TestRenderedEqualsCLI renders the corpus's charts and builds its
// overlays with the libraries, and compares every container with what the
// upstream tools' output (helm template, kustomize build; committed in
// testdata/rendered by scripts/render-reference) gives when audited
// directly: the same containers, images, users and computed sets.
func TestRenderedEqualsCLI(t *testing.T) {
	web := "testdata/repo/charts/web"
	for _, tt := range []struct {
		path string
		opts Options
		ref  string
		n    int
	}{
		{web, Options{}, "web.yaml", 7},
		{web, Options{HelmValues: []string{web + "/values-production.yaml"}, HelmSet: []string{"replicaCount=5", "metrics.image.tag=1.0.0"}}, "web-production.yaml", 6},
		{"testdata/repo/charts/node-exporter", Options{}, "node-exporter.yaml", 1},
		{"testdata/repo/charts/ingress", Options{}, "ingress.yaml", 2},
		{"testdata/repo/deploy/overlays/production", Options{}, "deploy-production.yaml", 3},
		{"testdata/repo/deploy/overlays/staging", Options{}, "deploy-staging.yaml", 2},
		{"testdata/repo/deploy/base", Options{}, "deploy-base.yaml", 3},
	} {
		t.Run(tt.ref, func(t *testing.T) {
			got := Collect([]string{tt.path}, tt.opts)
			for _, e := range got.Errors {
				t.Errorf("error: %v", e)
			}
			data, err := os.ReadFile(filepath.Join("testdata/rendered", tt.ref))
			if err != nil {
				t.Fatal(err)
			}
			want, errs := Parse(tt.ref, data, Options{})
			if len(errs) > 0 {
				t.Fatalf("reference: %v", errs)
			}
			if len(want) != tt.n {
				t.Errorf("the reference holds %d containers, want %d", len(want), tt.n)
			}
			compareSets(t, got.Workloads, want)
		})
	}
}

// compareSets checks that two readings of the same containers agree on
// everything that decides the capabilities.
func compareSets(t *testing.T, got, want []workload.Workload) {
	t.Helper()
	byName := func(ws []workload.Workload) map[string]workload.Workload {
		m := map[string]workload.Workload{}
		for _, w := range ws {
			if _, dup := m[w.Name]; dup {
				t.Errorf("two containers named %s", w.Name)
			}
			m[w.Name] = w
		}
		return m
	}
	g, w := byName(got), byName(want)
	var names []string
	for n := range w {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		gw, ok := g[n]
		if !ok {
			t.Errorf("%s: in the tool's output, not rendered by capdrop", n)
			continue
		}
		ww := w[n]
		if gw.Image != ww.Image || gw.User != ww.User || gw.Privileged != ww.Privileged || gw.Kind != ww.Kind {
			t.Errorf("%s: image %q user %q privileged %v kind %s, the tool's: %q %q %v %s", n, gw.Image, gw.User, gw.Privileged, gw.Kind, ww.Image, ww.User, ww.Privileged, ww.Kind)
		}
		gr, wr := merge.Compute(gw, merge.Options{}), merge.Compute(ww, merge.Options{})
		if gr.Sets != wr.Sets || gr.NoNewPrivs != wr.NoNewPrivs || gr.Root != wr.Root {
			t.Errorf("%s: capdrop's rendering gives %v (nnp %v), the tool's output %v (nnp %v)", n, gr.Sets.Names(), gr.NoNewPrivs, wr.Sets.Names(), wr.NoNewPrivs)
		}
	}
	for n := range g {
		if _, ok := w[n]; !ok {
			t.Errorf("%s: rendered by capdrop, not in the tool's output", n)
		}
	}
}

// TestKubectlKustomize builds the overlays with kubectl's own kustomize,
// where kubectl is installed (Debian does not package it), and compares.
func TestKubectlKustomize(t *testing.T) {
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Skip("kubectl is not installed; the committed kustomize output is compared in TestRenderedEqualsCLI")
	}
	for _, o := range []string{"production", "staging"} {
		dir := "testdata/repo/deploy/overlays/" + o
		out, err := exec.Command("kubectl", "kustomize", dir).Output()
		if err != nil {
			t.Fatalf("kubectl kustomize %s: %v", dir, err)
		}
		want, errs := Parse("kubectl-kustomize-"+o+".yaml", out, Options{})
		if len(errs) > 0 || len(want) == 0 {
			t.Fatalf("kubectl kustomize %s: %d containers, %v", dir, len(want), errs)
		}
		compareSets(t, Collect([]string{dir}, Options{}).Workloads, want)
	}
}

// TestRepoCorpus audits the whole repository-shaped corpus: charts,
// overlays with strategic-merge and JSON 6902 patches and $patch: delete,
// an ApplicationSet, null securityContexts, Markdown placeholders. Nothing
// is an input error; the parts are counted, not audited; warnings say what
// was not audited and why.
func TestRepoCorpus(t *testing.T) {
	res := Collect([]string{"testdata/repo"}, Options{Env: map[string]string{}})
	var warnings []string
	for _, e := range res.Errors {
		if !e.Warning {
			t.Errorf("input error: %v", e)
			continue
		}
		warnings = append(warnings, e.Error())
	}
	for _, want := range []string{
		"testdata/repo/charts/api/Chart.yaml: helm chart api: dependencies not vendored in charts/, so not audited: postgresql",
		"testdata/repo/docs/INSTALL.md:7:39: a run command that is not shell capdrop can read",
		"testdata/repo/docs/INSTALL.md:13:1: a run command with the placeholder <your-image>, not audited",
		"testdata/repo/hotfix/drop-raw.yaml:10:11: Deployment/memcached is partial (container \"memcached\" has no image)",
	} {
		found := false
		for _, w := range warnings {
			found = found || strings.HasPrefix(w, want)
		}
		if !found {
			t.Errorf("no warning %q in:\n%s", want, strings.Join(warnings, "\n"))
		}
	}
	if len(warnings) != 4 {
		t.Errorf("%d warnings, want 4:\n%s", len(warnings), strings.Join(warnings, "\n"))
	}
	where := map[string]string{}
	for _, w := range res.Workloads {
		where[w.Name] = w.Pos.String()
		if w.CapsPos != nil {
			where[w.Name+" caps"] = w.CapsPos.String()
		}
		for _, c := range append(append([]workload.Word{}, w.CapAdd...), w.CapDrop...) {
			where[w.Name+" "+c.Text] = c.Pos.String()
		}
	}
	for name, want := range map[string]string{
		// Helm: the template for containers, the values file or the
		// helpers for what they hold.
		"Deployment/release-name-web/web":                                              "testdata/repo/charts/web/templates/deployment.yaml:35:9",
		"Deployment/release-name-web/web ALL":                                          "testdata/repo/charts/web/values.yaml:30:12",
		"Deployment/release-name-web/volume-permissions CHOWN":                         "testdata/repo/charts/web/values.yaml:43:11",
		"StatefulSet/release-name-redis-master/redis ALL":                              "testdata/repo/charts/web/charts/redis/values.yaml:18:14",
		"Deployment/release-name-ingress-nginx-controller/controller NET_BIND_SERVICE": "testdata/repo/charts/ingress/templates/_helpers.tpl:22:5",
		"Job/release-name-web-migrate/migrate ALL":                                     "testdata/repo/charts/web/templates/migrations-job.yaml:21:19",
		// Kustomize: the base for containers, the patch that set a value.
		"Deployment/prod-shop/app":                    "testdata/repo/deploy/base/deployment.yaml:18:11",
		"Deployment/prod-shop/app NET_RAW":            "testdata/repo/deploy/overlays/production/add-netraw.yaml:13:21",
		"Deployment/prod-shop/app ALL":                "testdata/repo/deploy/base/deployment.yaml:26:22",
		"Deployment/prod-shop/init-permissions CHOWN": "testdata/repo/deploy/overlays/production/init-permissions.yaml:12:17",
		"Deployment/shop-staging/app SYS_PTRACE":      "testdata/repo/deploy/components/debug/debug-ptrace.yaml:13:19",
	} {
		if where[name] != want {
			t.Errorf("%s at %q, want %s", name, where[name], want)
		}
	}
	for _, gone := range []string{"Deployment/prod-shop/log-shipper", "CronJob/backup-staging/pg-dump", "Deployment/shop/app"} {
		if _, ok := where[gone]; ok {
			t.Errorf("%s was audited: deleted by a patch, or a base only the overlays use", gone)
		}
	}
	for _, w := range res.Workloads {
		if w.Attrs["chart"] == "" && w.Attrs["overlay"] == "" && strings.Contains(w.Pos.File, "/charts/") {
			t.Errorf("%s: from a chart, but its chart is not named", w.Name)
		}
	}
	if res.SkippedBy[SkipChart] != 18 || res.SkippedBy[SkipKustomize] != 13 {
		t.Errorf("parts skipped: %v", res.SkippedBy)
	}
}

// TestExcludeAsTyped: --exclude patterns match paths as the user types
// them from the working directory (the root included), relative to the
// root, or by base name; "./" and a trailing "/" do not matter.
func TestExcludeAsTyped(t *testing.T) {
	root := "testdata/repo"
	for _, tt := range []struct {
		pattern string
		gone    string
	}{
		{"testdata/repo/scripts/*", "scripts/dev.sh"},
		{"./testdata/repo/scripts", "scripts/dev.sh"},
		{"testdata/repo/docs/", "docs/INSTALL.md"},
		{"scripts", "scripts/dev.sh"},
		{"k8s/*.yaml", "k8s/cache.yaml"},
		{"*.md", "docs/INSTALL.md"},
	} {
		res := Collect([]string{root}, Options{Exclude: []string{tt.pattern}})
		for _, w := range res.Workloads {
			if w.Pos.File == root+"/"+tt.gone {
				t.Errorf("--exclude %q: %s was still audited", tt.pattern, tt.gone)
			}
		}
		if len(res.Workloads) == 0 {
			t.Errorf("--exclude %q excluded everything", tt.pattern)
		}
	}
	abs, _ := filepath.Abs(root + "/k8s")
	for _, w := range Collect([]string{root}, Options{Exclude: []string{abs}}).Workloads {
		if strings.HasPrefix(w.Pos.File, root+"/k8s/") {
			t.Errorf("--exclude %s (absolute): %s audited", abs, w.Pos.File)
		}
	}
}

// TestHelmTiePlacement: a value that is both in a template's text and in
// a values file is placed where it really came from. The tie chart's app
// container takes its securityContext from values.yaml, the template's
// identical default sitting in the {{ else }} branch not taken: its
// capabilities point at values.yaml. The
// sidecar writes the same words in the template itself: they point there,
// though values.yaml holds them too. With the values' securityContext
// removed (--set securityContext=null) the default branch is written and
// the app's words point at it. The same input places everything the same
// way every time.
func TestHelmTiePlacement(t *testing.T) {
	chart := "testdata/charts/tie"
	tmpl, vals := chart+"/templates/deployment.yaml", chart+"/values.yaml"
	places := func(opts Options) map[string]string {
		t.Helper()
		res := Collect([]string{chart}, opts)
		for _, e := range res.Errors {
			t.Errorf("error: %v", e)
		}
		where := map[string]string{}
		for _, w := range res.Workloads {
			for _, c := range append(append([]workload.Word{}, w.CapAdd...), w.CapDrop...) {
				where[w.Name+" "+c.Text] = c.Pos.String()
			}
		}
		if len(res.Workloads) != 2 || len(where) != 4 {
			t.Fatalf("%d containers, places %v", len(res.Workloads), where)
		}
		return where
	}
	app, side := "Deployment/release-name-tie/app ", "Deployment/release-name-tie/sidecar "
	want := map[string]string{
		app + "NET_BIND_SERVICE":  vals + ":7:11",
		app + "ALL":               vals + ":6:12",
		side + "NET_BIND_SERVICE": tmpl + ":30:22",
		side + "ALL":              tmpl + ":29:23",
	}
	got := places(Options{})
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s at %s, want %s", k, got[k], v)
		}
	}
	for i := 0; i < 3; i++ {
		if again := places(Options{}); !maps.Equal(again, got) {
			t.Errorf("a second run places things differently:\n%v\n%v", again, got)
		}
	}
	got = places(Options{HelmSet: []string{"securityContext=null"}})
	want[app+"NET_BIND_SERVICE"] = tmpl + ":22:22"
	want[app+"ALL"] = tmpl + ":21:23"
	for k, v := range want {
		if got[k] != v {
			t.Errorf("--set securityContext=null: %s at %s, want %s", k, got[k], v)
		}
	}
}
