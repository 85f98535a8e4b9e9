package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/internal/dockertest"
	"github.com/capdrop/capdrop/internal/term"
	"github.com/capdrop/capdrop/report"
)

// psCase is one container the integration test starts.
type psCase struct {
	name string
	args []string
}

// The containers of the acceptance test. --privileged runs as
// --user 1000 because root on the test machine lacks CAP_SYS_RESOURCE in its
// own bounding set, so a privileged root container cannot start there
// (the test machine runs in a sandbox that withholds it); real hosts do not
// have this limit.
var psCases = []psCase{
	{"defaults", nil},
	{"drop-all", []string{"--cap-drop=all"}},
	{"drop-all-add-nbs", []string{"--cap-drop=all", "--cap-add=net_bind_service"}},
	{"add-sys-admin", []string{"--cap-add=sys_admin"}},
	{"privileged-user", []string{"--privileged", "--user", "1000"}},
	{"user-1000", []string{"--user", "1000"}},
	{"drop-add-net-raw", []string{"--cap-drop=net_raw", "--cap-add=net_raw"}},
	{"no-new-privs", []string{"--security-opt", "no-new-privileges"}},
}

func psCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	s, out, errOut := term.Test("")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code = Main(ctx, args, s)
	return out.String(), errOut.String(), code
}

type started struct {
	psCase
	id, fullName string
	pid          int
	kernel       capset.Sets
	uid          int
}

// startPSContainers starts every case (each running sleep as its main
// process and one more sleep as a child) and reads the kernel's view of
// each main process.
func startPSContainers(t *testing.T) (string, []started) {
	dockertest.Require(t)
	img := dockertest.Image(t, nil)
	suffix := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	var out []started
	for _, c := range psCases {
		name := "capdrop-ps-" + c.name + "-" + suffix
		args := append([]string{"--name", name}, c.args...)
		args = append(args, img, "sh", "-c", "sleep 600 & exec sleep 600")
		id := dockertest.Start(t, args...)
		out = append(out, started{psCase: c, id: id, fullName: name})
	}
	for i := range out {
		sets, st := dockertest.KernelSets(t, out[i].id)
		if st.Name != "sleep" {
			// The exec has not happened yet: read again once it has.
			time.Sleep(200 * time.Millisecond)
			sets, st = dockertest.KernelSets(t, out[i].id)
		}
		out[i].pid, out[i].kernel, out[i].uid = st.Pid, sets, st.UID[1]
	}
	return img, out
}

// TestPSAgainstDocker is the acceptance test of capdrop ps against a real
// engine and the real kernel, on one set of containers.
func TestPSAgainstDocker(t *testing.T) {
	img, cs := startPSContainers(t)
	t.Run("processes", func(t *testing.T) { testPSProcesses(t, img, cs) })
	t.Run("containers", func(t *testing.T) { testPSContainers(t, cs) })
	t.Run("without engine", func(t *testing.T) { testPSWithoutEngine(t, cs) })
}

// For each container's main process, `capdrop ps -a -o json` reports
// exactly the five sets the kernel shows in /proc/<pid>/status, attributed
// to the right container name, ID and image.
func testPSProcesses(t *testing.T, img string, cs []started) {
	stdout, stderr, code := psCLI(t, "ps", "-a", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	checkPSSchema(t, "ps.schema.json", stdout)
	var procs []report.PSProcess
	if err := json.Unmarshal([]byte(stdout), &procs); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	byPID := map[int]report.PSProcess{}
	for _, p := range procs {
		byPID[p.PID] = p
	}
	for _, c := range cs {
		t.Run(c.name, func(t *testing.T) {
			p, ok := byPID[c.pid]
			if !ok {
				t.Fatalf("main process %d of %s not listed", c.pid, c.fullName)
			}
			if p.Container == nil || p.Container.Name != c.fullName || p.Container.ID != c.id || p.Container.Runtime != "docker" || p.Container.Image != img {
				t.Errorf("attributed to %+v, want docker %s (%s) image %s", p.Container, c.fullName, c.id, img)
			}
			if want := c.kernel.Names(); fmt.Sprint(p.Sets) != fmt.Sprint(want) {
				t.Errorf("sets\ncapdrop: %+v\nkernel:  %+v", p.Sets, want)
			}
			if p.Hex != c.kernel.Hex() {
				t.Errorf("hex %+v, kernel %+v", p.Hex, c.kernel.Hex())
			}
			if p.EUID != c.uid || p.Command != "sleep" {
				t.Errorf("euid %d command %q; kernel says euid %d, sleep", p.EUID, p.Command, c.uid)
			}
			wantNNP := c.name == "no-new-privs"
			if p.NoNewPrivs != wantNNP || p.Seccomp != "filter" && c.name != "privileged-user" {
				t.Errorf("no_new_privs %v seccomp %s", p.NoNewPrivs, p.Seccomp)
			}
			// The child sleep is attributed to the same container.
			n := 0
			for _, q := range procs {
				if q.Container != nil && q.Container.ID == c.id {
					n++
				}
			}
			if n != 2 {
				t.Errorf("%d processes attributed to %s, want 2", n, c.fullName)
			}
		})
	}

	// Sanity of the test itself: the cases do give different sets.
	if cs[0].kernel.Bounding == cs[1].kernel.Bounding || !cs[1].kernel.Bounding.IsEmpty() {
		t.Errorf("defaults and --cap-drop=all should differ: %v %v", cs[0].kernel.Bounding, cs[1].kernel.Bounding)
	}
}

// The per-container view: the engine's configuration, the main PID, the
// live sets and the mismatches the configuration explains.
func testPSContainers(t *testing.T, cs []started) {
	stdout, stderr, code := psCLI(t, "ps", "--containers", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	checkPSSchema(t, "ps-containers.schema.json", stdout)
	var ctrs []report.PSContainer
	if err := json.Unmarshal([]byte(stdout), &ctrs); err != nil {
		t.Fatal(err)
	}
	byID := map[string]report.PSContainer{}
	for _, c := range ctrs {
		byID[c.ID] = c
	}
	for _, c := range cs {
		t.Run(c.name, func(t *testing.T) {
			got, ok := byID[c.id]
			if !ok {
				t.Fatalf("%s not listed", c.fullName)
			}
			if got.MainPID != c.pid || got.Processes != 2 || got.Name != c.fullName {
				t.Errorf("main pid %d processes %d name %q; want %d, 2, %q", got.MainPID, got.Processes, got.Name, c.pid, c.fullName)
			}
			if got.Hex == nil || *got.Hex != c.kernel.Hex() {
				t.Errorf("sets %+v, kernel %+v", got.Hex, c.kernel.Hex())
			}
			if got.Config == nil {
				t.Fatal("no configuration from the engine")
			}
			kinds := map[string]bool{}
			for _, m := range got.Mismatches {
				kinds[m.Kind] = true
			}
			switch c.name {
			case "privileged-user":
				if !got.Config.Privileged || got.Config.User != "1000" || !kinds["add-not-effective"] {
					t.Errorf("config %+v mismatches %+v", got.Config, got.Mismatches)
				}
			case "drop-all-add-nbs":
				if strings.Join(got.Config.CapDrop, ",") != "ALL" || len(got.Config.CapAdd) != 1 || len(got.Mismatches) != 0 {
					t.Errorf("config %+v mismatches %+v", got.Config, got.Mismatches)
				}
			case "add-sys-admin":
				if strings.Join(got.BeyondDefault, ",") != "CAP_SYS_ADMIN" || len(got.Riskiest) == 0 || got.Riskiest[0].Name != "CAP_SYS_ADMIN" {
					t.Errorf("beyond %v riskiest %v", got.BeyondDefault, got.Riskiest)
				}
			case "defaults", "drop-add-net-raw", "user-1000", "no-new-privs":
				if len(got.BeyondDefault) != 0 || len(got.Mismatches) != 0 {
					t.Errorf("beyond %v mismatches %+v", got.BeyondDefault, got.Mismatches)
				}
			}
		})
	}

	// --container selects one container's processes, by name or ID prefix.
	for _, ref := range []string{cs[3].fullName, cs[3].id[:12]} {
		stdout, stderr, code = psCLI(t, "ps", "--container", ref, "-o", "json")
		var procs []report.PSProcess
		if code != 0 || json.Unmarshal([]byte(stdout), &procs) != nil || len(procs) != 2 {
			t.Errorf("--container %s: exit %d, %d processes, %s", ref, code, len(procs), stderr)
		}
		for _, p := range procs {
			if p.Container == nil || p.Container.ID != cs[3].id {
				t.Errorf("--container %s listed %+v", ref, p)
			}
		}
	}
	// --pid selects processes even with an empty effective set.
	stdout, _, code = psCLI(t, "ps", "--pid", strconv.Itoa(cs[1].pid))
	if code != 0 || !strings.Contains(stdout, cs[1].fullName) || !strings.Contains(stdout, "none") {
		t.Errorf("--pid %d: exit %d\n%s", cs[1].pid, code, stdout)
	}
}

// Without an engine, ps still attributes processes to containers by ID and
// says once why names are missing.
func testPSWithoutEngine(t *testing.T, cs []started) {
	t.Setenv("DOCKER_HOST", "unix://"+t.TempDir()+"/no-docker.sock")
	stdout, stderr, code := psCLI(t, "ps", "-a", "--containers")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if n := strings.Count(stderr, "unreachable"); n != 1 {
		t.Errorf("stderr mentions the unreachable engine %d times, want once:\n%s", n, stderr)
	}
	for _, c := range cs {
		if !strings.Contains(stdout, "docker:"+c.id[:12]) {
			t.Errorf("%s not shown by ID:\n%s", c.fullName, stdout)
		}
	}
}

// TestPSMatrixDocker checks the matrix view against the kernel: each real
// container's row has a holding glyph exactly under the capabilities its
// main process's bounding set has.
func TestPSMatrixDocker(t *testing.T) {
	_, cs := startPSContainers(t)
	out, errOut, code := psCLI(t, "ps", "-o", "matrix")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(out, "\n")
	var header string
	for _, l := range lines {
		if strings.HasPrefix(l, "CONTAINER ") {
			header = l
		}
	}
	if header == "" {
		t.Fatalf("no header:\n%s", out)
	}
	// The column names are written downwards above the header: read them
	// back by column.
	headIdx := slices.Index(lines, header)
	byCol := map[int]capset.Cap{}
	first := len("CONTAINER") + strings.IndexFunc(header[len("CONTAINER"):], func(r rune) bool { return r != ' ' })
	for col := first; col < len(header); col += 2 {
		var name strings.Builder
		for _, l := range lines[:headIdx] {
			if col < len(l) && l[col] != ' ' {
				name.WriteByte(l[col])
			}
		}
		if name.Len() == 0 {
			break
		}
		cp, err := capset.Parse(name.String())
		if err != nil {
			t.Fatalf("column %d: %v", col, err)
		}
		byCol[col] = cp
	}
	if len(byCol) < 14 {
		t.Fatalf("read %d columns, want at least Docker's 14 defaults:\n%s", len(byCol), out)
	}
	for _, c := range cs {
		var row string
		for _, l := range lines {
			if strings.HasPrefix(l, c.fullName+" ") {
				row = l
			}
		}
		if row == "" {
			t.Errorf("%s: no row", c.fullName)
			continue
		}
		runes := []rune(row)
		for col, cp := range byCol {
			held := runes[col] == '●' || runes[col] == '○'
			if held != c.kernel.Bounding.Has(cp) {
				t.Errorf("%s %s: cell %q, kernel bounding set has it: %v", c.name, cp, runes[col], c.kernel.Bounding.Has(cp))
			}
		}
	}
}
