package verify

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/knowledge"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ with the current output")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./verify -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./verify -run %s -update to accept):\n--- got\n%s\n--- want\n%s", name, t.Name(), got, want)
	}
}

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestComposeService(t *testing.T) {
	dir, _ := filepath.Abs("testdata/compose")
	tg, err := FromCompose("testdata/compose/compose.yaml", "web", env(map[string]string{"FROM_SHELL": "sh", "HOME": "/home/u"}))
	if err != nil {
		t.Fatal(err)
	}
	if tg.Kind != "compose" || tg.Image != "registry.local/web:1.2" || tg.User != "101:101" || !tg.NonRoot() {
		t.Errorf("target %+v", tg)
	}
	if got, _ := tg.ConfiguredSet(capset.Known); got != capset.Of(capset.NET_BIND_SERVICE, capset.CHOWN) {
		t.Errorf("configured set %v", got)
	}
	notes := strings.Join(tg.Notes, "\n")
	for _, want := range []string{"restart: ignored", "ports: ignored", "container_name: ignored", "healthcheck: ignored", "depends_on: ignored", "default bridge"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	body := tg.Body(capset.Of(capset.CHOWN), map[string]string{LabelSession: "s"})
	b, err := json.MarshalIndent(body, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.ReplaceAll(b, []byte(dir), []byte("$DIR"))
	golden(t, "compose/web.body.golden", append(b, '\n'))

	// The things most likely to go wrong, spelled out.
	cfg := body
	host := body["HostConfig"].(map[string]any)
	if !reflect.DeepEqual(cfg["Entrypoint"], []any{"/docker-entrypoint.sh", "--verbose", "two words"}) {
		t.Errorf("entrypoint %v", cfg["Entrypoint"])
	}
	if !reflect.DeepEqual(cfg["Env"], []any{"A=1", "B=two words", "C=3", "FROM_SHELL=sh", "LOG_LEVEL=from-dotenv"}) {
		t.Errorf("env %v", cfg["Env"])
	}
	binds := host["Binds"].([]any)
	if binds[0] != dir+"/html:/srv/html:ro" || binds[1] != "shop_cache:/var/cache/nginx" || binds[2] != "shared-logs:/var/log/nginx" {
		t.Errorf("binds %v", binds)
	}
	if host["Sysctls"].(map[string]any)["net.ipv4.ip_unprivileged_port_start"] != "1024" {
		t.Errorf("sysctls %v", host["Sysctls"])
	}
}

func TestComposeRefusals(t *testing.T) {
	_, err := FromCompose("testdata/compose/compose.yaml", "db", env(map[string]string{"TAG": "1"}))
	if err == nil {
		t.Fatal("db uses networks, links and secrets: want refusals")
	}
	msg := err.Error()
	for _, want := range []string{
		"testdata/compose/compose.yaml:70: service db: networks: a trial runs alone",
		"testdata/compose/compose.yaml:71: service db: links:",
		"testdata/compose/compose.yaml:72: service db: secrets:",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	var ce *ComposeError
	if !errors.As(err, &ce) {
		t.Errorf("not a ComposeError: %T", err)
	}

	_, err = FromCompose("testdata/compose/compose.yaml", "builder", env(nil))
	if err == nil || !strings.Contains(err.Error(), ":75: service builder: build: capdrop does not build images") || strings.Contains(err.Error(), "no image") {
		t.Errorf("builder: %v", err)
	}
	_, err = FromCompose("testdata/compose/compose.yaml", "", env(nil))
	if err == nil || !strings.Contains(err.Error(), "compose.yaml:12: 3 services (web, db, builder): choose one with --service") {
		t.Errorf("no service named: %v", err)
	}
	_, err = FromCompose("testdata/compose/compose.yaml", "nope", env(nil))
	if err == nil || !strings.Contains(err.Error(), `no service "nope" (the file has: web, db, builder)`) {
		t.Errorf("missing service: %v", err)
	}
	// ${TAG:?…} refuses an empty value too; the shell's empty TAG wins over .env.
	_, err = FromCompose("testdata/compose/compose.yaml", "web", env(map[string]string{"TAG": ""}))
	if err == nil || !strings.Contains(err.Error(), "compose.yaml:15: service web: image: required variable TAG is missing a value: set TAG") {
		t.Errorf("empty TAG: %v", err)
	}
}

func TestComposeErrors(t *testing.T) {
	cases := []struct {
		yaml, want string
	}{
		{"services: [", "c.yaml: "},
		{"- a", "not a compose file"},
		{"x: 1", "no services: mapping"},
		{"services:\n  s: 3", "c.yaml:2: service \"s\" is not a mapping"},
		{"services:\n  s:\n    image: a\n    frobnicate: 1\n    gpus: all", "c.yaml:4: service s: frobnicate: not supported by capdrop verify"},
		{"services:\n  s:\n    image: a\n    frobnicate: 1\n    gpus: all", "c.yaml:5: service s: gpus: not supported"},
		{"services:\n  s:\n    command: x", "service s: no image"},
		{"services:\n  s:\n    image: ${X:?give X}", "c.yaml:3: service s: image: required variable X is missing a value: give X"},
		{"services:\n  s:\n    image: a\n    command: \"echo 'unterminated\"", "c.yaml:4: service s: command: unterminated single quote"},
		{"services:\n  s:\n    image: a\n    network_mode: service:db", `network_mode: "service:db" cannot be reproduced`},
		{"services:\n  s:\n    image: a\n    shm_size: lots", `shm_size: "lots" is not a size`},
		{"services:\n  s:\n    image: a\n    volumes:\n      - type: npipe\n        target: /x", `volume type "npipe" not supported`},
		{"services:\n  s:\n    image: a\n    environment: 3", "environment: want a mapping or a list"},
		{"services:\n  s:\n    image: a\n    user: {a: 1}", "user: want a string, not a mapping"},
		{"services:\n  s:\n    image: a\n    read_only: maybe", `read_only: "maybe" is not true or false`},
		{"services:\n  s:\n    image: a\n    env_file: nothere.env", "nothere.env: no such file or directory"},
	}
	dir := t.TempDir()
	for _, tc := range cases {
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, []byte(tc.yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := FromCompose(p, "s", env(nil))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

func TestComposeMinimal(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "compose.yml")
	src := "services:\n  app:\n    image: busybox\n    command: sleep 5\n    network_mode: none\n    networks: [default]\n"
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	tg, err := FromCompose(p, "", env(nil)) // the only service
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := tg.ConfiguredSet(capset.Known); got != knowledge.MustDefault(knowledge.Docker) {
		t.Errorf("no cap settings: configured %v, want Docker's defaults", got)
	}
	r := &Runner{Target: tg, Check: Check{TCP: 80}}
	if err := r.Validate(); err == nil || !strings.Contains(err.Error(), "no network") {
		t.Errorf("TCP check on network none: %v", err)
	}
	b := tg.Body(0, nil)
	if !reflect.DeepEqual(b["Cmd"], []any{"sleep", "5"}) {
		t.Errorf("cmd %v", b["Cmd"])
	}
}

func FuzzCompose(f *testing.F) {
	seed, _ := os.ReadFile("testdata/compose/compose.yaml")
	f.Add(string(seed), "web")
	f.Add("services:\n  s:\n    image: a\n    volumes: [x, 'a:b:c:d', {type: bind}]\n", "s")
	f.Add("services:\n  s: &a {image: a}\n  t: {<<: *a, command: [1, 2]}\n", "t")
	f.Add("services:\n  s:\n    image: ${A:-${B:?x}}\n    ulimits: {n: {soft: x}}\n", "s")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, src, service string) {
		tg, err := parseCompose([]byte(src), "f.yaml", dir, service, composeEnv{getenv: env(nil)})
		if err != nil {
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatal("empty error")
			}
			return
		}
		if tg.Image == "" {
			t.Fatalf("accepted a service without image: %q", src)
		}
		// Whatever was accepted makes a create request that is valid JSON.
		if _, err := json.Marshal(tg.Body(capset.Known, map[string]string{"a": "b"})); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSplitWords(t *testing.T) {
	cases := map[string][]string{
		``:                        nil,
		`  a  b `:                 {"a", "b"},
		`nginx -g 'daemon off;'`:  {"nginx", "-g", "daemon off;"},
		`sh -c "echo \"hi\" \$x"`: {"sh", "-c", `echo "hi" $x`},
		`a\ b c`:                  {"a b", "c"},
		`"" ''`:                   {"", ""},
		`a"b"'c'd`:                {"abcd"},
		`"a\nb"`:                  {`a\nb`},
		"a\\\nb":                  {"ab"},
	}
	for in, want := range cases {
		got, err := SplitWords(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{`'a`, `"a`, `a\`} {
		if _, err := SplitWords(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func FuzzSplitWords(f *testing.F) {
	for _, s := range []string{`nginx -g 'daemon off;'`, `sh -c "a \"b\""`, `a\ b`, `'`, `"\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := SplitWords(s)
		if err != nil {
			return
		}
		// Quoting each word with single quotes and splitting again gives
		// the same words.
		var q []string
		for _, w := range words {
			q = append(q, "'"+strings.ReplaceAll(w, "'", `'\''`)+"'")
		}
		again, err := SplitWords(strings.Join(q, " "))
		if err != nil || !reflect.DeepEqual(again, words) && !(len(again) == 0 && len(words) == 0) {
			t.Fatalf("%q → %q → %q (%v)", s, words, again, err)
		}
	})
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"64m": 64 << 20, "1g": 1 << 30, "512k": 512 << 10, "100": 100, "2MB": 2 << 20, "1.5g": 3 << 29, "10b": 10} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("%q: %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "m", "-1", "x", "99999999999g"} {
		if _, err := parseBytes(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
