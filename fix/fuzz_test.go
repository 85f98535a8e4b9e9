package fix

import (
	"bytes"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/source"
	"github.com/capdrop/capdrop/workload"
)

// fuzzYAML runs a rewriter on arbitrary input and demands either a clean
// refusal (one of the package's errors, never a failed self-check or a
// panic) or a result that parses, gives the target exactly the set, and
// needs no second change.
func fuzzYAML(t *testing.T, format Format, src []byte, mask uint64, pick uint8) {
	if len(src) > 1<<15 {
		return
	}
	// A hang is a failure too: crash with every goroutine's stack.
	watchdog := time.AfterFunc(10*time.Second, func() {
		debug.SetTraceback("all")
		panic(fmt.Sprintf("fix took more than 10s on:\n%q", src))
	})
	defer watchdog.Stop()
	set := capset.Set(mask) & capset.Known
	opts := Options{Add: set, AllowWiden: true, Format: format}
	res, err := Apply("fuzz.yaml", src, opts)
	var amb *AmbiguousError
	if errors.As(err, &amb) {
		choice := amb.Choices[int(pick)%len(amb.Choices)]
		if format == Compose {
			opts.Service = choice
		} else {
			opts.Container = choice
		}
		res, err = Apply("fuzz.yaml", src, opts)
	}
	if err != nil {
		var sc *selfCheckError
		if errors.As(err, &sc) {
			t.Fatalf("self-check failed: %v\ninput:\n%s", err, src)
		}
		for _, e := range []error{ErrAmbiguous, ErrNoTarget, ErrRefused, ErrWiden, ErrInput} {
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
	docs := decodeAll(t, res.Output)
	switch format {
	case Compose:
		name := strings.TrimPrefix(res.Target, "service ")
		var found []map[string]any
		for _, d := range docs {
			if s, ok := dig(d, "services", name).(map[string]any); ok {
				found = append(found, s)
			}
		}
		if len(found) != 1 {
			return // duplicate names across documents: nothing to compare with
		}
		svc := found[0]
		drops := stringList(t, svc["cap_drop"])
		hasAll := false
		for _, w := range drops {
			hasAll = hasAll || strings.EqualFold(w, "ALL")
		}
		if !hasAll {
			t.Fatalf("cap_drop %q lacks ALL\n%s", drops, res.Output)
		}
		if got := setOf(t, stringList(t, svc["cap_add"]), false); got != set {
			t.Fatalf("cap_add is %v, want %v\n%s", got, set, res.Output)
		}
	}
	again, err := Apply("fuzz.yaml", res.Output, opts)
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
	} {
		f.Add([]byte(s), uint64(0x21), uint8(1))
	}
	f.Fuzz(func(t *testing.T, src []byte, mask uint64, pick uint8) {
		fuzzYAML(t, Compose, src, mask, pick)
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
	} {
		f.Add([]byte(s), uint64(0x21), uint8(1))
	}
	f.Fuzz(func(t *testing.T, src []byte, mask uint64, pick uint8) {
		fuzzYAML(t, Kubernetes, src, mask, pick)
	})
}

// fuzzRun is fuzzYAML for run lines: a clean refusal, or a result whose
// command (read back by the audit sources) drops ALL and adds exactly the
// set, and which a second run leaves alone.
func fuzzRun(t *testing.T, name string, src []byte, mask uint64, pick uint8) {
	if len(src) > 1<<14 {
		return
	}
	watchdog := time.AfterFunc(10*time.Second, func() {
		debug.SetTraceback("all")
		panic(fmt.Sprintf("fix took more than 10s on:\n%q", src))
	})
	defer watchdog.Stop()
	set := capset.Set(mask) & capset.Known
	opts := Options{Add: set, AllowWiden: true}
	res, err := Apply(name, src, opts)
	var amb *AmbiguousError
	if errors.As(err, &amb) {
		opts.Line, _ = strconv.Atoi(amb.Choices[int(pick)%len(amb.Choices)])
		res, err = Apply(name, src, opts)
	}
	if err != nil {
		var sc *selfCheckError
		if errors.As(err, &sc) {
			t.Fatalf("self-check failed: %v\ninput:\n%s", err, src)
		}
		for _, e := range []error{ErrAmbiguous, ErrNoTarget, ErrRefused, ErrWiden, ErrInput} {
			if errors.Is(err, e) {
				return
			}
		}
		t.Fatalf("unclassified error: %v", err)
	}
	if !res.Changed {
		return
	}
	ws, _ := source.Parse(name, res.Output, source.Options{})
	for _, w := range ws {
		if w.Pos.Line != res.Pos.Line || w.Pos.Col != res.Pos.Col {
			continue
		}
		if got := setOf(t, workload.Texts(w.CapAdd), false); got != set {
			t.Fatalf("adds %v, want %v\n%s", got, set, res.Output)
		}
	}
	again, err := Apply(name, res.Output, opts)
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, res.Output)
	}
	if again.Changed {
		t.Fatalf("second run changed it again\n%s", res.Output)
	}
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
		fuzzRun(t, "run.sh", src, mask, pick)
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
		fuzzRun(t, "Dockerfile", src, mask, pick)
	})
}
