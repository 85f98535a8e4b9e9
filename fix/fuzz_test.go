package fix

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/merge"
	"github.com/capdrop/capdrop/source"
)

// fuzzFix runs fix on arbitrary input, picking a target when the file
// holds several, and demands either a clean refusal (one of the package's
// errors, never a failed self-check or a panic) or a result that the
// audit's own reading gives exactly the set, that check (the format's own
// test that nothing outside the target changed) accepts, and that a second
// run leaves alone. A hang is a failure too.
func fuzzFix(t *testing.T, name string, format Format, src []byte, mask uint64, pick uint8, check func(t *testing.T, set capset.Set, out []byte)) {
	if len(src) > 1<<15 {
		return
	}
	watchdog := time.AfterFunc(10*time.Second, func() {
		debug.SetTraceback("all")
		panic(fmt.Sprintf("fix took more than 10s on:\n%q", src))
	})
	defer watchdog.Stop()
	set := capset.Set(mask) & capset.Known
	opts := Options{Add: set, AllowWiden: true, Format: format, Source: source.Options{Env: map[string]string{}}}
	res, err := Apply(name, src, opts)
	var amb *AmbiguousError
	if errors.As(err, &amb) {
		choice := amb.Choices[int(pick)%len(amb.Choices)]
		switch amb.What {
		case "service":
			opts.Service = choice
		case "container":
			opts.Container = choice
		default:
			opts.Line, _ = strconv.Atoi(choice)
		}
		res, err = Apply(name, src, opts)
	}
	if err != nil {
		var sc *selfCheckError
		if errors.As(err, &sc) {
			t.Fatalf("self-check failed: %v\ninput:\n%s", err, src)
		}
		for _, e := range []error{ErrAmbiguous, ErrNoTarget, ErrRefused, ErrWiden, ErrInput, ErrReadOnly} {
			if errors.Is(err, e) {
				return
			}
		}
		t.Fatalf("unclassified error: %v", err)
	}
	if !res.Changed {
		if !bytes.Equal(res.Output, src) {
			t.Fatal("unchanged result differs from the input")
		}
		return
	}
	ws, _, _, err := read(name, res.Output, opts)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, w := range ws {
		if w.Pos.Line == res.Pos.Line && w.Pos.Col == res.Pos.Col && w.Name == res.Workload {
			found = true
			if r := merge.Compute(w, merge.Options{}); !exact(r, set) {
				t.Fatalf("the result gives %s (bounding %s, refusal %v), want exactly %s\n%s", r.Held(), r.Sets.Bounding, r.Refusal, set, res.Output)
			}
		}
	}
	if !found {
		t.Fatalf("%s is gone from the result\n%s", res.Workload, res.Output)
	}
	if check != nil {
		check(t, set, res.Output)
	}
	again, err := Apply(name, res.Output, opts)
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, res.Output)
	}
	if again.Changed {
		t.Fatalf("second run changed it again\n%s", res.Output)
	}
}

func FuzzCompose(f *testing.F) {
	// Small seeds: the fuzzer minimizes every new input, and big ones make
	// that slow; the fixtures' features are all here in small.
	f.Add([]byte("x-h: &h\n  cap_drop:\n    - NET_RAW\nservices:\n  web:\n    <<: *h\n    image: \"n\"  # c\n    cap_add:\n      # p\n      - NET_BIND_SERVICE\n      - \"CAP_CHOWN\"  # c\n      - SYS_ADMIN\n  api:\n    cap_drop: [ all ]\n    cap_add: [ 'KILL' ]\n"), uint64(0x400), uint8(0))
	for _, s := range []string{
		"services:\n  a:\n    image: x\n",
		"services: {a: {image: x, cap_add: [NET_RAW]}}",
		"services:\n  a:\n    cap_add:\n    - A\n    # c\n    - CHOWN\n",
		"x: &c [KILL]\nservices:\n  a:\n    cap_drop: *c\n  b:\n    cap_add: *c\n",
		"services:\r\n  a:\r\n    image: x",
		"services:\n  a:\n    image: x\n    command: |\n      a\n      # b\n",
		"services:\n  a:\n    cap_add: CHOWN\n    cap_drop:\n",
		"services:\n  a: &a\n    image: x\n  b:\n    <<: *a\n    cap_add: [KILL]\n",
		// Services of defaults, and a chain of extends.
		"services:\n  a:\n  b: ~ # c\n  c: {}\n",
		"services:\n  a: {cap_add: [KILL]}\n  b: {extends: a}\n  c:\n    extends: b\n    cap_add: [CHOWN]\n  d: {extends: {service: c}}\n",
	} {
		f.Add([]byte(s), uint64(0x21), uint8(1))
	}
	f.Fuzz(func(t *testing.T, src []byte, mask uint64, pick uint8) {
		fuzzFix(t, "fuzz.yaml", Compose, src, mask, pick, nil)
	})
}

func FuzzKubernetes(f *testing.F) {
	f.Add([]byte("kind: Deployment\nmetadata: {name: w}\nspec:\n  template:\n    spec:\n      initContainers:\n        - name: m\n          args: [\"a\"]\n      containers:\n        - name: n  # s\n          securityContext:\n            capabilities:\n              add:\n                - NET_BIND_SERVICE\n                - CAP_SYS_TIME  # c\n---\nkind: List\nitems:\n- kind: Pod\n  spec:\n    containers:\n    - name: e\n      securityContext: {}\n"), uint64(0x400), uint8(0))
	f.Add([]byte("{\n  \"kind\": \"Pod\",\n  \"spec\": {\n    \"containers\": [\n      {\n        \"name\": \"a\"\n      },\n      {\n        \"name\": \"b\",\n        \"securityContext\": {\n          \"capabilities\": {\n            \"add\": [\n              \"SYS_TIME\"\n            ]\n          }\n        }\n      }\n    ]\n  }\n}\n"), uint64(0x41), uint8(1))
	f.Add([]byte("x: &sc\n  capabilities:\n    add: [NET_ADMIN]\nkind: Pod\nspec:\n  containers:\n  - name: one\n    securityContext: *sc\n  - &two\n    name: two\n  - name: three\n    securityContext:\n      capabilities:\n        drop: &d [NET_RAW]\n  - name: four\n    securityContext:\n      capabilities:\n        drop: *d\n  initContainers:\n  - <<: *two\n    name: t2\n"), uint64(0), uint8(3))
	for _, s := range []string{
		"kind: Pod\nspec:\n  containers:\n  - name: a\n    image: b\n",
		`{"kind":"Pod","spec":{"containers":[{"name":"a","securityContext":{}}]}}`,
		"kind: Pod\nspec:\n  containers:\n  - name: a\n    securityContext:\n      capabilities:\n        add:\n          - CAP_KILL\n",
		"kind: Pod\nspec:\n  containers: [{name: a, securityContext: {capabilities: {drop: [all]}}}]\n",
		"kind: Pod\nspec:\n  containers:\n  - name: a\n    securityContext:\n    image: b",
		// A document that does not parse between two that do; JSON with
		// escapes YAML does not read.
		"kind: Pod\nspec: {containers: [{name: a}]}\n---\nkind: [\n---\nkind: Pod\nspec:\n  containers:\n  - name: b\n    securityContext: null\n",
		`{"kind":"Pod","metadata":{"annotations":{"u":"http:\/\/x\u00e9"}},"spec":{"containers":[{"name":"a","securityContext":{"capabilities":{"add":["KILL"]}}}]}}`,
	} {
		f.Add([]byte(s), uint64(0x21), uint8(1))
	}
	f.Fuzz(func(t *testing.T, src []byte, mask uint64, pick uint8) {
		fuzzFix(t, "fuzz.yaml", Kubernetes, src, mask, pick, nil)
	})
}

func FuzzScript(f *testing.F) {
	for _, s := range []string{
		"docker run -d --name web \\\n  --cap-add=NET_ADMIN \\\n  --cap-add NET_BIND_SERVICE \\\n  -p 80:80 \\\n  nginx\n",
		"sudo podman run --rm -it --cap-add=chown,kill busybox sh -c 'echo --cap-add=SYS_ADMIN'\n",
		"docker run --cap-drop=all --cap-add=Cap_Chown \"shop/api\" # c\ndocker run --privileged x\n",
		"if true; then\n\tdocker create --cap-add \"KILL\" -v a:b img; fi\n",
	} {
		f.Add([]byte(s), uint64(0x421), uint8(0))
	}
	f.Fuzz(func(t *testing.T, src []byte, mask uint64, pick uint8) {
		fuzzFix(t, "run.sh", "", src, mask, pick, nil)
	})
}

func FuzzDockerfile(f *testing.F) {
	for _, s := range []string{
		"FROM scratch\nLABEL a=b \\\n  RUN=\"docker run -d --name NAME \\\n    --cap-add=SYS_ADMIN \\\n    -p 80:80 IMAGE\"\n",
		"FROM x\nLABEL RUN docker run --cap-add=KILL IMAGE\nLABEL INSTALL='podman run --cap-drop all IMAGE'\n",
	} {
		f.Add([]byte(s), uint64(0x20), uint8(0))
	}
	f.Fuzz(func(t *testing.T, src []byte, mask uint64, pick uint8) {
		fuzzFix(t, "Dockerfile", "", src, mask, pick, nil)
	})
}

func FuzzOCI(f *testing.F) {
	for _, s := range []string{
		`{"ociVersion":"1.0.2","process":{"args":["sh"],"capabilities":{"bounding":["CAP_KILL","CAP_CHOWN"],"effective":["CAP_KILL"],"permitted":["CAP_KILL"],"inheritable":[],"ambient":["CAP_KILL"]}},"root":{"path":"rootfs"}}`,
		"{\n  \"process\": {\n    \"user\": {\"uid\": 1000},\n    \"capabilities\": {\n      \"bounding\": [\n        \"CAP_NET_RAW\"\n      ]\n    }\n  }\n}\n",
		`{"process":{"args":["sh"]}}`,
		`{"process":{"capabilities":{}}}`,
		`{"process":{"capabilities":null,"noNewPrivileges":true}}`,
		"process:\n  capabilities:\n    bounding: [CAP_KILL]\n",
	} {
		f.Add([]byte(s), uint64(0x21), uint8(0))
	}
	f.Fuzz(func(t *testing.T, src []byte, mask uint64, pick uint8) {
		fuzzFix(t, "config.json", OCI, src, mask, pick, func(t *testing.T, set capset.Set, out []byte) {
			// Read as JSON by encoding/json, the file is the same but for
			// process.capabilities.
			var a, b any
			if json.Unmarshal(src, &a) != nil {
				return
			}
			if err := json.Unmarshal(out, &b); err != nil {
				t.Fatalf("the result is not JSON: %v\n%s", err, out)
			}
			for _, v := range []any{a, b} {
				if m, ok := v.(map[string]any); ok {
					if p, ok := m["process"].(map[string]any); ok {
						delete(p, "capabilities")
					}
				}
			}
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("more than process.capabilities changed\n%s", out)
			}
		})
	})
}

func FuzzQuadlet(f *testing.F) {
	for _, s := range []string{
		"[Unit]\nDescription=Web\n\n[Container]\nImage=nginx\nAddCapability=NET_ADMIN SYS_TIME\nAddCapability=\nAddCapability=CAP_NET_BIND_SERVICE \\\n  CHOWN\nDropCapability=all\nUser=1000\n\n[Install]\nWantedBy=default.target\n",
		"[Container]\nImage=x\n",
		"[Container]\r\nImage=x\r\nDropCapability=ALL\r\nAddCapability=KILL",
		"[Container]\nImage=x\nPodmanArgs=--cap-add=sys_nice\n# AddCapability=CHOWN\n[Service]\nAddCapability=KILL\n",
	} {
		f.Add([]byte(s), uint64(0x21), uint8(0))
	}
	f.Fuzz(func(t *testing.T, src []byte, mask uint64, pick uint8) {
		fuzzFix(t, "fuzz.container", Quadlet, src, mask, pick, func(t *testing.T, set capset.Set, out []byte) {
			// Without AddCapability= and DropCapability= lines (and the
			// continuation lines of those), both files are the same.
			if a, b := otherLines(src), otherLines(out); a != b {
				t.Fatalf("lines other than capability lines changed:\n%s\n---\n%s", a, b)
			}
		})
	})
}

// otherLines drops the capability lines of a unit, continuations included,
// and line breaks.
func otherLines(b []byte) string {
	var out []string
	cont := false
	for _, l := range strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n") {
		key := strings.TrimLeft(l, " \t")
		capLine := cont || strings.HasPrefix(key, "AddCapability=") || strings.HasPrefix(key, "DropCapability=")
		cont = capLine && strings.HasSuffix(l, "\\")
		if !capLine && l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
