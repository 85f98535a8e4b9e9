package compose

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	. "github.com/capdrop/capdrop/source/internal/wltest"
	"github.com/capdrop/capdrop/workload"
)

const cs = workload.ComposeService

func read(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParse(t *testing.T) {
	dotenv := ParseDotEnv(read(t, ".env"))
	// The environment wins over .env: NGINX_TAG comes from Env.
	opts := Options{Env: map[string]string{"NGINX_TAG": "1.29", "PRIV": ""}, DotEnv: dotenv}
	got, errs := Parse("docker-compose.yml", read(t, "docker-compose.yml"), opts)
	Compare(t, got, []Summary{
		{Pos: "7:3", Kind: cs, Name: "web", Image: "nginx:1.29", Runtime: "docker",
			Add: []string{"NET_BIND_SERVICE@12:9"}, Drop: []string{"ALL@3:14"}, CapsPos: "11:5",
			User: "1000:1000@13:11", NNP: "true@5:7",
			Attrs: map[string]string{"container_name": "shop_web", "service": "web"}},
		{Pos: "14:3", Kind: cs, Name: "worker", Image: "worker:$literal", Runtime: "docker",
			Privileged: "false@18:17", Add: []string{"NET_BIND_SERVICE@12:9", "CHOWN@17:15"}, Drop: []string{"ALL@3:14"},
			CapsPos: "17:5", User: "1000:1000@13:11", NNP: "true@5:7",
			Attrs: map[string]string{"extends": "web"}},
		{Pos: "19:3", Kind: cs, Name: "admin", Image: "worker:$literal", Runtime: "docker",
			Privileged: "true@22:17", Add: []string{"NET_BIND_SERVICE@12:9", "CHOWN@17:15"}, Drop: []string{"ALL@3:14"},
			CapsPos: "17:5", User: "0@23:11", NNP: "false@24:20",
			Attrs: map[string]string{"extends": "worker web"}},
		{Pos: "25:3", Kind: cs, Name: "required", Runtime: "docker", Add: []string{}, Drop: []string{}, CapsPos: "26:5"},
		{Pos: "27:3", Kind: cs, Name: "plain", Runtime: "docker", Add: []string{}, Drop: []string{}, CapsPos: "27:3"},
	})
	want := []string{"docker-compose.yml:26:12: service required: required variable MUST is missing a value: set MUST"}
	if e := Errors(errs); !reflect.DeepEqual(e, want) {
		t.Errorf("errors %q", e)
	}
}

func TestBadServices(t *testing.T) {
	got, errs := Parse("bad.yml", read(t, "bad.yml"), Options{Env: map[string]string{}})
	Compare(t, got, []Summary{
		{Pos: "2:3", Kind: cs, Name: "a", Runtime: "docker", Add: []string{}, Drop: []string{}, CapsPos: "3:5"},
		{Pos: "6:3", Kind: cs, Name: "c", Runtime: "docker", Add: []string{}, Drop: []string{}, CapsPos: "7:5"},
		{Pos: "8:3", Kind: cs, Name: "d", Runtime: "docker", Add: []string{}, Drop: []string{}, CapsPos: "9:5"},
	})
	want := []string{
		"bad.yml:3:14: service a: cap_add must be a list",
		"bad.yml:4:17: service a: privileged must be true or false, not \"maybe\"",
		"bad.yml:5:6: service b must be a mapping",
		"bad.yml:6:3: service c: extends cycle",
		"bad.yml:9:12: service d: invalid interpolation format for \"${UNCLOSED\": unclosed ${",
	}
	if e := Errors(errs); !reflect.DeepEqual(e, want) {
		t.Errorf("errors:\n%s", strings.Join(e, "\n"))
	}
}

func TestInterpolate(t *testing.T) {
	env := map[string]string{"SET": "v", "EMPTY": ""}
	lookup := func(n string) (string, bool) { v, ok := env[n]; return v, ok }
	for in, want := range map[string]string{
		"$SET": "v", "${SET}": "v", "a${SET}b": "avb", "$$SET": "$SET", "$$": "$",
		"${UNSET:-d}": "d", "${EMPTY:-d}": "d", "${EMPTY-d}": "", "${UNSET-d}": "d",
		"${SET:+alt}": "alt", "${EMPTY:+alt}": "", "${EMPTY+alt}": "alt", "${UNSET+alt}": "",
		"${UNSET:-${SET}}": "v", "${UNSET:-${ALSO:-deep}}": "deep", "${UNSET}": "", "${SET:?boom}": "v",
	} {
		got, _, err := Interpolate(in, lookup)
		if err != nil || got != want {
			t.Errorf("%q = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"${UNSET:?boom}", "${EMPTY:?boom}", "${UNSET?boom}", "${", "${}", "$", "a $ b", "${A:}", "${A!}"} {
		if _, _, err := Interpolate(in, lookup); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
	if _, _, err := Interpolate("${EMPTY?boom}", lookup); err != nil {
		t.Errorf("${EMPTY?boom}: %v (set but empty is fine without the colon)", err)
	}
}

func TestDotEnv(t *testing.T) {
	env := ParseDotEnv([]byte("A=1\nexport B='x y'\nC=\"q\\\"uote\"\n# c\nD=${A}2 # trailing\nbad line\n"))
	want := map[string]string{"A": "1", "B": "x y", "C": `q"uote`, "D": "12"}
	if !reflect.DeepEqual(env, want) {
		t.Errorf("got %q", env)
	}
}

// The cases of verify's former copy of the interpolation, kept as a second,
// independently written table; a lone $ is an error, as in compose-go.
func TestInterpolateMore(t *testing.T) {
	m := map[string]string{"A": "a", "E": "", "N": "9"}
	vars := func(n string) (string, bool) { v, ok := m[n]; return v, ok }
	cases := map[string]string{
		"plain":             "plain",
		"$A-${A}":           "a-a",
		"$$A":               "$A",
		"${U}":              "",
		"${U:-d}":           "d",
		"${E:-d}":           "d",
		"${E-d}":            "",
		"${U-d}":            "d",
		"${A:+x}":           "x",
		"${E:+x}":           "",
		"${E+x}":            "x",
		"${U:-${A}b}":       "ab",
		"${U:-${U2:-deep}}": "deep",
		"${N}0":             "90",
	}
	for in, want := range cases {
		got, _, err := Interpolate(in, vars)
		if err != nil || got != want {
			t.Errorf("%q: %q, %v; want %q", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"${U:?need U}": "required variable U is missing a value: need U",
		"${E:?}":       "required variable E is missing a value",
		"${A":          "unclosed ${",
		"${}":          "invalid interpolation format",
		"${A*b}":       "invalid interpolation format",
		"x$":           "a lone $",
		"$1":           "write $$ for a literal $",
	} {
		if _, _, err := Interpolate(in, vars); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want %q", in, err, want)
		}
	}
}

// TestExtendsChain: a long chain of extends is followed once per service,
// within the walk budget, and services built on the same base each get
// their own copy of it. A chain whose copies outgrow the budget is an
// error.
func TestExtendsChain(t *testing.T) {
	var b strings.Builder
	b.WriteString("services:\n  s0:\n    cap_add: [CHOWN]\n    pid: host\n    volumes: [/a:/a]\n")
	const n = 1000
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "  s%d:\n    extends: s%d\n    cap_add: [C%d]\n", i, i-1, i)
	}
	b.WriteString("  x:\n    extends: s0\n    ipc: host\n    volumes: [/x:/x]\n    cap_add: [X]\n")
	b.WriteString("  y:\n    extends: s0\n    uts: host\n    volumes: [/y:/y]\n")
	ws, errs := Parse("c.yml", []byte(b.String()), Options{Env: map[string]string{}})
	if len(errs) > 0 || len(ws) != n+2 {
		t.Fatalf("%d workloads, errors %v", len(ws), errs)
	}
	last := ws[n-1]
	if len(last.CapAdd) != n || last.CapAdd[0].Text != "CHOWN" || last.CapAdd[n-1].Text != fmt.Sprintf("C%d", n-1) {
		t.Errorf("s%d adds %d words", n-1, len(last.CapAdd))
	}
	if got := strings.Count(last.Attrs["extends"], " ") + 1; got != n-1 {
		t.Errorf("s%d extends %d services", n-1, got)
	}
	x, y := ws[n], ws[n+1]
	if len(y.CapAdd) != 1 || y.Host.Namespaces.IPC != nil || len(y.Host.Mounts) != 2 || y.Host.Namespaces.PID == nil {
		t.Errorf("y sees x's settings: adds %v, ipc %v, mounts %v", y.CapAdd, y.Host.Namespaces.IPC, y.Host.Mounts)
	}
	if len(x.CapAdd) != 2 || x.Host.Namespaces.UTS != nil || len(x.Host.Mounts) != 2 {
		t.Errorf("x: adds %v, uts %v, mounts %v", x.CapAdd, x.Host.Namespaces.UTS, x.Host.Mounts)
	}
}

func TestExtendsBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("services:\n  s0:\n    cap_add: [CHOWN]\n")
	for i := 1; i < 3000; i++ {
		fmt.Fprintf(&b, "  s%d:\n    extends: s%d\n    cap_add: [C%d]\n", i, i-1, i)
	}
	_, errs := Parse("c.yml", []byte(b.String()), Options{Env: map[string]string{}})
	if e := Errors(errs); len(e) != 1 || !strings.Contains(e[0], "budget exceeded") {
		t.Errorf("errors %q", e)
	}
}

// TestUnsetVariablesAreUncertain: a variable without a value or default
// in a key that decides capabilities, privileges or host access makes the
// workload uncertain, at the value holding it; an extending service keeps
// a base's list values and replaces its scalars; environment values and
// variables set (even empty) or defaulted do not count.
func TestUnsetVariablesAreUncertain(t *testing.T) {
	data := `services:
  base:
    image: app:${TAG}
    cap_add: ["${EXTRA_CAP}"]
    environment:
      PASSWORD: ${DB_PASSWORD}
  child:
    extends: base
    image: app:1
    user: ${UID}:${GID}
    volumes: ["${DATA_DIR}:/data", "$DATA_DIR/x:/x"]
  quiet:
    image: app:${TAG:-1}
    cap_drop: [ALL]
    user: ${SET}
    security_opt: ["${EMPTY}no-new-privileges:true"]
    command: ["${ARGS}"]
`
	ws, errs := Parse("c.yml", []byte(data), Options{Env: map[string]string{"SET": "1000", "EMPTY": ""}})
	if len(errs) > 0 {
		t.Fatal(Errors(errs))
	}
	got := map[string][]string{}
	for _, w := range ws {
		for _, u := range w.Uncertain {
			got[w.Name] = append(got[w.Name], fmt.Sprintf("%d:%d %s", u.Pos.Line, u.Pos.Col, strings.SplitN(u.Reason, " no value", 2)[0]))
		}
	}
	want := map[string][]string{
		"base": {"3:12 image: ${TAG} has", "4:15 cap_add: ${EXTRA_CAP} has"},
		"child": {"4:15 cap_add: ${EXTRA_CAP} has", "10:11 user: ${GID}, ${UID} have",
			"11:15 volumes: ${DATA_DIR} has", "11:36 volumes: ${DATA_DIR} has"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("uncertain\n got %q\nwant %q", got, want)
	}
	if r := ws[0].Uncertain[0].Reason; !strings.Contains(r, "not in the environment or .env") {
		t.Errorf("reason %q does not say where capdrop looked", r)
	}
}
