//go:build linux && (amd64 || arm64)

package agent

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/capdrop/capdrop/trace"
)

// The pinned sessions map: a hash from (cgroup, tag) to a fixed-size
// record; the keys with cgroup 0 (no cgroup has id 0) hold the overflow
// (tag 0) and the pruned totals (tag 1).
const (
	sessionsMapName = "agent_sessions"
	sessionsMax     = 16384
	keySize         = 16
	nameSize        = 64
	argsSize        = 256
	valueSize       = 8 + 8 + 8 + 4 + 4 + nameSize + argsSize
)

var sessionsSpec = &ebpf.MapSpec{Name: "capdrop_sessions", Type: ebpf.Hash, KeySize: keySize, ValueSize: valueSize, MaxEntries: sessionsMax}

// PinnedStore keeps the sessions in a map pinned beside the tracer, so a
// restarted agent finds them.
type PinnedStore struct{ m *ebpf.Map }

// OpenPinnedStore opens (or creates) the sessions map of a pinned tracer.
func OpenPinnedStore(tr *trace.Tracer) (*PinnedStore, error) {
	m, err := tr.PinnedMap(sessionsMapName, sessionsSpec)
	if err != nil {
		return nil, err
	}
	return &PinnedStore{m: m}, nil
}

// Close closes the map (it stays pinned).
func (p *PinnedStore) Close() error { return p.m.Close() }

func storeKey(cgroup uint64, tag uint32) []byte {
	k := make([]byte, keySize)
	binary.NativeEndian.PutUint64(k, cgroup)
	binary.NativeEndian.PutUint32(k[8:], tag)
	return k
}

func encodeSession(s SessionState) []byte {
	v := make([]byte, valueSize)
	binary.NativeEndian.PutUint64(v, s.Runs)
	binary.NativeEndian.PutUint64(v[8:], uint64(s.First.UnixNano()))
	binary.NativeEndian.PutUint64(v[16:], uint64(s.Last.UnixNano()))
	args := []byte(strings.Join(s.Args, "\x00"))
	trunc := s.Truncated
	if len(args) > argsSize {
		args, trunc = args[:argsSize], true
	}
	binary.NativeEndian.PutUint32(v[24:], uint32(len(args)))
	if trunc {
		binary.NativeEndian.PutUint32(v[28:], 1)
	}
	if s.Args != nil && len(args) == 0 {
		binary.NativeEndian.PutUint32(v[28:], 2) // one empty argument
	}
	copy(v[32:32+nameSize], s.Container)
	copy(v[32+nameSize:], args)
	return v
}

func decodeSession(k, v []byte) SessionState {
	s := SessionState{Cgroup: binary.NativeEndian.Uint64(k), Tag: binary.NativeEndian.Uint32(k[8:])}
	s.Runs = binary.NativeEndian.Uint64(v)
	s.First = time.Unix(0, int64(binary.NativeEndian.Uint64(v[8:])))
	s.Last = time.Unix(0, int64(binary.NativeEndian.Uint64(v[16:])))
	n := min(int(binary.NativeEndian.Uint32(v[24:])), argsSize)
	flags := binary.NativeEndian.Uint32(v[28:])
	s.Truncated = flags == 1
	s.Container = string(bytes.TrimRight(v[32:32+nameSize], "\x00"))
	if n > 0 {
		s.Args = strings.Split(string(v[32+nameSize:32+nameSize+n]), "\x00")
	} else if flags == 2 {
		s.Args = []string{""}
	}
	return s
}

// Load implements Store.
func (p *PinnedStore) Load() ([]SessionState, uint64, error) {
	var (
		out      []SessionState
		overflow uint64
		k        = make([]byte, keySize)
		v        = make([]byte, valueSize)
	)
	it := p.m.Iterate()
	for it.Next(&k, &v) {
		cg := binary.NativeEndian.Uint64(k)
		if cg == 0 {
			if binary.NativeEndian.Uint32(k[8:]) == 0 {
				overflow = binary.NativeEndian.Uint64(v)
			}
			continue // 0/1: the pruned totals
		}
		out = append(out, decodeSession(k, v))
	}
	if err := it.Err(); err != nil {
		return out, overflow, fmt.Errorf("read the pinned sessions: %w", err)
	}
	return out, overflow, nil
}

// Save implements Store.
func (p *PinnedStore) Save(s SessionState) error {
	err := p.m.Put(storeKey(s.Cgroup, s.Tag), encodeSession(s))
	if errors.Is(err, unix.E2BIG) { // the kernel's answer for a full hash map
		return ErrStoreFull
	}
	return err
}

// SaveOverflow implements Store.
func (p *PinnedStore) SaveOverflow(n uint64) error {
	v := make([]byte, valueSize)
	binary.NativeEndian.PutUint64(v, n)
	return p.m.Put(storeKey(0, 0), v)
}

// Delete implements Store.
func (p *PinnedStore) Delete(cgroup uint64, tag uint32) error {
	if err := p.m.Delete(storeKey(cgroup, tag)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return err
	}
	return nil
}

// The pruned totals live under the key with cgroup 0 and tag 1.
const prunedTag = 1

// LoadPruned implements Store.
func (p *PinnedStore) LoadPruned() (PruneTotals, error) {
	v := make([]byte, valueSize)
	if err := p.m.Lookup(storeKey(0, prunedTag), &v); err != nil {
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return PruneTotals{}, nil
		}
		return PruneTotals{}, fmt.Errorf("read the pruned totals: %w", err)
	}
	return PruneTotals{Containers: binary.NativeEndian.Uint64(v), Sessions: binary.NativeEndian.Uint64(v[8:]),
		Records: binary.NativeEndian.Uint64(v[16:]), Gains: binary.NativeEndian.Uint64(v[24:])}, nil
}

// SavePruned implements Store.
func (p *PinnedStore) SavePruned(t PruneTotals) error {
	v := make([]byte, valueSize)
	binary.NativeEndian.PutUint64(v, t.Containers)
	binary.NativeEndian.PutUint64(v[8:], t.Sessions)
	binary.NativeEndian.PutUint64(v[16:], t.Records)
	binary.NativeEndian.PutUint64(v[24:], t.Gains)
	return p.m.Put(storeKey(0, prunedTag), v)
}
