//go:build linux && (amd64 || arm64)

package trace

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// metaName is the pinned map holding what a tracer taking over must know:
// which object the pins belong to, since when the tracer counts, how many
// times it was taken over, and how cap_capable is hooked.
const metaName = "meta"

// meta is the value of the meta map (metaSize bytes).
type meta struct {
	Object   [32]byte // sha256 of the BPF object
	Since    int64    // unix nanoseconds
	Restarts uint64
	Mech     [16]byte
	VMProbe  uint64
}

const metaSize = 32 + 8 + 8 + 16 + 8

func (m meta) marshal() []byte {
	b := make([]byte, 0, metaSize)
	b = append(b, m.Object[:]...)
	b = binary.NativeEndian.AppendUint64(b, uint64(m.Since))
	b = binary.NativeEndian.AppendUint64(b, m.Restarts)
	b = append(b, m.Mech[:]...)
	return binary.NativeEndian.AppendUint64(b, m.VMProbe)
}

func unmarshalMeta(b []byte) (meta, error) {
	var m meta
	if len(b) != metaSize {
		return m, fmt.Errorf("meta is %d bytes, want %d", len(b), metaSize)
	}
	copy(m.Object[:], b)
	m.Since = int64(binary.NativeEndian.Uint64(b[32:]))
	m.Restarts = binary.NativeEndian.Uint64(b[40:])
	copy(m.Mech[:], b[48:64])
	m.VMProbe = binary.NativeEndian.Uint64(b[64:])
	return m, nil
}

// pinState is what a tracer knows of its pins.
type pinState struct {
	path      string
	meta      *ebpf.Map
	m         meta
	takenOver bool
	err       error
}

// objectSum identifies the embedded BPF object: pins of another object
// (another capdrop version) are not taken over.
func objectSum() [32]byte { return sha256.Sum256(_CapableBytes) }

// pinnedMaps are the maps of spec that are pinned: its named maps, not the
// sections holding global variables (set again at every load).
func pinnedMaps(spec *ebpf.CollectionSpec) []string {
	var names []string
	for name := range spec.Maps {
		if !strings.HasPrefix(name, ".") {
			names = append(names, name)
		}
	}
	return names
}

// takeOver loads the tracer pinned at path. It reports false, with nothing
// loaded, when there is none; pins of another object, or whose links are
// gone, are removed first.
func (t *Tracer) takeOver(spec *ebpf.CollectionSpec, path string) (bool, error) {
	mm, err := ebpf.LoadPinnedMap(filepath.Join(path, metaName), nil)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("open the pinned tracer at %s: %w", path, loadError(err))
	}
	stale := func(why string) (bool, error) {
		mm.Close()
		t.closePartial()
		if err := Unpin(path); err != nil {
			return false, fmt.Errorf("remove the pinned tracer at %s (%s): %w", path, why, err)
		}
		t.pin.err = fmt.Errorf("the tracer pinned at %s was not taken over: %s", path, why)
		return false, nil
	}
	var raw [metaSize]byte
	if err := mm.Lookup(uint32(0), &raw); err != nil {
		return stale(fmt.Sprintf("its meta map cannot be read: %v", err))
	}
	m, err := unmarshalMeta(raw[:])
	if err != nil {
		return stale(err.Error())
	}
	if m.Object != objectSum() {
		return stale("it was pinned by another version of the tracer")
	}
	t.maps = map[string]*ebpf.Map{}
	for _, name := range pinnedMaps(spec) {
		pm, err := ebpf.LoadPinnedMap(filepath.Join(path, name), nil)
		if err != nil {
			return stale(fmt.Sprintf("map %s: %v", name, err))
		}
		t.maps[name] = pm
		if err := spec.Maps[name].Compatible(pm); err != nil {
			return stale(fmt.Sprintf("map %s: %v", name, err))
		}
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return stale(err.Error())
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "link_") {
			continue
		}
		l, err := link.LoadPinnedLink(filepath.Join(path, e.Name()), nil)
		if err != nil {
			return stale(fmt.Sprintf("link %s: %v", e.Name(), err))
		}
		t.links = append(t.links, l)
	}
	// The programs are pinned too: opening one by its id would need
	// CAP_SYS_ADMIN, which the agent does not hold.
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "prog_") {
			continue
		}
		p, err := ebpf.LoadPinnedProgram(filepath.Join(path, e.Name()), nil)
		if err != nil {
			return stale(fmt.Sprintf("program %s: %v", e.Name(), err))
		}
		t.progs = append(t.progs, p)
	}
	if len(t.links) == 0 {
		return stale("no link is pinned")
	}
	m.Restarts++
	if err := mm.Put(uint32(0), m.marshal()); err != nil {
		return stale(fmt.Sprintf("update its meta map: %v", err))
	}
	t.mech = Mechanism(strings.TrimRight(string(m.Mech[:]), "\x00"))
	t.vmProbe = m.VMProbe != 0
	t.pin = pinState{path: path, meta: mm, m: m, takenOver: true}
	return true, nil
}

// closePartial closes what a failed takeover opened.
func (t *Tracer) closePartial() {
	for _, l := range t.links {
		l.Close()
	}
	for _, m := range t.maps {
		m.Close()
	}
	for _, p := range t.progs {
		p.Close()
	}
	t.links, t.maps, t.progs = nil, nil, nil
}

// pinNew pins a freshly loaded tracer at path. A failure leaves the tracer
// working unpinned, with the reason in PinError.
func (t *Tracer) pinNew(spec *ebpf.CollectionSpec, path string) {
	err := t.pinAll(spec, path)
	if err != nil {
		_ = Unpin(path)
		if t.pin.meta != nil {
			t.pin.meta.Close()
		}
		t.pin = pinState{err: fmt.Errorf("pin the tracer at %s: %w", path, err)}
		// Unpinned maps would be unpinned already; nothing else to undo.
	}
}

func (t *Tracer) pinAll(spec *ebpf.CollectionSpec, path string) error {
	if err := os.MkdirAll(path, 0o700); err != nil {
		return err
	}
	for _, name := range pinnedMaps(spec) {
		if err := t.maps[name].Pin(filepath.Join(path, name)); err != nil {
			return fmt.Errorf("map %s: %w", name, err)
		}
	}
	for i, l := range t.links {
		if err := l.Pin(filepath.Join(path, fmt.Sprintf("link_%d", i))); err != nil {
			return fmt.Errorf("link %d: %w", i, err)
		}
	}
	for name, p := range t.coll.Programs {
		if err := p.Pin(filepath.Join(path, "prog_"+name)); err != nil {
			return fmt.Errorf("program %s: %w", name, err)
		}
	}
	m := meta{Object: objectSum(), Since: time.Now().UnixNano()}
	copy(m.Mech[:], t.mech)
	if t.vmProbe {
		m.VMProbe = 1
	}
	// Before 5.11 a map is charged to RLIMIT_MEMLOCK (see raiseMemlock).
	restore := raiseMemlock()
	mm, err := ebpf.NewMap(&ebpf.MapSpec{Name: "capdrop_meta", Type: ebpf.Array, KeySize: 4, ValueSize: metaSize, MaxEntries: 1})
	restore()
	if err != nil {
		return fmt.Errorf("create the meta map: %w", err)
	}
	t.pin.meta = mm
	if err := mm.Put(uint32(0), m.marshal()); err != nil {
		return fmt.Errorf("write the meta map: %w", err)
	}
	// Pinned last: a directory with a meta map is a complete tracer.
	if err := mm.Pin(filepath.Join(path, metaName)); err != nil {
		return fmt.Errorf("meta map: %w", err)
	}
	t.pin.path, t.pin.m = path, m
	return nil
}

// Unpin removes a tracer pinned at path: its programs are detached once no
// process holds them any more. A path with nothing pinned is not an error.
func Unpin(path string) error {
	entries, err := os.ReadDir(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	// The meta map first: a directory without it is never taken over.
	if err := os.Remove(filepath.Join(path, metaName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	for _, e := range entries {
		if e.Name() == metaName {
			continue
		}
		if err := os.Remove(filepath.Join(path, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Pinned reports whether the tracer is pinned (so it outlives the process).
func (t *Tracer) Pinned() bool { return t.pin.path != "" }

// TakenOver reports whether Open took over a pinned tracer rather than
// loading a new one.
func (t *Tracer) TakenOver() bool { return t.pin.takenOver }

// PinError says why the tracer could not be pinned or a pinned one not
// taken over (nil when Options.PinPath was empty or all went well).
func (t *Tracer) PinError() error { return t.pin.err }

// Since returns when the pinned tracer was attached, and how many times it
// was taken over since; for a tracer that is not pinned, zero.
func (t *Tracer) Since() (time.Time, int) {
	if t.pin.path == "" {
		return time.Time{}, 0
	}
	return time.Unix(0, t.pin.m.Since), int(t.pin.m.Restarts)
}

// PinnedMap opens a map of the caller's pinned beside the tracer under
// name (created with spec if absent), so that the caller's own state
// survives a restart as the tracer's does. It fails when the tracer is not
// pinned.
func (t *Tracer) PinnedMap(name string, spec *ebpf.MapSpec) (*ebpf.Map, error) {
	if t.pin.path == "" {
		return nil, errors.New("the tracer is not pinned")
	}
	if name == metaName || strings.HasPrefix(name, "link_") || strings.HasPrefix(name, "prog_") {
		return nil, fmt.Errorf("map name %q is the tracer's", name)
	}
	if _, ok := t.maps[name]; ok {
		return nil, fmt.Errorf("map name %q is the tracer's", name)
	}
	p := filepath.Join(t.pin.path, name)
	m, err := ebpf.LoadPinnedMap(p, nil)
	if err == nil {
		if err := spec.Compatible(m); err != nil {
			m.Close()
			return nil, fmt.Errorf("pinned map %s: %w", p, err)
		}
		return m, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("open pinned map %s: %w", p, err)
	}
	restore := raiseMemlock() // before 5.11 a map is charged to RLIMIT_MEMLOCK
	m, err = ebpf.NewMap(spec)
	restore()
	if err != nil {
		return nil, fmt.Errorf("create map %s: %w", name, loadError(err))
	}
	if err := m.Pin(p); err != nil {
		m.Close()
		return nil, fmt.Errorf("pin map %s: %w", p, err)
	}
	return m, nil
}

// DeleteRoot removes a root from the roots map once the caller has folded
// it into its own state, so the map does not fill on a node where execs
// never stop.
func (t *Tracer) DeleteRoot(pid uint32) error {
	err := t.maps["roots"].Delete(pid)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return nil
	}
	return err
}
