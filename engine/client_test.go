package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// fakeEngine answers like an engine speaking apiVersion, with handlers for
// versioned paths.
func fakeEngine(t *testing.T, apiVersion string, routes map[string]http.HandlerFunc) *Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_ping" {
			if apiVersion != "" {
				w.Header().Set("Api-Version", apiVersion)
			}
			w.Write([]byte("OK"))
			return
		}
		key := r.Method + " " + r.URL.Path
		if h, ok := routes[key]; ok {
			h(w, r)
			return
		}
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]string{"message": "no such route: " + key})
	}))
	t.Cleanup(srv.Close)
	c, err := New("tcp://" + strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestVersionNegotiation(t *testing.T) {
	for engineV, want := range map[string]string{"1.41": "1.41", "1.50": MaxAPIVersion, "1.43": "1.43", "": "1.24", "1.9.1": ""} {
		c := fakeEngine(t, engineV, nil)
		got, err := c.APIVersion(context.Background())
		if want == "" {
			if err == nil {
				t.Errorf("engine %s: accepted %s, want an error", engineV, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("engine %q: got %q, %v; want %q", engineV, got, err, want)
		}
	}
}

func TestErrorsAreTyped(t *testing.T) {
	c := fakeEngine(t, "1.41", map[string]http.HandlerFunc{
		"POST /v1.41/containers/create": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte(`{"message":"invalid CapAdd: unknown capability: \"CAP_NOPE\""}`))
		},
	})
	_, err := c.ContainerInspect(context.Background(), "nope")
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("inspect of a missing container: %v, want ErrNotFound", err)
	}
	_, err = c.ContainerCreate(context.Background(), "x", map[string]any{"Image": "i"})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 500 || !strings.Contains(ae.Message, "CAP_NOPE") || errors.Is(err, ErrNotFound) {
		t.Errorf("create error = %#v", err)
	}
}

func TestUnreachable(t *testing.T) {
	c, err := New("unix://" + filepath.Join(t.TempDir(), "no.sock"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ContainerList(context.Background(), ListOptions{})
	if !errors.Is(err, ErrUnreachable) {
		t.Errorf("got %v, want ErrUnreachable", err)
	}
	for _, bad := range []string{"ssh://host", "://x"} {
		if _, err := New(bad); err == nil {
			t.Errorf("New(%q) accepted", bad)
		}
	}
}

func TestInspectDecodes(t *testing.T) {
	c := fakeEngine(t, "1.41", map[string]http.HandlerFunc{
		"GET /v1.41/containers/web/json": func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"Id":"abc","Name":"/web","State":{"Running":true,"Pid":42},
				"Config":{"User":"1000","Entrypoint":"/bin/sh -c","Cmd":null,"Image":"busybox"},
				"HostConfig":{"CapAdd":["NET_ADMIN"],"CapDrop":null,"Privileged":false,"Extra":1}}`))
		},
		"GET /v1.41/images/library/busybox:1/json": func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"Id":"sha256:1","Config":{"User":"nobody","Labels":{"RUN":"docker run ${IMAGE}"}}}`))
		},
	})
	ct, err := c.ContainerInspect(context.Background(), "web")
	if err != nil {
		t.Fatal(err)
	}
	if ct.ShortName() != "web" || ct.State.Pid != 42 || ct.Config.User != "1000" || len(ct.Config.Entrypoint) != 1 ||
		ct.Config.Cmd != nil || ct.HostConfig.CapAdd[0] != "NET_ADMIN" || !bytes.Contains(ct.Raw, []byte(`"Extra":1`)) {
		t.Errorf("decoded %+v", ct)
	}
	img, err := c.ImageInspect(context.Background(), "library/busybox:1")
	if err != nil || img.Config.Labels["RUN"] != "docker run ${IMAGE}" {
		t.Errorf("image: %+v, %v", img, err)
	}
}

func frame(stream byte, s string) []byte {
	b := make([]byte, 8+len(s))
	b[0] = stream
	binary.BigEndian.PutUint32(b[4:], uint32(len(s)))
	copy(b[8:], s)
	return b
}

func TestDemux(t *testing.T) {
	var in bytes.Buffer
	in.Write(frame(1, "out1\n"))
	in.Write(frame(2, "err1\n"))
	in.Write(frame(1, "out2\n"))
	var out, errb bytes.Buffer
	if err := demux(&out, &errb, &in); err != nil {
		t.Fatal(err)
	}
	if out.String() != "out1\nout2\n" || errb.String() != "err1\n" {
		t.Errorf("stdout %q stderr %q", out.String(), errb.String())
	}
	if err := demux(&out, &errb, bytes.NewReader(frame(7, "x"))); err == nil {
		t.Error("a bad frame type was accepted")
	}
	// A truncated frame ends the stream without error (the container died).
	if err := demux(&out, &errb, bytes.NewReader(frame(1, "abc")[:9])); err != nil {
		t.Errorf("truncated frame: %v", err)
	}
}

func TestStrSlice(t *testing.T) {
	for in, want := range map[string]int{`null`: 0, `"a b"`: 1, `["a","b"]`: 2, `[]`: 0} {
		var s StrSlice
		if err := json.Unmarshal([]byte(in), &s); err != nil || len(s) != want {
			t.Errorf("%s: %v, %v", in, s, err)
		}
	}
	var s StrSlice
	if err := json.Unmarshal([]byte(`{}`), &s); err == nil {
		t.Error("an object was accepted")
	}
}

func TestPathEscape(t *testing.T) {
	for in, want := range map[string]string{"library/busybox:1": "library/busybox:1", "a b": "a%20b", "x?y#z": "x%3Fy%23z"} {
		if got := pathEscape(in); got != want {
			t.Errorf("pathEscape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCapped(t *testing.T) {
	for _, c := range []struct {
		size int
		over bool
	}{{10, false}, {16, false}, {17, true}} {
		cr := &capped{r: strings.NewReader(strings.Repeat("x", c.size)), left: 16}
		b, err := io.ReadAll(cr)
		if cr.over != c.over || (err != nil) != c.over || (!c.over && len(b) != c.size) {
			t.Errorf("%d bytes: read %d, over %v, err %v", c.size, len(b), cr.over, err)
		}
	}
}
