package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/capdrop/capdrop/internal/dockertest"
	"github.com/capdrop/capdrop/internal/term"
	"github.com/capdrop/capdrop/verify"
)

// verifyImage is busybox with a script that needs CHOWN and MKNOD (both in
// Docker's defaults).
func verifyImage(t *testing.T) string {
	t.Helper()
	return dockertest.Image(t, nil, `RUN ["/bin/busybox", "sh", "-c", "printf '#!/bin/sh\\ntouch /tmp/f && chown 1000 /tmp/f && echo chowned && mknod /tmp/n c 1 3 && echo mknoded\\n' > /needs && chmod 755 /needs"]`)
}

// verifyLeftovers fails t if capdrop verify containers of image remain when
// it ends. Only of this image: the verify package's tests run at the same
// time, and their containers are theirs to remove.
func verifyLeftovers(t *testing.T, image string) {
	t.Helper()
	count := func() []string {
		return strings.Fields(dockertest.Docker(t, "ps", "-aq", "--filter", "label="+verify.LabelSession, "--filter", "ancestor="+image))
	}
	before := map[string]bool{}
	for _, id := range count() {
		before[id] = true
	}
	t.Cleanup(func() {
		for _, id := range count() {
			if !before[id] {
				t.Errorf("container %s left behind", id)
				dockertest.Remove(id)
			}
		}
	})
}

func runCLI(ctx context.Context, args ...string) (int, string, string) {
	s, out, errOut := term.Test("")
	code := Main(ctx, args, s)
	return code, out.String(), errOut.String()
}

// schema compiles docs/verify.schema.json, the documented contract.
func schema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	sch, err := jsonschema.NewCompiler().Compile(filepath.Join("..", "..", "docs", "verify.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

// decodeResult checks the JSON output against the schema and decodes it.
func decodeResult(t *testing.T, out string) verify.Result {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
	if err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if err := schema(t).Validate(inst); err != nil {
		t.Fatalf("output does not match docs/verify.schema.json: %v\n%s", err, out)
	}
	var res verify.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	return res
}

func TestVerifyCommand(t *testing.T) {
	dockertest.Require(t)
	img := verifyImage(t)
	verifyLeftovers(t, img)
	ctx := context.Background()
	run := []string{"--", "--label", dockertest.Label + "=1", img, "/needs"}

	t.Run("passes", func(t *testing.T) {
		code, out, errOut := runCLI(ctx, append([]string{"verify", "--cap-add", "chown,mknod"}, run...)...)
		if code != 0 || !strings.Contains(out, "PASS  CAP_CHOWN CAP_MKNOD (2)") || !strings.Contains(out, "mknoded") || errOut != "" {
			t.Errorf("exit %d\n%s\n%s", code, out, errOut)
		}
	})

	t.Run("fails with evidence", func(t *testing.T) {
		code, out, _ := runCLI(ctx, append([]string{"verify", "-o", "json", "--cap-add", "chown"}, run...)...)
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		res := decodeResult(t, out)
		r := res.Runs[0]
		if res.Passed || r.ExitCode == nil || *r.ExitCode != 1 || !strings.Contains(r.Logs, "chowned") || !strings.Contains(r.Logs, "Operation not permitted") {
			t.Errorf("%+v", res)
		}
	})

	t.Run("minimize from the configuration", func(t *testing.T) {
		code, out, errOut := runCLI(ctx, append([]string{"verify", "--minimize", "-o", "json"}, run...)...)
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
		res := decodeResult(t, out)
		if strings.Join(res.Set, ",") != "CAP_CHOWN,CAP_MKNOD" || !res.OneMinimal || len(res.Start) != 14 || res.StartFrom != "the configuration (Docker's defaults)" {
			t.Errorf("set %v, 1-minimal %v, start %v from %q", res.Set, res.OneMinimal, res.Start, res.StartFrom)
		}
		if res.Stats.Runs != len(res.Runs) || res.Stats.Runs > 30 || res.Stats.AllSubsets != 16384 {
			t.Errorf("stats %+v", res.Stats)
		}
		t.Logf("minimized 14 → 2 in %d runs", res.Stats.Runs)

		// The result feeds the next step: --from reads its "set".
		path := filepath.Join(t.TempDir(), "verify.json")
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out, _ = runCLI(ctx, append([]string{"verify", "-o", "json", "--from", path}, run...)...)
		if res := decodeResult(t, out); code != 0 || !res.Passed || res.StartFrom != `verify result `+path+` ("set")` {
			t.Errorf("--from the result: exit %d, %+v", code, res)
		}
	})

	t.Run("from a profile", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "profile.json")
		if err := os.WriteFile(path, []byte(`{"version":1,"needed":["CAP_MKNOD"],"denied":[],"noise":[],"checks":{}}`), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out, _ := runCLI(ctx, append([]string{"verify", "--from", path}, run...)...)
		if code != 1 || !strings.Contains(out, "FAIL  CAP_MKNOD (1)") || !strings.Contains(out, `from profile `+path) {
			t.Errorf("exit %d\n%s", code, out)
		}
	})

	t.Run("start set fails", func(t *testing.T) {
		code, out, _ := runCLI(ctx, append([]string{"verify", "--minimize", "--retries", "0", "--cap-add", "kill"}, run...)...)
		if code != 1 || !strings.Contains(out, "the starting set (CAP_KILL) fails the check: nothing to minimize from") || strings.Count(out, "start    fail") != 1 {
			t.Errorf("exit %d\n%s", code, out)
		}
	})

	t.Run("bad docker arguments", func(t *testing.T) {
		code, _, errOut := runCLI(ctx, "verify", "--", "--frobnicate=1", img)
		if code != 2 || !strings.Contains(errOut, "capdrop cannot reproduce --frobnicate (arguments:1:12)") {
			t.Errorf("exit %d: %s", code, errOut)
		}
	})

	t.Run("image and check probe", func(t *testing.T) {
		code, out, errOut := runCLI(ctx, "verify", "--image", img, "--cap-add", "", "--check-running", "1s")
		// The image's command is /bin/sh, which exits at once without a
		// terminal: the check fails, with the exit as evidence.
		if code != 1 || !strings.Contains(out, "exited with code 0 after") || !strings.Contains(out, "want still running after 1s") {
			t.Errorf("exit %d\n%s\n%s", code, out, errOut)
		}
	})
}

// TestVerifyCommandInterrupted: Ctrl-C in the middle of a minimization stops
// it with exit 130 and leaves no container behind.
func TestVerifyCommandInterrupted(t *testing.T) {
	dockertest.Require(t)
	img := verifyImage(t)
	verifyLeftovers(t, img)
	ctx, stop := context.WithCancelCause(context.Background())
	cancel := func() { stop(errors.New(os.Interrupt.String() + " signal received")) } // as signal.NotifyContext says it
	var out bytes.Buffer
	s := &term.Streams{In: strings.NewReader(""), Out: &out, ErrOut: &out}
	started := make(chan struct{})
	go func() {
		// Cancel once the first trial's container exists.
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) {
			if ids, _ := dockertest.DockerErr("ps", "-q", "--filter", "label="+verify.LabelSession, "--filter", "label=interrupt-test"); ids != "" {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		close(started)
		cancel()
	}()
	code := Main(ctx, []string{"verify", "--minimize", "--check-running", "60s", "--", "--label", "interrupt-test=1", "--label", dockertest.Label + "=1", img, "sleep", "600"}, s)
	<-started
	if code != ExitInterrupted || !strings.Contains(out.String(), "interrupted after") {
		t.Errorf("exit %d\n%s", code, out.String())
	}
}
