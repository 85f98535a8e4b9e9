package fix

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/capdrop/capdrop/capset"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// yamlCase fixes one target of a fixture. mark is a piece of the target's
// first line; the test works out the target's extent from indentation, by
// itself, and demands every byte outside it stays.
type yamlCase struct {
	name   string // golden file testdata/golden/<name>.diff
	file   string
	target string // --service or --container
	add    string
	mark   string
	// obj and ctr find a Kubernetes container in the decoded result.
	obj, ctr string
}

var yamlCases = []yamlCase{
	// An own block list with comments between items, a merged-in cap_drop
	// to override, a quoted CAP_ name to keep, a line to delete with its
	// trailing comment.
	{name: "compose-web", file: "compose.yaml", target: "web", add: "NET_BIND_SERVICE,CHOWN,SETUID,SETGID", mark: "  web:"},
	// Flow lists with odd spacing and quoting; nothing added.
	{name: "compose-api-none", file: "compose.yaml", target: "api", add: "", mark: "  api:"},
	// cap_add is an alias of a shared anchor: replaced, anchor untouched.
	{name: "compose-pinger", file: "compose.yaml", target: "pinger", add: "NET_RAW", mark: "  pinger:"},
	// A service written as a flow mapping.
	{name: "compose-worker", file: "compose.yaml", target: "worker", add: "KILL", mark: "  worker:"},
	// The last value is a folded block scalar: insert before it.
	{name: "compose-cache", file: "compose.yaml", target: "cache", add: "SETUID,SETGID", mark: "  cache:"},

	// An add list with a CAP_ name containerd would double-prefix.
	{name: "kube-nginx", file: "kube.yaml", target: "web/nginx", add: "NET_BIND_SERVICE", mark: "- name: nginx       #", obj: "web", ctr: "nginx"},
	// No securityContext at all, in an init container.
	{name: "kube-migrate", file: "kube.yaml", target: "migrate", add: "CHOWN", mark: "- name: migrate", obj: "web", ctr: "migrate"},
	// securityContext: {} as Helm charts write it.
	{name: "kube-exporter", file: "kube.yaml", target: "exporter", add: "", mark: "- name: exporter", obj: "web", ctr: "exporter"},
	// A CronJob with lower-case all, which Pod Security rejects.
	{name: "kube-backup", file: "kube.yaml", target: "backup", add: "DAC_READ_SEARCH", mark: "- name: backup", obj: "backup", ctr: "backup"},
	// A Pod inside a List, the last container of the stream.
	{name: "kube-list", file: "kube.yaml", target: "Pod/nginx/nginx", add: "NET_BIND_SERVICE,SETUID,SETGID", mark: "    - name: nginx\n      image: nginx\n", obj: "nginx", ctr: "nginx"},

	// JSON laid out over lines stays JSON laid out over lines.
	{name: "json-postgres", file: "kube.json", target: "postgres", add: "CHOWN,FOWNER,SETUID,SETGID", mark: `"name": "postgres"`, obj: "db", ctr: "postgres"},
	{name: "json-metrics", file: "kube.json", target: "metrics", add: "SYS_TIME", mark: `"name": "metrics"`, obj: "db", ctr: "metrics"},

	// A container whose fields come from a shared anchor through <<: it
	// gets its own securityContext; the anchor stays.
	{name: "shared-two-init", file: "shared.yaml", target: "two-init", add: "", mark: "  - <<: *two", obj: "shared", ctr: "two-init"},
	// drop is an alias of another container's anchored list: replaced.
	{name: "shared-four", file: "shared.yaml", target: "four", add: "NET_BIND_SERVICE", mark: "  - name: four", obj: "shared", ctr: "four"},

	// Services of defaults: no value, a null, an empty flow mapping.
	{name: "compose-defaults-web", file: "compose-defaults.yaml", target: "web", add: "CHOWN", mark: "  web:"},
	{name: "compose-defaults-db", file: "compose-defaults.yaml", target: "db", add: "CHOWN,SETUID", mark: "  db:"},
	{name: "compose-defaults-cache", file: "compose-defaults.yaml", target: "cache", add: "", mark: "  cache:"},
	// A stream with a document that does not parse: the others are
	// edited, it stays byte for byte.
	{name: "stream-last", file: "stream.yaml", target: "last/app", add: "NET_ADMIN", mark: "  - name: app\n    image: busybox\n    securityContext:", obj: "last", ctr: "app"},
	// JSON with escapes yaml.v3 does not read ("\/").
	{name: "json-escape", file: "escape.json", target: "web", add: "NET_BIND_SERVICE", mark: `{"name": "web"`, obj: "web", ctr: "web"},
}

func (c yamlCase) options(t *testing.T) Options {
	set, err := capset.ParseSet(c.add)
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Add: set, AllowWiden: true}
	if strings.HasPrefix(c.file, "compose") {
		o.Service = c.target
	} else {
		o.Container = c.target
	}
	return o
}

func TestYAMLGolden(t *testing.T) {
	for _, c := range yamlCases {
		t.Run(c.name, func(t *testing.T) {
			src := readFixture(t, c.file)
			opts := c.options(t)
			res, err := Apply(c.file, src, opts)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Changed {
				t.Fatal("nothing changed")
			}
			golden(t, c.name+".diff", Unified(c.file, c.file, src, res.Output))
			checkYAMLResult(t, c, src, res.Output, opts)

			// The same file with CRLF line breaks gives the same result with
			// CRLF line breaks.
			crlf := bytes.ReplaceAll(src, []byte("\n"), []byte("\r\n"))
			res2, err := Apply(c.file, crlf, opts)
			if err != nil {
				t.Fatalf("CRLF: %v", err)
			}
			if want := bytes.ReplaceAll(res.Output, []byte("\n"), []byte("\r\n")); !bytes.Equal(res2.Output, want) {
				t.Errorf("CRLF result differs:\n%s", Unified("want", "got", want, res2.Output))
			}

			// Without the final line break, the result has none either.
			trimmed := bytes.TrimSuffix(src, []byte("\n"))
			res3, err := Apply(c.file, trimmed, opts)
			if err != nil {
				t.Fatalf("no final newline: %v", err)
			}
			if want := bytes.TrimSuffix(res.Output, []byte("\n")); !bytes.Equal(res3.Output, want) {
				t.Errorf("result without final newline differs:\n%s", Unified("want", "got", want, res3.Output))
			}
		})
	}
}

// checkYAMLResult asserts what a fix promises, by its own means: the result
// parses; every byte outside the target's extent is the original's; the
// target drops exactly ALL and adds exactly the set, spelled the way its
// format needs; a second run changes nothing.
func checkYAMLResult(t *testing.T, c yamlCase, src, out []byte, opts Options) {
	t.Helper()
	docs := decodeAll(t, out)
	orig := decodeAll(t, src)
	if len(docs) != len(orig) {
		t.Fatalf("%d documents, want %d", len(docs), len(orig))
	}

	start, end := targetExtent(t, src, c.mark, strings.HasSuffix(c.file, ".json"))
	if !bytes.HasPrefix(out, src[:start]) {
		t.Errorf("bytes before the target changed")
	}
	if !bytes.HasSuffix(out, src[end:]) {
		t.Errorf("bytes after the target changed")
	}

	if strings.HasPrefix(c.file, "compose") {
		var svc map[string]any
		for _, d := range docs {
			if s, ok := dig(d, "services", c.target).(map[string]any); ok {
				svc = s
			}
		}
		if svc == nil {
			t.Fatalf("service %s not in the result", c.target)
		}
		drops := stringList(t, svc["cap_drop"])
		hasAll := false
		for _, w := range drops {
			if strings.EqualFold(w, "ALL") {
				hasAll = true
			} else if _, err := capset.Parse(w); err != nil {
				t.Errorf("cap_drop holds %q, which Docker rejects", w)
			}
		}
		if !hasAll {
			t.Errorf("cap_drop is %q, without ALL", drops)
		}
		if got := setOf(t, stringList(t, svc["cap_add"]), false); got != opts.Add {
			t.Errorf("cap_add is %v, want %v", got, opts.Add)
		}
	} else {
		var ctr, before map[string]any
		for i := range docs {
			if m := findContainer(docs[i], "", c.obj, c.ctr); m != nil {
				ctr = m
				before = findContainer(orig[i], "", c.obj, c.ctr)
			}
		}
		if ctr == nil {
			t.Fatalf("container %s/%s not in the result", c.obj, c.ctr)
		}
		sc, _ := ctr["securityContext"].(map[string]any)
		caps, _ := sc["capabilities"].(map[string]any)
		if drops := stringList(t, caps["drop"]); len(drops) != 1 || drops[0] != "ALL" {
			t.Errorf("drop is %q, want exactly [ALL]", drops)
		}
		if got := setOf(t, stringList(t, caps["add"]), true); got != opts.Add {
			t.Errorf("add is %v, want %v", got, opts.Add)
		}
		oldSC, _ := before["securityContext"].(map[string]any)
		if ape, ok := oldSC["allowPrivilegeEscalation"]; ok {
			if sc["allowPrivilegeEscalation"] != ape {
				t.Errorf("allowPrivilegeEscalation changed from %v to %v", ape, sc["allowPrivilegeEscalation"])
			}
		} else if sc["allowPrivilegeEscalation"] != false {
			t.Errorf("allowPrivilegeEscalation is %v, want false", sc["allowPrivilegeEscalation"])
		}
	}

	again, err := Apply(c.file, out, opts)
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if again.Changed || !bytes.Equal(again.Output, out) {
		t.Errorf("second run changed the file again:\n%s", Unified("first", "second", out, again.Output))
	}
}

// targetExtent returns the byte range of the target: from the line holding
// mark to just before the next line indented no deeper than it (YAML), or
// from the line before mark to the end of the first line indented less
// (JSON: the object's braces).
func targetExtent(t *testing.T, src []byte, mark string, json bool) (int, int) {
	t.Helper()
	i := bytes.Index(src, []byte(mark))
	if i < 0 {
		t.Fatalf("mark %q not in the fixture", mark)
	}
	lines := bytes.SplitAfter(src, []byte("\n"))
	off, first := 0, -1
	for n, l := range lines {
		if off+len(l) > i {
			first = n
			break
		}
		off += len(l)
	}
	indent := func(l []byte) int { return len(l) - len(bytes.TrimLeft(l, " ")) }
	in := indent(lines[first])
	if strings.HasPrefix(strings.TrimLeft(mark, " "), "- ") {
		// A list item: its keys sit two further in.
		in++
	}
	start := off
	if json {
		first--
		start -= len(lines[first])
	}
	end := start
	for n := first; n < len(lines); n++ {
		l := lines[n]
		blank := len(bytes.TrimSpace(l)) == 0 || bytes.HasPrefix(bytes.TrimSpace(l), []byte("#"))
		if n > first && !blank && !json && indent(l) < in {
			return start, end
		}
		end += len(l)
		if n > first+1 && !blank && json && indent(l) < in {
			return start, end
		}
	}
	return start, end
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it):\n%s", name, Unified("want", "got", want, []byte(got)))
	}
}

func decodeAll(t *testing.T, b []byte) []any {
	t.Helper()
	var docs []any
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
		// JSON, which yaml.v3 does not read whole ("\/").
		dec := json.NewDecoder(bytes.NewReader(b))
		for dec.More() {
			var v any
			if err := dec.Decode(&v); err != nil {
				return append(docs, nil)
			}
			docs = append(docs, v)
		}
		return docs
	}
	// Document by document: one that does not parse is a nil.
	for _, d := range regexp.MustCompile(`(?m)^---[ \t\r]*$`).Split(string(b), -1) {
		if strings.TrimSpace(d) == "" {
			continue
		}
		var v any
		if err := yaml.Unmarshal([]byte(d), &v); err != nil {
			v = nil
		}
		docs = append(docs, v)
	}
	return docs
}

func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// findContainer walks decoded Kubernetes objects for the container named
// ctr in the object named obj.
func findContainer(v any, objName, obj, ctr string) map[string]any {
	switch v := v.(type) {
	case map[string]any:
		if _, ok := v["kind"]; ok {
			if n, ok := dig(v, "metadata", "name").(string); ok {
				objName = n
			}
		}
		for k, x := range v {
			if k == "containers" || k == "initContainers" || k == "ephemeralContainers" {
				if l, ok := x.([]any); ok && objName == obj {
					for _, it := range l {
						if m, ok := it.(map[string]any); ok && m["name"] == ctr {
							return m
						}
					}
				}
			}
			if m := findContainer(x, objName, obj, ctr); m != nil {
				return m
			}
		}
	case []any:
		for _, x := range v {
			if m := findContainer(x, objName, obj, ctr); m != nil {
				return m
			}
		}
	}
	return nil
}

func stringList(t *testing.T, v any) []string {
	t.Helper()
	if v == nil {
		return nil
	}
	l, ok := v.([]any)
	if !ok {
		t.Fatalf("%v is not a list", v)
	}
	out := make([]string, len(l))
	for i, x := range l {
		s, ok := x.(string)
		if !ok {
			t.Fatalf("%v is not a name", x)
		}
		out[i] = s
	}
	return out
}

// setOf parses capability names; for Kubernetes a CAP_ prefix is an error
// (containerd would double it and grant nothing).
func setOf(t *testing.T, names []string, kube bool) capset.Set {
	t.Helper()
	var s capset.Set
	for _, n := range names {
		if kube && strings.HasPrefix(strings.ToUpper(n), "CAP_") {
			t.Errorf("%q has the CAP_ prefix containerd doubles", n)
		}
		c, err := capset.Parse(n)
		if err != nil {
			t.Errorf("%q: %v", n, err)
			continue
		}
		s = s.With(c)
	}
	return s
}

func TestYAMLNothingToDo(t *testing.T) {
	for _, c := range []struct{ file, target, add string }{
		{"compose.yaml", "api", "NET_BIND_SERVICE"}, // [ all ] and [ 'NET_BIND_SERVICE' ] are right as written
		{"compose.yaml", "pinger", "NET_RAW,NET_BIND_SERVICE"},
	} {
		src := readFixture(t, c.file)
		set, _ := capset.ParseSet(c.add)
		res, err := Apply(c.file, src, Options{Add: set, Service: c.target})
		if c.target == "pinger" {
			// pinger has no cap_drop: there is something to do.
			if err != nil || !res.Changed {
				t.Errorf("%s: changed %v, err %v", c.target, res != nil && res.Changed, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if res.Changed || !bytes.Equal(res.Output, src) {
			t.Errorf("%s: changed an already right service", c.target)
		}
	}
}

func TestYAMLRefusals(t *testing.T) {
	for _, c := range []struct {
		file, service, container, add string
		want                          error
		msg                           string
	}{
		{"compose.yaml", "db", "", "CHOWN", ErrRefused, "privileged: true (line 60)"},
		{"compose.yaml", "", "", "CHOWN", ErrAmbiguous, "--service (web, api, pinger, db, worker, cache)"},
		{"compose.yaml", "nope", "", "CHOWN", ErrNoTarget, `no service "nope"`},
		{"compose.yaml", "web", "", "SYS_PTRACE,CHOWN", ErrWiden, "does not hold SYS_PTRACE today"},
		{"compose.yaml", "", "web", "CHOWN", ErrInput, "--service, not --container"},
		{"kube.yaml", "", "shell", "", ErrRefused, "privileged: true"},
		{"kube.yaml", "", "nginx", "", ErrAmbiguous, "--container (web/nginx, nginx/nginx)"},
		{"kube.yaml", "", "", "", ErrAmbiguous, "migrate, web/nginx, exporter, backup, shell, nginx/nginx"},
		{"kube.yaml", "", "backup", "SYS_ADMIN", ErrWiden, "SYS_ADMIN"},
		{"kube.yaml", "web", "", "", ErrInput, "--container, not --service"},
		{"shared.yaml", "", "one", "", ErrRefused, "alias *sc (line 13)"},
		{"shared.yaml", "", "two", "", ErrRefused, "anchor &two (line 14), which is also used at line 28"},
		{"shared.yaml", "", "three", "", ErrRefused, "anchor &drops (line 21)"},
	} {
		src := readFixture(t, c.file)
		set, _ := capset.ParseSet(c.add)
		_, err := Apply(c.file, src, Options{Add: set, Service: c.service, Container: c.container})
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s %s%s: got %v, want %v containing %q", c.file, c.service, c.container, err, c.want, c.msg)
		}
		var fe *Error
		if err != nil && !errors.As(err, &fe) {
			t.Errorf("%v is not a *fix.Error naming the file", err)
		}
	}
}

// TestYAMLEquivalentSpellings: a target that already drops ALL and adds
// exactly the set, in any spelling its runtime reads the same way, is left
// alone byte for byte; spellings the runtime reads differently are fixed.
func TestYAMLEquivalentSpellings(t *testing.T) {
	for _, c := range []struct {
		name, src string
		changed   bool
	}{
		{"compose lower all, prefixes, any order", "services:\n  a:\n    cap_drop: [all]\n    cap_add: [cap_chown, 'NET_BIND_SERVICE', Cap_Chown]\n", false},
		{"compose drop ALL among others", "services:\n  a:\n    cap_drop:\n      - NET_RAW\n      - ALL\n    cap_add: [NET_BIND_SERVICE, CHOWN]\n", false},
		{"compose alias", "x: &c [CHOWN, NET_BIND_SERVICE]\nservices:\n  a:\n    cap_drop: [ALL]\n    cap_add: *c\n", false},
		{"compose CAP_ALL is not ALL for Docker", "services:\n  a:\n    cap_drop: [CAP_ALL]\n    cap_add: [CHOWN, NET_BIND_SERVICE]\n", true},
		{"compose missing cap", "services:\n  a:\n    cap_drop: [ALL]\n    cap_add: [CHOWN]\n", true},
		{"kube lower-case names", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    image: x\n    securityContext:\n      allowPrivilegeEscalation: true\n      capabilities:\n        add: [net_bind_service, chown]\n        drop: [\"ALL\"]\n", false},
		{"kube lower-case all", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    image: x\n    securityContext:\n      allowPrivilegeEscalation: false\n      capabilities:\n        drop: [all]\n        add: [CHOWN, NET_BIND_SERVICE]\n", true},
		{"kube CAP_ prefix", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    image: x\n    securityContext:\n      allowPrivilegeEscalation: false\n      capabilities:\n        drop: [ALL]\n        add: [CAP_CHOWN, NET_BIND_SERVICE]\n", true},
		{"kube no allowPrivilegeEscalation", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    image: x\n    securityContext:\n      capabilities:\n        drop: [ALL]\n        add: [CHOWN, NET_BIND_SERVICE]\n", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts := Options{Add: capset.Of(capset.CHOWN, capset.NET_BIND_SERVICE), AllowWiden: true}
			res, err := Apply("x.yaml", []byte(c.src), opts)
			if err != nil {
				t.Fatal(err)
			}
			if res.Changed != c.changed {
				t.Fatalf("changed = %v, want %v\n%s", res.Changed, c.changed, Unified("a", "b", []byte(c.src), res.Output))
			}
			if !c.changed && string(res.Output) != c.src {
				t.Errorf("output differs from input")
			}
		})
	}
}
