package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/capdrop/capdrop/patch"
)

// TestRecommendOffline runs k8s recommend on a cluster profile without a
// cluster: the YAML stream parses and carries the complete lists, JSON and
// SARIF say the same, --out-dir writes one file per workload.
func TestRecommendOffline(t *testing.T) {
	dir := t.TempDir()
	cp := clusterProfile(t, dir, map[string][]string{
		"shop/Deployment/web/app":       {"CAP_NET_BIND_SERVICE", "CAP_CHOWN"},
		"shop/Deployment/web/init:seed": {},
		"shop/CronJob/nightly/job":      {"CAP_DAC_OVERRIDE"},
		"other/DaemonSet/agent/a":       {"CAP_KILL"},
	}, "")
	out, stderr, code := runMain(t, "k8s", "recommend", "--from", cp, "--offline", "-n", "shop")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	dec := yaml.NewDecoder(strings.NewReader(out))
	var docs []map[string]any
	for {
		var d map[string]any
		if err := dec.Decode(&d); err != nil {
			break
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
	if len(docs) != 2 || docs[0]["kind"] != "CronJob" || docs[1]["kind"] != "Deployment" {
		t.Fatalf("%d documents, want the CronJob's and the Deployment's:\n%s", len(docs), out)
	}
	for _, want := range []string{
		"#   app: drop ALL, add CHOWN, NET_BIND_SERVICE; from cluster profile",
		"#   init seed: drop ALL, add nothing",
		"      initContainers:\n        - name: seed\n          securityContext:\n            allowPrivilegeEscalation: false\n            capabilities:\n              add: []\n              drop:\n                - ALL",
		"  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n            - name: job",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "agent") {
		t.Errorf("-n shop let another namespace through:\n%s", out)
	}

	out, _, code = runMain(t, "k8s", "recommend", "--from", cp, "--offline", "deployment/web", "-o", "json")
	var res patch.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 {
		t.Fatalf("exit %d, %v\n%s", code, err, out)
	}
	if len(res.Recommendations) != 1 || !res.Offline || res.Recommendations[0].Patch == nil || len(res.Recommendations[0].Containers) != 2 {
		t.Errorf("json: %s", out)
	}

	out, _, code = runMain(t, "k8s", "recommend", "--from", cp, "--offline", "-o", "sarif")
	var log struct {
		Runs []struct {
			Results []struct {
				RuleID     string         `json:"ruleId"`
				Properties map[string]any `json:"properties"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out), &log); err != nil || code != 0 || len(log.Runs) != 1 || len(log.Runs[0].Results) != 4 {
		t.Fatalf("sarif: exit %d %v\n%s", code, err, out)
	}

	outDir := filepath.Join(dir, "patches")
	out, _, code = runMain(t, "k8s", "recommend", "--from", cp, "--offline", "--out-dir", outDir)
	files, _ := filepath.Glob(filepath.Join(outDir, "*.yaml"))
	if code != 0 || len(files) != 3 || !strings.Contains(out, "shop.deployment.web.yaml: shop/Deployment/web") {
		t.Errorf("--out-dir: exit %d, files %v\n%s", code, files, out)
	}
	b, _ := os.ReadFile(filepath.Join(outDir, "other.daemonset.agent.yaml"))
	if !strings.Contains(string(b), "- KILL") {
		t.Errorf("other.daemonset.agent.yaml:\n%s", b)
	}
}

func TestRecommendUsage(t *testing.T) {
	dir := t.TempDir()
	cp := clusterProfile(t, dir, map[string][]string{"shop/Deployment/web/app": {"CAP_CHOWN"}}, "")
	host := filepath.Join(dir, "profile.json")
	if err := os.WriteFile(host, []byte(`{"needed":["CAP_CHOWN"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"k8s", "recommend"}, "give the cluster profile with --from"},
		{[]string{"k8s", "recommend", "--from", cp, "--apply", "--offline"}, "--apply patches the cluster; --offline does not read it"},
		{[]string{"k8s", "recommend", "--from", host, "--offline"}, "is a profile, not a cluster profile"},
		{[]string{"k8s", "recommend", "--from", cp, "--offline", "service/web"}, "service is not a workload kind"},
		{[]string{"k8s", "recommend", "--from", cp, "-o", "json", "--out-dir", dir}, "--out-dir writes the YAML patches"},
	} {
		_, stderr, code := runMain(t, c.args...)
		if code != ExitUsage || !strings.Contains(stderr, c.msg) {
			t.Errorf("%q: exit %d, %q; want %d and %q", c.args, code, stderr, ExitUsage, c.msg)
		}
	}
}

func TestK8sVerifyUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"k8s", "verify"}, "accepts 1 arg"},
		{[]string{"k8s", "verify", "web"}, "name the workload as KIND/NAME"},
		{[]string{"k8s", "verify", "service/web"}, "service is not a workload kind"},
		{[]string{"k8s", "verify", "deploy/web", "--cap-add", "chown", "--from", "x.json"}, "one of --cap-add and --from"},
		{[]string{"k8s", "verify", "deploy/web", "--settle", "0s"}, "--timeout and --settle must be positive"},
		{[]string{"k8s", "verify", "deploy/web", "-o", "sarif"}, "--output must be one of text, json"},
	} {
		_, stderr, code := runMain(t, c.args...)
		if code != ExitUsage || !strings.Contains(stderr, c.msg) {
			t.Errorf("%q: exit %d, %q; want %d and %q", c.args, code, stderr, ExitUsage, c.msg)
		}
	}
}

func TestK8sProfileUsage(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(bad, []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: a}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"k8s", "profile"}, "name the workload to profile as KIND/NAME"},
		{[]string{"k8s", "profile", "a/b", "c/d"}, "accepts at most 1 arg"},
		{[]string{"k8s", "profile", "web", "--duration", "1m"}, "name the workload as KIND/NAME"},
		{[]string{"k8s", "profile", "service/web", "--duration", "1m"}, "service is not a workload kind"},
		{[]string{"k8s", "profile", "deploy/web"}, "give how long to profile with --duration"},
		{[]string{"k8s", "profile", "deploy/web", "--duration", "1m", "--agent-timeout", "0s"}, "--agent-timeout must be positive"},
		{[]string{"k8s", "profile", "deploy/web", "--duration", "1m", "-o", "sarif"}, "--output must be one of text, json"},
		{[]string{"k8s", "profile", "deploy/web", "--duration", "1m", "--agent-manifest", bad}, bad + ":5: document 2: v1 Secret is not a kind capdrop deploys"},
		{[]string{"k8s", "profile", "--continuous", "deploy/web"}, "it takes no workload"},
		{[]string{"k8s", "profile", "--continuous", "--no-deploy"}, "--no-deploy is implied"},
		{[]string{"k8s", "profile", "--continuous", "--interval", "0s"}, "--interval must be positive"},
		{[]string{"k8s", "recommend", "--from", "x.json", "--from-cluster"}, "one of --from and --from-cluster"},
	} {
		_, stderr, code := runMain(t, c.args...)
		if code != ExitUsage || !strings.Contains(stderr, c.msg) {
			t.Errorf("%q: exit %d, %q; want %d and %q", c.args, code, stderr, ExitUsage, c.msg)
		}
	}
}
