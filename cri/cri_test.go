package cri

import (
	"os"
	"slices"
	"testing"
)

// TestParseInfo reads the verbose info containerd 1.6.20 returned for a
// real Pod's container (runAsUser 1000, allowPrivilegeEscalation false,
// add NET_ADMIN and CAP_SYS_TIME, drop ALL), captured on the test cluster.
func TestParseInfo(t *testing.T) {
	data, err := os.ReadFile("testdata/containerd-1.6.20-info.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg, pid := parseInfo(string(data))
	if pid != 12327 {
		t.Errorf("pid %d", pid)
	}
	if cfg == nil {
		t.Fatal("no config")
	}
	if !slices.Equal(cfg.CapAdd, []string{"NET_ADMIN", "CAP_SYS_TIME"}) || !slices.Equal(cfg.CapDrop, []string{"ALL"}) ||
		cfg.Privileged || cfg.RunAsUser == nil || *cfg.RunAsUser != 1000 || !cfg.NoNewPrivs {
		t.Errorf("config %+v", *cfg)
	}
	for _, bad := range []string{"", "{", "null", `{"pid":7}`, `{"config":{"linux":null}}`} {
		if cfg, _ := parseInfo(bad); cfg != nil {
			t.Errorf("parseInfo(%q) = %+v, want no config", bad, cfg)
		}
	}
}
