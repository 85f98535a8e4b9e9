//go:build unix

package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNoInputBlocksOrFloods feeds every verb that opens a file a named
// pipe (no writer: a plain open would block forever), a link to one, and
// a link to /dev/zero (a read that never ends), wherever it opens files:
// audit's configurations and the .env beside a compose file, verify's
// compose file, its .env and env_file and --from, fix's FILE and --from,
// report's documents and --before. Each must answer at once with exit
// status 2 and an error naming the file.
func TestNoInputBlocksOrFloods(t *testing.T) {
	dir := t.TempDir()
	mk := func(rel, body string) string {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	bad := map[string]string{"fifo": fifo, "link to fifo": filepath.Join(dir, "linkfifo"), "link to /dev/zero": filepath.Join(dir, "linkzero")}
	if err := os.Symlink(fifo, bad["link to fifo"]); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", bad["link to /dev/zero"]); err != nil {
		t.Fatal(err)
	}
	service := "services:\n  web:\n    image: busybox\n    cap_drop: [ALL]\n"
	for what, p := range bad {
		t.Run(what, func(t *testing.T) {
			// A compose directory whose .env is the bad file.
			cdir := filepath.Join(dir, "c-"+strings.NewReplacer(" ", "-", "/", "").Replace(what))
			compose := mk(filepath.Base(cdir)+"/compose.yaml", service)
			if err := os.Symlink(p, filepath.Join(cdir, ".env")); err != nil {
				t.Fatal(err)
			}
			envFile := mk(filepath.Base(cdir)+"-envfile/compose.yaml", service+"    env_file: ["+p+"]\n")
			for _, args := range [][]string{
				{"audit", p},
				{"audit", compose},
				{"verify", "--compose", p},
				{"verify", "--compose", compose},
				{"verify", "--compose", envFile},
				{"verify", "--from", p, "--", "busybox", "true"},
				{"fix", "--cap-add", "", p},
				{"fix", "--from", p, compose},
				{"report", "--format", "text", "-o", filepath.Join(dir, "r.txt"), p},
				{"report", "--format", "text", "-o", filepath.Join(dir, "r.txt"), "--before", p, compose},
			} {
				_, stderr, code := runMain(t, args...)
				named := strings.Contains(stderr, p) || strings.Contains(stderr, filepath.Join(cdir, ".env"))
				if code != ExitUsage || !named || !(strings.Contains(stderr, "not a regular file") || strings.Contains(stderr, "named pipe") || strings.Contains(stderr, "device")) {
					t.Errorf("%q: exit %d, want 2 and an error naming %s:\n%s", args, code, p, stderr)
				}
			}
		})
	}
}

// TestAuditBombExits2 audits an alias bomb beside an honest file: exit 2,
// an error naming the file and the budget, and the honest file audited.
func TestAuditBombExits2(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("m0: &m0 {k: v}\n")
	for i := 1; i < 40; i++ {
		b.WriteString(strings.NewReplacer("I", fmt.Sprint(i), "P", fmt.Sprint(i-1)).Replace("mI: &mI {<<: [*mP, *mP, *mP, *mP], kI: v}\n"))
	}
	b.WriteString("services:\n  web:\n    <<: *m39\n    image: x\n")
	bomb := filepath.Join(dir, "bomb", "compose.yaml")
	good := filepath.Join(dir, "good", "compose.yaml")
	for p, body := range map[string]string{bomb: b.String(), good: "services:\n  api:\n    image: y\n"} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stdout, stderr, code := runMain(t, "audit", "--fail-on", "never", "-o", "json", dir)
	if code != ExitUsage || !strings.Contains(stderr, bomb+":1:1: document too complex: alias/merge expansion budget exceeded: it needs more than its budget of") ||
		!strings.Contains(stdout, `"name": "api"`) {
		t.Errorf("exit %d\nstderr %s\nstdout %s", code, stderr, stdout)
	}
}

// TestEveryOpenRefusesBadFiles puts, in every place capdrop opens a file
// — a configuration named or walked, the .env beside a compose file, an
// env_file, an extends target, a run line's --env-file (in a script, a
// Dockerfile's LABEL RUN, a Quadlet unit's PodmanArgs, verify's run
// arguments), a Helm chart's Chart.yaml, .helmignore, values.yaml and
// templates, --values, a kustomization and its resources, --baseline, the
// --from documents of fix, verify and k8s recommend/verify, k8s profile's
// --agent-manifest, FIX's own file, report's documents and --before,
// --kubeconfig (which client-go would open with no guard) — a named pipe,
// a link to one, a link to /dev/zero and a sparse file of 4 GiB. Each verb
// must answer within a minute, and (but for a directory's entries, which
// are skipped unread) with exit 2 and an error naming the file (or the
// link capdrop was given) and what is wrong with it; where the place is
// one of several inputs, the others are still audited. Extends targets
// are not listed: capdrop never opens another file's extends (it says the
// service's settings are not audited).
func TestEveryOpenRefusesBadFiles(t *testing.T) {
	const service = "services:\n  web:\n    image: busybox\n    cap_drop: [ALL]\n"
	const chart = "apiVersion: v2\nname: c\nversion: 0.1.0\n"
	// A cluster nothing answers for: the document is read before any call.
	const kubeconfig = "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\nusers: [{name: u, user: {token: t}}]\n"
	const deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec:\n      containers: [{name: c, image: x}]\n"
	kinds := map[string]func(t *testing.T, at string){
		"named pipe": func(t *testing.T, at string) {
			if err := syscall.Mkfifo(at, 0o644); err != nil {
				t.Fatal(err)
			}
		},
		"link to a named pipe": func(t *testing.T, at string) {
			fifo := at + ".fifo"
			if err := syscall.Mkfifo(fifo, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(filepath.Base(fifo), at); err != nil {
				t.Fatal(err)
			}
		},
		"link to /dev/zero": func(t *testing.T, at string) {
			if err := os.Symlink("/dev/zero", at); err != nil {
				t.Fatal(err)
			}
		},
		"huge file": func(t *testing.T, at string) {
			f, err := os.Create(at)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.Truncate(4 << 30); err != nil { // sparse: no disk used
				t.Fatal(err)
			}
		},
	}
	// How a place answers a file it must not read. refused: exit 2 and
	// an error naming the file. walked: a directory's entry that is not
	// a regular file is never opened, and counted as skipped (a huge one
	// is refused).
	const (
		refused = iota
		walked
	)
	type place struct {
		name  string
		files map[string]string // relative path -> content; "BAD" is where the bad file goes
		args  func(dir string) []string
		want  int
		// rest, when set, is in the standard output whatever the bad
		// file is: the other inputs were still audited.
		rest string
	}
	places := []place{
		{"configuration named", nil, func(d string) []string { return []string{"audit", filepath.Join(d, "BAD")} }, refused, ""},
		{"configuration walked", map[string]string{"compose.yaml": service, "other/compose.yaml": "BAD"}, nil, walked, ""},
		{".env beside compose", map[string]string{"compose.yaml": service, ".env": "BAD"}, nil, refused, ""},
		{"env_file", map[string]string{"compose.yaml": service + "    env_file: [BAD]\n"}, nil, refused, ""},
		// The line itself is still audited, and so is the compose file
		// beside it: two workloads.
		{"run line --env-file", map[string]string{"run.sh": "#!/bin/sh\ndocker run --env-file BAD --cap-add NET_ADMIN busybox\n", "compose.yaml": service},
			nil, refused, `"workloads": 2,`},
		{"LABEL RUN --env-file", map[string]string{"Dockerfile": "FROM busybox\nLABEL RUN=\"docker run --env-file BAD --cap-add NET_ADMIN IMAGE\"\n", "compose.yaml": service},
			nil, refused, `"workloads": 2,`},
		{"PodmanArgs --env-file", map[string]string{"web.container": "[Container]\nImage=busybox\nPodmanArgs=--env-file BAD\n", "compose.yaml": service},
			nil, refused, `"workloads": 2,`},
		{"verify run arguments --env-file", nil, func(d string) []string {
			return []string{"verify", "--", "--env-file", filepath.Join(d, "BAD"), "busybox", "true"}
		}, refused, ""},
		{"k8s profile --agent-manifest", map[string]string{"kubeconfig": kubeconfig}, func(d string) []string {
			return []string{"k8s", "profile", "--kubeconfig", filepath.Join(d, "kubeconfig"), "--duration", "1m", "--agent-manifest", filepath.Join(d, "BAD"), "deployment/d"}
		}, refused, ""},
		{"Chart.yaml", map[string]string{"c/Chart.yaml": "BAD", "c/templates/d.yaml": deploy}, nil, walked, ""},
		{".helmignore", map[string]string{"c/Chart.yaml": chart, "c/.helmignore": "BAD", "c/templates/d.yaml": deploy}, nil, refused, ""},
		{"chart values.yaml", map[string]string{"c/Chart.yaml": chart, "c/values.yaml": "BAD", "c/templates/d.yaml": deploy}, nil, refused, ""},
		{"chart template", map[string]string{"c/Chart.yaml": chart, "c/templates/d.yaml": "BAD"}, nil, refused, ""},
		{"--values", map[string]string{"c/Chart.yaml": chart, "c/templates/d.yaml": deploy},
			func(d string) []string {
				return []string{"audit", "--values", filepath.Join(d, "BAD"), filepath.Join(d, "c")}
			}, refused, ""},
		{"kustomization", map[string]string{"k/kustomization.yaml": "BAD", "k/d.yaml": deploy}, nil, walked, ""},
		{"kustomize resource", map[string]string{"k/kustomization.yaml": "resources: [d.yaml]\n", "k/d.yaml": "BAD"}, nil, refused, ""},
		{"--baseline", map[string]string{"compose.yaml": service},
			func(d string) []string {
				return []string{"audit", "--baseline", filepath.Join(d, "BAD"), filepath.Join(d, "compose.yaml")}
			}, refused, ""},
		{"verify --compose .env", map[string]string{"compose.yaml": service, ".env": "BAD"},
			func(d string) []string { return []string{"verify", "--compose", filepath.Join(d, "compose.yaml")} }, refused, ""},
		{"verify --from", nil, func(d string) []string {
			return []string{"verify", "--from", filepath.Join(d, "BAD"), "--", "busybox", "true"}
		}, refused, ""},
		{"fix FILE", nil, func(d string) []string { return []string{"fix", "--cap-add", "", filepath.Join(d, "BAD")} }, refused, ""},
		{"fix --from", map[string]string{"compose.yaml": service},
			func(d string) []string {
				return []string{"fix", "--from", filepath.Join(d, "BAD"), filepath.Join(d, "compose.yaml")}
			}, refused, ""},
		{"--kubeconfig", nil, func(d string) []string {
			return []string{"audit", "--cluster", "--kubeconfig", filepath.Join(d, "BAD")}
		}, refused, ""},
		{"k8s recommend --from", nil, func(d string) []string {
			return []string{"k8s", "recommend", "--offline", "--from", filepath.Join(d, "BAD")}
		}, refused, ""},
		{"k8s verify --from", map[string]string{"kubeconfig": kubeconfig}, func(d string) []string {
			return []string{"k8s", "verify", "--kubeconfig", filepath.Join(d, "kubeconfig"), "--from", filepath.Join(d, "BAD"), "deployment/d"}
		}, refused, ""},
		{"report document", nil, func(d string) []string {
			return []string{"report", "--format", "text", "-o", filepath.Join(d, "r.txt"), filepath.Join(d, "BAD")}
		}, refused, ""},
		{"report --before", map[string]string{"compose.yaml": service}, func(d string) []string {
			return []string{"report", "--format", "text", "-o", filepath.Join(d, "r.txt"), "--before", filepath.Join(d, "BAD"), filepath.Join(d, "compose.yaml")}
		}, refused, ""},
	}
	for _, pl := range places {
		for kind, create := range kinds {
			t.Run(pl.name+"/"+kind, func(t *testing.T) {
				dir := t.TempDir()
				badRel := "BAD"
				for rel, body := range pl.files {
					if body == "BAD" {
						badRel = rel
						continue
					}
					p := filepath.Join(dir, rel)
					if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(p, []byte(strings.ReplaceAll(body, "BAD", filepath.Join(dir, "BAD"))), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				bad := filepath.Join(dir, badRel)
				if err := os.MkdirAll(filepath.Dir(bad), 0o755); err != nil {
					t.Fatal(err)
				}
				create(t, bad)
				args := []string{"audit", "--fail-on", "never", "-o", "json", dir}
				if pl.args != nil {
					args = pl.args(dir)
				}
				type res struct {
					stdout, stderr string
					code           int
				}
				done := make(chan res, 1)
				go func() {
					stdout, stderr, code := runMain(t, args...)
					done <- res{stdout, stderr, code}
				}()
				var r res
				select {
				case r = <-done:
				case <-time.After(time.Minute):
					t.Fatalf("%q: no answer in a minute (blocked on %s?)", args, bad)
				}
				what := "not a regular file|named pipe|character device|irregular file|is not in or below"
				if kind == "huge file" {
					what = "too large|larger than|limit|exceeds maximum"
				}
				switch {
				case pl.want == walked && kind != "huge file":
					if r.code != 0 || !regexp.MustCompile(`"skipped": [1-9]`).MatchString(r.stdout) {
						t.Errorf("%q: exit %d, want 0 and %s counted as skipped:\n%s\n%s", args, r.code, bad, r.stderr, r.stdout)
					}
					return
				}
				if pl.rest != "" && !strings.Contains(r.stdout, pl.rest) {
					t.Errorf("%q: the other inputs not audited (want %s in the output):\n%s\n%s", args, pl.rest, r.stderr, r.stdout)
				}
				// Helm's loader names a chart's file by its path in the chart.
				named := strings.Contains(r.stderr, bad) || (strings.HasPrefix(badRel, "c/") && strings.Contains(r.stderr, filepath.Join(dir, "c")) && strings.Contains(r.stderr, strings.TrimPrefix(badRel, "c/")))
				if r.code != ExitUsage || !named || !regexp.MustCompile(what).MatchString(r.stderr) {
					t.Errorf("%q: exit %d, want 2 and an error naming %s and matching %q:\n%s", args, r.code, bad, what, r.stderr)
				}
			})
		}
	}
}
