package compose

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/capdrop/capdrop/source/runargs"
	"github.com/capdrop/capdrop/workload"
)

// TestRunConfigMatchesDockerCompose: docker-compose is the judge of what a
// compose file configures. For each fixture, the run configuration capdrop
// reads for every service equals what `docker-compose config` resolves
// (interpolation with defaults, extends, anchors and merges, env_file).
func TestRunConfigMatchesDockerCompose(t *testing.T) {
	if _, err := exec.LookPath("docker-compose"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("docker-compose is not installed (scripts/test-env installs it)")
		}
		t.Skip("docker-compose is not installed")
	}
	env := map[string]string{"TAG": "1.2", "LOG_LEVEL": "debug", "FROM_SHELL": "shell", "PORT": "9090"}
	for _, fixture := range []string{"testdata/run/compose.yaml", "testdata/run/extends.yaml"} {
		t.Run(filepath.Base(fixture), func(t *testing.T) {
			data, err := os.ReadFile(fixture)
			if err != nil {
				t.Fatal(err)
			}
			// docker-compose 1.x (Debian's) knows neither the top-level
			// name nor env_file's {path, required} form: the judged copy
			// leaves them out, and capdrop reads the same copy.
			dir := t.TempDir()
			var kept []string
			lines := strings.Split(string(data), "\n")
			for i := 0; i < len(lines); i++ {
				l := lines[i]
				switch {
				case strings.HasPrefix(l, "name:"), strings.Contains(l, "depends_on: [db]"):
					continue // (db links web back: a cycle docker-compose refuses)
				case strings.Contains(l, "- path: missing.env"):
					i++ // and its required: line
					continue
				}
				kept = append(kept, l)
			}
			data = []byte(strings.Join(kept, "\n"))
			abs := filepath.Join(dir, filepath.Base(fixture))
			if err := os.WriteFile(abs, data, 0o644); err != nil {
				t.Fatal(err)
			}
			if env, err := os.ReadFile("testdata/run/web.env"); err == nil {
				os.WriteFile(filepath.Join(dir, "web.env"), env, 0o644)
			}
			ws, errs := Parse(abs, data, Options{Env: env, DotEnv: nil})
			for _, e := range errs {
				t.Errorf("capdrop: %v", e)
			}
			judged := dockerComposeConfig(t, abs, env)
			for _, w := range ws {
				want, ok := judged[w.Name]
				if !ok {
					t.Errorf("docker-compose has no service %s", w.Name)
					continue
				}
				compare(t, w, want)
			}
		})
	}
}

// service is the part of `docker-compose config` output compared.
type service struct {
	Image       string            `yaml:"image"`
	User        string            `yaml:"user"`
	Command     any               `yaml:"command"`
	Entrypoint  any               `yaml:"entrypoint"`
	Environment map[string]string `yaml:"environment"`
	Labels      map[string]string `yaml:"labels"`
	Sysctls     map[string]string `yaml:"sysctls"`
	WorkingDir  string            `yaml:"working_dir"`
	Hostname    string            `yaml:"hostname"`
	ReadOnly    bool              `yaml:"read_only"`
	Init        *bool             `yaml:"init"`
	Tty         bool              `yaml:"tty"`
	StdinOpen   bool              `yaml:"stdin_open"`
	StopSignal  string            `yaml:"stop_signal"`
	DNS         any               `yaml:"dns"`
	ExtraHosts  []string          `yaml:"extra_hosts"`
	GroupAdd    []string          `yaml:"group_add"`
	OomScoreAdj *int              `yaml:"oom_score_adj"`
	PidsLimit   *int64            `yaml:"pids_limit"`
	Restart     string            `yaml:"restart"`
	CapAdd      []string          `yaml:"cap_add"`
	Ulimits     map[string]any    `yaml:"ulimits"`
}

func dockerComposeConfig(t *testing.T, file string, env map[string]string) map[string]service {
	t.Helper()
	cmd := exec.Command("docker-compose", "-f", file, "config")
	cmd.Dir = filepath.Dir(file)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("docker-compose config: %v\n%s", err, stderr)
	}
	var doc struct {
		Services map[string]service `yaml:"services"`
	}
	if err := yaml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return doc.Services
}

// words reads command/entrypoint as docker-compose prints them: a list, or
// a string it splits when it creates the container.
func words(v any) *[]string {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		out := []string{}
		for _, e := range x {
			out = append(out, e.(string))
		}
		return &out
	case string:
		// docker-compose leaves it to docker-py, which splits it as a
		// POSIX shell would (shlex).
		out, err := runargs.Split(x)
		if err != nil {
			return nil
		}
		return &out
	}
	return nil
}

func compare(t *testing.T, w workload.Workload, s service) {
	t.Helper()
	name := w.Name
	rc := w.Run
	env := map[string]string{}
	for _, kv := range rc.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	if len(s.Environment) == 0 {
		s.Environment = map[string]string{}
	}
	check := func(what string, got, want any) {
		t.Helper()
		if !equal(got, want) {
			t.Errorf("%s: %s: capdrop %v, docker-compose %v", name, what, got, want)
		}
	}
	check("image", w.Image, s.Image)
	check("user", w.User, s.User)
	check("environment", env, s.Environment)
	check("labels", nonNil(rc.Labels), nonNil(s.Labels))
	check("sysctls", nonNil(rc.Sysctls), nonNil(s.Sysctls))
	check("working_dir", rc.WorkingDir, s.WorkingDir)
	check("hostname", rc.Hostname, s.Hostname)
	check("read_only", rc.ReadOnly, s.ReadOnly)
	check("init", rc.Init, s.Init)
	check("tty", rc.Tty, s.Tty)
	check("stdin_open", rc.StdinOpen, s.StdinOpen)
	check("stop_signal", rc.StopSignal, s.StopSignal)
	check("restart", rc.Restart, s.Restart)
	check("extra_hosts", sorted(rc.ExtraHosts), sorted(s.ExtraHosts))
	check("group_add", sorted(rc.GroupAdd), sorted(s.GroupAdd))
	check("oom_score_adj", rc.OomScoreAdj, s.OomScoreAdj)
	check("pids_limit", rc.PidsLimit, s.PidsLimit)
	check("cap_add", sorted(workload.Texts(w.CapAdd)), sorted(s.CapAdd))
	var dns []string
	switch d := s.DNS.(type) {
	case string:
		dns = []string{d}
	case []any:
		for _, e := range d {
			dns = append(dns, e.(string))
		}
	}
	check("dns", sorted(rc.DNS), sorted(dns))
	if s.Command != nil || rc.Command != nil {
		check("command", rc.Command, words(s.Command))
	}
	if s.Entrypoint != nil || rc.Entrypoint != nil {
		check("entrypoint", rc.Entrypoint, words(s.Entrypoint))
	}
	ul := map[string]string{}
	for k, v := range s.Ulimits {
		switch x := v.(type) {
		case int:
			ul[k] = strconv.Itoa(x) + ":" + strconv.Itoa(x)
		case map[string]any:
			ul[k] = strconv.Itoa(x["soft"].(int)) + ":" + strconv.Itoa(x["hard"].(int))
		}
	}
	got := map[string]string{}
	for _, u := range rc.Ulimits {
		got[u.Name] = strconv.FormatInt(u.Soft, 10) + ":" + strconv.FormatInt(u.Hard, 10)
	}
	check("ulimits", got, ul)
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	if out == nil {
		out = []string{}
	}
	return out
}

func equal(a, b any) bool {
	switch x := a.(type) {
	case *bool:
		y := b.(*bool)
		return (x == nil) == (y == nil) && (x == nil || *x == *y)
	case *int:
		y := b.(*int)
		return (x == nil) == (y == nil) && (x == nil || *x == *y)
	case *int64:
		y := b.(*int64)
		return (x == nil) == (y == nil) && (x == nil || *x == *y)
	case *[]string:
		y := b.(*[]string)
		if x == nil || y == nil {
			return x == nil && y == nil
		}
		return slices.Equal(*x, *y)
	case []string:
		return slices.Equal(x, b.([]string))
	case map[string]string:
		y := b.(map[string]string)
		if len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if y[k] != v {
				return false
			}
		}
		return true
	}
	return a == b
}
