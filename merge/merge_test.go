package merge

import (
	"strings"
	"testing"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/knowledge"
	"github.com/capdrop/capdrop/workload"
)

func words(list string) []workload.Word {
	var out []workload.Word
	for i, f := range strings.Fields(list) {
		out = append(out, workload.Word{Text: f, Pos: workload.Position{File: "t", Line: 1, Col: 1 + 10*i}})
	}
	return out
}

func set(t *testing.T, text string) capset.Set {
	t.Helper()
	if text == "" {
		return 0
	}
	s, err := capset.ParseSet(text)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type tcase struct {
	name       string
	rt         workload.Runtime
	add, drop  string
	privileged bool
	user       string
	imageCaps  *string
	opts       Options
	// want* are capability lists; "ALL" means capset.Known.
	bounding, effective, ambient, inheritable string
	refused                                   string // substring of the refusal message
	ignored                                   string // Sent name of an ignored word
}

var docker2010 = Options{Versions: map[workload.Runtime]Version{workload.Docker: {20, 10, 24}}}

const dockerDefault = "CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID SETUID SETFCAP SETPCAP NET_BIND_SERVICE SYS_CHROOT KILL AUDIT_WRITE"

func TestCompute(t *testing.T) {
	empty := ""
	tests := []tcase{
		// Docker: add wins, add ALL + drop ALL = all, ALL case-insensitive.
		{name: "docker default", rt: workload.Docker, bounding: dockerDefault, effective: dockerDefault},
		{name: "docker add wins", rt: workload.Docker, add: "net_admin chown", drop: "chown",
			bounding: dockerDefault + " NET_ADMIN", effective: dockerDefault + " NET_ADMIN"},
		{name: "docker drop all add", rt: workload.Docker, add: "CAP_NET_BIND_SERVICE", drop: "all",
			bounding: "NET_BIND_SERVICE", effective: "NET_BIND_SERVICE"},
		{name: "docker add all drop all", rt: workload.Docker, add: "ALL", drop: "ALL", bounding: "ALL", effective: "ALL"},
		{name: "docker 20.10 all", rt: workload.Docker, add: "all", opts: docker2010,
			bounding: "0x3fffffffff", effective: "0x3fffffffff"},
		{name: "docker 20.10 bpf unknown", rt: workload.Docker, add: "bpf", opts: docker2010, refused: `unknown capability: "CAP_BPF"`},
		{name: "docker bpf current", rt: workload.Docker, add: "bpf", drop: "all", bounding: "BPF", effective: "BPF"},
		{name: "docker unknown", rt: workload.Docker, add: "sys_admn", refused: "invalid CapAdd"},
		{name: "docker unknown drop", rt: workload.Docker, drop: "foo", refused: "invalid CapDrop"},
		{name: "docker privileged still validates", rt: workload.Docker, privileged: true, add: "foo", refused: "unknown capability"},
		{name: "docker CAP_ALL is not ALL", rt: workload.Docker, drop: "CAP_ALL", refused: `"CAP_ALL"`},
		{name: "docker privileged", rt: workload.Docker, privileged: true, drop: "all", bounding: "ALL", effective: "ALL"},
		{name: "docker non-root", rt: workload.Docker, user: "1000", add: "net_admin", bounding: dockerDefault + " NET_ADMIN"},
		{name: "docker named user", rt: workload.Docker, user: "nobody:nogroup", bounding: dockerDefault},
		{name: "docker root by name", rt: workload.Docker, user: "root:1000", bounding: dockerDefault, effective: dockerDefault},
		{name: "docker 20.10.13 inheritable", rt: workload.Docker, user: "1000", drop: "all", add: "kill",
			opts: Options{Versions: map[workload.Runtime]Version{workload.Docker: {20, 10, 13}}}, bounding: "KILL", inheritable: "KILL"},
		{name: "docker host lacks sys_resource root", rt: workload.Docker, add: "sys_resource",
			opts: Options{Host: capset.Known.Without(capset.SYS_RESOURCE), Versions: docker2010.Versions}, refused: "unable to apply caps"},
		{name: "docker 23 host lacks sys_resource", rt: workload.Docker, add: "sys_resource",
			opts: Options{Host: capset.Known.Without(capset.SYS_RESOURCE)}, refused: "not available in the current environment"},
		{name: "docker host lacks sys_resource non-root", rt: workload.Docker, privileged: true, user: "1000",
			opts:     Options{Host: capset.Known.Without(capset.SYS_RESOURCE), Versions: docker2010.Versions},
			bounding: "0x3ffeffffff"},

		// containerd CRI: drop wins, add ALL + drop ALL = empty, CAP_ prefix ignored.
		{name: "containerd default", rt: workload.Containerd, bounding: dockerDefault, effective: dockerDefault},
		{name: "containerd drop wins", rt: workload.Containerd, add: "NET_ADMIN CHOWN", drop: "CHOWN",
			bounding: strings.Replace(dockerDefault, "CHOWN", "", 1) + " NET_ADMIN", effective: strings.Replace(dockerDefault, "CHOWN", "", 1) + " NET_ADMIN"},
		{name: "containerd add all drop all", rt: workload.Containerd, add: "ALL", drop: "ALL"},
		{name: "containerd add all drop all add one", rt: workload.Containerd, add: "ALL NET_RAW", drop: "all",
			bounding: "NET_RAW", effective: "NET_RAW"},
		{name: "containerd prefix ignored on add", rt: workload.Containerd, add: "CAP_SYS_ADMIN", drop: "ALL", ignored: "CAP_CAP_SYS_ADMIN"},
		{name: "containerd prefix ignored on drop", rt: workload.Containerd, drop: "CAP_NET_RAW",
			bounding: dockerDefault, effective: dockerDefault, ignored: "CAP_CAP_NET_RAW"},
		{name: "containerd lower-case all", rt: workload.Containerd, drop: "all", add: "net_bind_service",
			bounding: "NET_BIND_SERVICE", effective: "NET_BIND_SERVICE"},
		{name: "containerd non-root", rt: workload.Containerd, user: "65534", add: "NET_ADMIN", bounding: dockerDefault + " NET_ADMIN"},
		{name: "containerd privileged", rt: workload.Containerd, privileged: true, drop: "ALL", bounding: "ALL", effective: "ALL"},
		{name: "containerd unknown ignored", rt: workload.Containerd, add: "FOO", drop: "ALL", ignored: "CAP_FOO"},

		// nerdctl: drop wins, add ALL + drop ALL = all, CAP_ optional, unknown ignored.
		{name: "nerdctl default", rt: workload.Nerdctl, bounding: dockerDefault, effective: dockerDefault},
		{name: "nerdctl drop wins", rt: workload.Nerdctl, add: "net_admin", drop: "NET_ADMIN", bounding: dockerDefault, effective: dockerDefault},
		{name: "nerdctl drop wins over default", rt: workload.Nerdctl, add: "CAP_NET_ADMIN", drop: "net_admin chown",
			bounding: strings.Replace(dockerDefault, "CHOWN", "", 1), effective: strings.Replace(dockerDefault, "CHOWN", "", 1)},
		{name: "nerdctl add all drop all", rt: workload.Nerdctl, add: "ALL", drop: "all", bounding: "ALL", effective: "ALL"},
		{name: "nerdctl drop all add", rt: workload.Nerdctl, add: "cap_kill", drop: "All", bounding: "KILL", effective: "KILL"},
		{name: "nerdctl unknown ignored", rt: workload.Nerdctl, add: "foo", drop: "ALL", ignored: "CAP_FOO"},

		// CRI-O: its own defaults, drop wins, unknown refused, prefix fine.
		{name: "crio default", rt: workload.CRIO, bounding: "CHOWN DAC_OVERRIDE FSETID FOWNER SETGID SETUID SETPCAP NET_BIND_SERVICE KILL",
			effective: "CHOWN DAC_OVERRIDE FSETID FOWNER SETGID SETUID SETPCAP NET_BIND_SERVICE KILL"},
		{name: "crio prefix", rt: workload.CRIO, add: "cap_sys_admin", drop: "ALL", bounding: "SYS_ADMIN", effective: "SYS_ADMIN"},
		{name: "crio drop wins", rt: workload.CRIO, add: "KILL", drop: "ALL KILL"},
		{name: "crio add all drop all", rt: workload.CRIO, add: "ALL NET_RAW", drop: "ALL", bounding: "NET_RAW", effective: "NET_RAW"},
		{name: "crio add all drop one", rt: workload.CRIO, add: "ALL", drop: "SYS_ADMIN",
			bounding: "0x1ffffdfffff", effective: "0x1ffffdfffff"},
		{name: "crio unknown add", rt: workload.CRIO, add: "FOO", refused: `unknown capability "CAP_FOO" to add`},
		{name: "crio unknown drop", rt: workload.CRIO, drop: "FOO", refused: "failed to drop cap"},

		// Podman: conflicts refused, image label, non-root ambient.
		{name: "podman default", rt: workload.Podman, bounding: "CHOWN DAC_OVERRIDE FOWNER FSETID KILL NET_BIND_SERVICE SETFCAP SETGID SETPCAP SETUID SYS_CHROOT",
			effective: "CHOWN DAC_OVERRIDE FOWNER FSETID KILL NET_BIND_SERVICE SETFCAP SETGID SETPCAP SETUID SYS_CHROOT"},
		{name: "podman conflict", rt: workload.Podman, add: "NET_ADMIN", drop: "net_admin", refused: "cannot be dropped and added"},
		{name: "podman add all drop all", rt: workload.Podman, add: "ALL", drop: "ALL", refused: "adding all caps and removing all caps not allowed"},
		{name: "podman non-root ambient", rt: workload.Podman, user: "1000", add: "net_admin",
			bounding:  "CHOWN DAC_OVERRIDE FOWNER FSETID KILL NET_BIND_SERVICE SETFCAP SETGID SETPCAP SETUID SYS_CHROOT NET_ADMIN",
			effective: "NET_ADMIN", ambient: "NET_ADMIN", inheritable: "NET_ADMIN"},
		{name: "podman host limits silently", rt: workload.Podman, add: "sys_resource", drop: "all",
			opts: Options{Host: capset.Known.Without(capset.SYS_RESOURCE)}},
		{name: "podman label", rt: workload.Podman, imageCaps: ptr("CHOWN,SETUID"), bounding: "CHOWN SETUID", effective: "CHOWN SETUID"},
		{name: "podman label asking too much is ignored", rt: workload.Podman, imageCaps: ptr("SYS_ADMIN"),
			bounding:  "CHOWN DAC_OVERRIDE FOWNER FSETID KILL NET_BIND_SERVICE SETFCAP SETGID SETPCAP SETUID SYS_CHROOT",
			effective: "CHOWN DAC_OVERRIDE FOWNER FSETID KILL NET_BIND_SERVICE SETFCAP SETGID SETPCAP SETUID SYS_CHROOT", ignored: "CAP_SYS_ADMIN"},
		{name: "podman empty label", rt: workload.Podman, imageCaps: &empty},
		{name: "podman unknown", rt: workload.Podman, add: "bogus", refused: "unknown capability"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := workload.Workload{Runtime: tc.rt, CapAdd: words(tc.add), CapDrop: words(tc.drop), Privileged: tc.privileged, User: tc.user}
			if tc.imageCaps != nil {
				w.ImageCaps = []workload.Word{}
				for _, p := range strings.Split(*tc.imageCaps, ",") {
					w.ImageCaps = append(w.ImageCaps, workload.Word{Text: p})
				}
			}
			res := Compute(w, tc.opts)
			if tc.refused != "" {
				if res.Refusal == nil || !strings.Contains(res.Refusal.Message, tc.refused) {
					t.Fatalf("refusal = %v, want one containing %q", res.Refusal, tc.refused)
				}
				return
			}
			if res.Refusal != nil {
				t.Fatalf("unexpected refusal: %v", res.Refusal)
			}
			check := func(what string, got capset.Set, want string) {
				t.Helper()
				ws := set(t, strings.ReplaceAll(want, "ALL", "0x1ffffffffff"))
				if got != ws {
					t.Errorf("%s = %s, want %s", what, got, ws)
				}
			}
			check("bounding", res.Sets.Bounding, tc.bounding)
			check("effective", res.Sets.Effective, tc.effective)
			check("permitted", res.Sets.Permitted, tc.effective)
			check("ambient", res.Sets.Ambient, tc.ambient)
			check("inheritable", res.Sets.Inheritable, tc.inheritable)
			if tc.ignored != "" {
				found := false
				for _, n := range res.Names {
					if n.Effect == Ignored && n.Sent == tc.ignored {
						found = true
					}
				}
				if !found {
					t.Errorf("names = %+v, want %s ignored", res.Names, tc.ignored)
				}
			}
			for _, why := range res.Why {
				if len(why.Reasons) == 0 {
					t.Errorf("%s is held for no reason", why.Name)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestWhy(t *testing.T) {
	w := workload.Workload{Runtime: workload.Docker, CapAdd: words("NET_ADMIN chown"), CapDrop: words("NET_RAW")}
	res := Compute(w, Options{})
	got := map[string]string{}
	for _, c := range res.Why {
		var parts []string
		for _, r := range c.Reasons {
			parts = append(parts, r.String())
		}
		got[c.Name] = strings.Join(parts, "; ")
	}
	want := map[string]string{
		"CAP_NET_ADMIN": "cap_add NET_ADMIN at t:1:1",
		"CAP_CHOWN":     "default; cap_add chown at t:1:11",
		"CAP_KILL":      "default",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("why %s = %q, want %q", k, got[k], v)
		}
	}
	if _, ok := got["CAP_NET_RAW"]; ok {
		t.Errorf("NET_RAW was dropped but has a reason: %v", got)
	}
}

func TestIdentify(t *testing.T) {
	yes, no := true, false
	one, zero := int64(1000), int64(0)
	tests := []struct {
		w       workload.Workload
		root    bool
		assumed bool
		refused bool
	}{
		{w: workload.Workload{}, root: true, assumed: true},
		{w: workload.Workload{User: "0"}, root: true},
		{w: workload.Workload{User: "1000:0"}, root: false},
		{w: workload.Workload{ImageUser: "app"}, root: false},
		{w: workload.Workload{User: "root", ImageUser: "app"}, root: true},
		{w: workload.Workload{RunAsUser: &one, User: "0"}, root: false},
		{w: workload.Workload{RunAsNonRoot: &yes}, root: false},
		{w: workload.Workload{RunAsNonRoot: &no}, root: true, assumed: true},
		{w: workload.Workload{RunAsNonRoot: &yes, RunAsUser: &zero}, root: true, refused: true},
	}
	for i, tc := range tests {
		id := identify(tc.w, workload.Containerd)
		if id.root != tc.root || id.assumed != tc.assumed || (id.refusal != "") != tc.refused {
			t.Errorf("%d: identify(%+v) = %+v", i, tc.w, id)
		}
	}
}

func TestExecuteNoNewPrivs(t *testing.T) {
	// An OCI spec whose root process has a wider bounding set than its
	// permitted set regains the bounding set at execve, unless
	// no_new_privs forbids gaining capabilities.
	e := newEnv(workload.Workload{}, workload.OCI, Options{})
	sp := capset.Sets{Bounding: capset.Of(capset.CHOWN, capset.KILL), Permitted: capset.Of(capset.KILL), Effective: capset.Of(capset.KILL)}
	got, ref := e.execute(sp, true, false)
	if ref != nil || got.Effective != sp.Bounding {
		t.Errorf("root without nnp: %+v %v, want effective = bounding", got, ref)
	}
	got, _ = e.execute(sp, true, true)
	if got.Effective != capset.Of(capset.KILL) {
		t.Errorf("root with nnp: effective %s, want KILL", got.Effective)
	}
	got, _ = e.execute(sp, false, false)
	if got.Effective != 0 || got.Permitted != 0 {
		t.Errorf("non-root: %+v, want no effective or permitted", got)
	}
}

func TestOCIExplicit(t *testing.T) {
	w := workload.Workload{Runtime: workload.OCI, User: "0", Explicit: &workload.ExplicitSets{
		Bounding:  words("CAP_KILL CAP_NET_BIND_SERVICE cap_chown CAP_FOO"),
		Effective: words("CAP_KILL"),
		Permitted: words("CAP_KILL"),
	}}
	res := Compute(w, Options{})
	if res.Refusal != nil {
		t.Fatal(res.Refusal)
	}
	if want := capset.Of(capset.KILL, capset.NET_BIND_SERVICE); res.Sets.Bounding != want || res.Sets.Effective != want {
		t.Errorf("sets = %+v, want bounding and effective %s", res.Sets, want)
	}
	if len(res.Names) != 2 {
		t.Errorf("names = %+v, want cap_chown and CAP_FOO ignored", res.Names)
	}
	res = Compute(workload.Workload{Runtime: workload.OCI}, Options{})
	if res.Held() != 0 {
		t.Errorf("spec without capabilities: %+v, want nothing", res.Sets)
	}
}

func TestDefaultsFromKnowledge(t *testing.T) {
	for _, rt := range []workload.Runtime{workload.Docker, workload.Containerd, workload.CRIO, workload.Podman, workload.Nerdctl} {
		res := Compute(workload.Workload{Runtime: rt}, Options{})
		id := string(rt)
		if rt == workload.Nerdctl {
			id = knowledge.Containerd
		}
		if want := knowledge.MustDefault(id); res.Sets.Effective != want {
			t.Errorf("%s default = %s, want %s", rt, res.Sets.Effective, want)
		}
	}
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]Version{
		"20.10": {20, 10, 0}, "20.10.24+dfsg1": {20, 10, 24}, "v23.0.1": {23, 0, 1}, "1.6.20~ds1": {1, 6, 20},
		"current": {}, "4.3.1-rc2": {4, 3, 1},
	} {
		got, err := ParseVersion(in)
		if err != nil || got != want {
			t.Errorf("ParseVersion(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "1.2.3.4", "0", "-1", "1..2"} {
		if _, err := ParseVersion(bad); err == nil {
			t.Errorf("ParseVersion(%q) succeeded", bad)
		}
	}
	if !(Version{20, 10, 24}).Less(Version{23, 0, 0}) || (Version{}).Less(Version{99, 0, 0}) {
		t.Error("Less is wrong")
	}
}

// TestLongList: a list naming one capability many times keeps one reason
// per distinct word and position, and the same word at the same place
// once (each add looks its reason up in a set; a scan made this quadratic).
func TestLongList(t *testing.T) {
	var add []workload.Word
	for i := 0; i < 100000; i++ {
		add = append(add, workload.Word{Text: "NET_ADMIN", Pos: workload.Position{File: "t", Line: i/2 + 1, Col: 1}})
	}
	res := Compute(workload.Workload{Runtime: workload.Podman, CapAdd: add, CapDrop: words("ALL")}, Options{})
	if got := res.Reasons(capset.NET_ADMIN); res.Held() != capset.Of(capset.NET_ADMIN) || len(got) != 50000 {
		t.Errorf("holds %s with %d reasons, want NET_ADMIN with 50000", res.Held(), len(got))
	}
}
