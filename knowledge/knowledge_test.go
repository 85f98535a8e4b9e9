package knowledge

import (
	"strings"
	"testing"

	"github.com/capdrop/capdrop/capset"
)

func TestEmbeddedDataIsValid(t *testing.T) {
	if _, err := parse(capabilitiesYAML, defaultsYAML); err != nil {
		t.Fatal(err)
	}
}

func TestEveryCapabilityHasAnEntry(t *testing.T) {
	all := All()
	if len(all) != int(capset.Last)+1 {
		t.Fatalf("got %d entries, want %d", len(all), capset.Last+1)
	}
	for i, e := range all {
		if e.Cap != capset.Cap(i) || e.Name != capset.Cap(i).Name() {
			t.Errorf("entry %d is %s (%d)", i, e.Name, e.Cap)
		}
	}
}

// factsTable is each runtime's default set as its source code states it
// (docs/audit.md, "How the sets are computed"), transcribed independently of
// defaults.yaml so that a wrong edit to either is caught.
var factsTable = map[string]string{
	Docker:        "CHOWN DAC_OVERRIDE FSETID FOWNER KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP",
	Containerd:    "CHOWN DAC_OVERRIDE FSETID FOWNER KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP",
	CRIO:          "CHOWN DAC_OVERRIDE FSETID FOWNER SETGID SETUID SETPCAP NET_BIND_SERVICE KILL",
	Podman:        "CHOWN DAC_OVERRIDE FOWNER FSETID KILL NET_BIND_SERVICE SETFCAP SETGID SETPCAP SETUID SYS_CHROOT",
	Runc:          "AUDIT_WRITE KILL NET_BIND_SERVICE",
	K8sBaseline:   "AUDIT_WRITE CHOWN DAC_OVERRIDE FOWNER FSETID KILL MKNOD NET_BIND_SERVICE SETFCAP SETGID SETPCAP SETUID SYS_CHROOT",
	K8sRestricted: "NET_BIND_SERVICE",
}

func TestDefaultsMatchFacts(t *testing.T) {
	if len(Baselines()) != len(factsTable) {
		t.Errorf("got %d baselines, want %d", len(Baselines()), len(factsTable))
	}
	for id, want := range factsTable {
		w, err := capset.ParseSet(want)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := Default(id)
		if !ok {
			t.Errorf("no baseline %q", id)
			continue
		}
		if got != w {
			t.Errorf("%s: got %v, want %v (extra %v, missing %v)", id, got, w, got.Minus(w), w.Minus(got))
		}
	}
	if got := MustDefault(Docker).Hex(); got != "00000000a80425fb" {
		t.Errorf("docker default mask %s, want 00000000a80425fb", got)
	}
}

// The risk grading must agree with what the kernel lets each capability do
// (docs/audit.md, Rules): every capability known as root-equivalent or a
// container escape is marked so and graded high or critical; the ones known
// as low risk are graded low.
func TestRiskAgreesWithFacts(t *testing.T) {
	rootEq, _ := capset.ParseSet("SYS_ADMIN SYS_MODULE SYS_RAWIO SYS_PTRACE DAC_READ_SEARCH DAC_OVERRIDE MKNOD SETUID SETGID CHOWN FOWNER FSETID SETFCAP SETPCAP SYS_CHROOT SYS_BOOT SYS_TTY_CONFIG AUDIT_CONTROL IPC_OWNER BPF PERFMON")
	low, _ := capset.ParseSet("NET_BROADCAST WAKE_ALARM BLOCK_SUSPEND LEASE SYS_PACCT KILL")
	for _, e := range All() {
		switch {
		case rootEq.Has(e.Cap):
			if !e.RootEquivalent || e.Risk < High {
				t.Errorf("%s: root_equivalent=%v risk=%v, want true and high or critical", e.Name, e.RootEquivalent, e.Risk)
			}
		case low.Has(e.Cap):
			if e.Risk != Low || e.RootEquivalent {
				t.Errorf("%s: risk %v root_equivalent=%v, want low and false", e.Name, e.Risk, e.RootEquivalent)
			}
		}
	}
	if e, _ := Lookup(capset.SYS_ADMIN); e.Risk != Critical {
		t.Errorf("SYS_ADMIN risk %v, want critical", e.Risk)
	}
}

func TestParseRejectsGaps(t *testing.T) {
	broken := strings.Replace(string(capabilitiesYAML), "advice:", "advise:", 1)
	if _, err := parse([]byte(broken), defaultsYAML); err == nil {
		t.Error("a misspelled field was accepted")
	}
	if _, err := parse([]byte("capabilities: []\n"), defaultsYAML); err == nil {
		t.Error("an empty knowledge base was accepted")
	}
}

func TestHeldBy(t *testing.T) {
	got := strings.Join(HeldBy(capset.NET_RAW), " ")
	if got != "docker containerd" {
		t.Errorf("NET_RAW held by %q", got)
	}
	got = strings.Join(HeldBy(capset.NET_BIND_SERVICE), " ")
	if got != "docker containerd crio podman runc baseline restricted" {
		t.Errorf("NET_BIND_SERVICE held by %q", got)
	}
}
