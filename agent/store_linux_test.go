//go:build linux && (amd64 || arm64)

package agent

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSessionEncoding(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	for _, s := range []SessionState{
		{Cgroup: 5, Tag: 1, Container: strings.Repeat("a", 64), Args: []string{"/bin/sh", "-c", "x"}, Runs: 3, First: t0, Last: t0.Add(time.Minute)},
		{Cgroup: 6, Tag: 9, Container: "c", Args: []string{""}, Runs: 1, First: t0, Last: t0},
		{Cgroup: 7, Tag: 9, Container: "c", Runs: 1, First: t0, Last: t0},
		{Cgroup: 8, Tag: 9, Container: "c", Args: []string{strings.Repeat("x", 300)}, Runs: 1, First: t0, Last: t0},
	} {
		got := decodeSession(storeKey(s.Cgroup, s.Tag), encodeSession(s))
		want := s
		if len(s.Args) == 1 && len(s.Args[0]) > argsSize {
			want.Args, want.Truncated = []string{s.Args[0][:argsSize]}, true
		}
		if got.Cgroup != want.Cgroup || got.Tag != want.Tag || got.Container != want.Container || !slices.Equal(got.Args, want.Args) ||
			got.Truncated != want.Truncated || got.Runs != want.Runs || !got.First.Equal(want.First) || !got.Last.Equal(want.Last) {
			t.Errorf("round trip of %+v = %+v", want, got)
		}
	}
}
