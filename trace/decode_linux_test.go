//go:build linux && (amd64 || arm64)

package trace

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzDecodeEvent feeds arbitrary ring-buffer records to the decoder: it
// must return an error or an event, never panic.
func FuzzDecodeEvent(f *testing.F) {
	var kb bytes.Buffer
	binary.Write(&kb, binary.NativeEndian, capableKeyEvent{Type: 1, Pid: 7, Key: capableKey{Cap: 21, Syscall: 9, Mntns: 5}})
	var rb bytes.Buffer
	binary.Write(&rb, binary.NativeEndian, capableRootEvent{Type: 2, Pid: 8, Root: capableRoot{Pid: 8, Mntns: 5}})
	f.Add(kb.Bytes())
	f.Add(rb.Bytes())
	f.Add([]byte{1, 0, 0, 0})
	f.Add([]byte{3, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := decodeEvent(b)
		if err == nil && ev.Key == nil && ev.Root == nil {
			t.Fatal("no error and no event")
		}
	})
}

func TestDecodeEvent(t *testing.T) {
	var b bytes.Buffer
	comm := [16]int8{'c', 'a', 't'}
	binary.Write(&b, binary.NativeEndian, capableKeyEvent{Type: 1, Pid: 7,
		Key: capableKey{Cap: 2, Denied: 1, Syscall: 257, Mntns: 5, Flags: uint16(OtherCred), Comm: comm}})
	ev, err := decodeEvent(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	want := Key{Cap: 2, Denied: true, Syscall: 257, MntNS: 5, Flags: OtherCred, Comm: "cat"}
	if ev.Key == nil || *ev.Key != want || ev.PID != 7 {
		t.Errorf("decoded %+v, want %+v", ev.Key, want)
	}
}
