package report

import (
	"bytes"
	"testing"
	"time"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/profile"
	"github.com/capdrop/capdrop/trace"
)

func sampleProfile() *profile.Profile {
	r := func(c capset.Cap, denied bool, nr int32, comm string, f trace.Flag, n uint64) trace.Record {
		return trace.Record{Key: trace.Key{MntNS: 7, Cap: c, Denied: denied, Syscall: nr, Comm: comm, Flags: f}, Count: n}
	}
	recs := []trace.Record{
		r(capset.CHOWN, false, 260, "app", 0, 2),
		r(capset.NET_BIND_SERVICE, false, 49, "app", 0, 1),
		r(capset.SETUID, false, 105, "app", trace.SameID, 1),
		r(capset.SYS_ADMIN, true, 9, "app", trace.VMProbe, 20),
		r(capset.DAC_OVERRIDE, false, 257, "app", trace.OtherCred, 3),
		r(capset.NET_ADMIN, true, 54, "app", 0, 4),
		r(capset.AUDIT_WRITE, false, 44, "sudo", 0, 2),
		r(capset.SETPCAP, true, 126, "app", trace.CapsetInheritable, 1),
	}
	gains := []trace.Gain{{MntNS: 7, Source: trace.GainCapset, Comm: "app", Caps: capset.Of(capset.NET_BIND_SERVICE, capset.SYS_TIME), Count: 1}}
	code := 0
	return profile.Build(profile.Target{Kind: "docker", ContainerID: "0123456789abcdef0123", ContainerName: "web",
		Image: "nginx:1", PID: 42, MntNS: 7, ExitCode: &code}, recs,
		profile.Info{Arch: "amd64", Mechanism: trace.TracepointBTF, VMProbeDetection: true, Kernel: "6.18.0", Gains: gains,
			Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Duration: 1500 * time.Millisecond,
			Counters: trace.Counters{Lost: 2}})
}

func TestProfileGolden(t *testing.T) {
	var b bytes.Buffer
	if err := (Text{}).Profile(&b, sampleProfile()); err != nil {
		t.Fatal(err)
	}
	golden(t, "profile.golden", b.Bytes())
	b.Reset()
	if err := JSON(&b, sampleProfile()); err != nil {
		t.Fatal(err)
	}
	golden(t, "profile.json.golden", b.Bytes())
}
