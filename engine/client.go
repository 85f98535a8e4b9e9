// Package engine is a small client for the Docker Engine API: what capdrop
// needs to list and inspect containers and images, and to create, start,
// wait for, exec into, read the logs of, and remove the containers that
// verify, profile and runlabel start.
//
// It speaks HTTP over the socket DOCKER_HOST names (unix:// or tcp://,
// default unix:///var/run/docker.sock), negotiates the API version with the
// engine, and maps engine errors to typed errors. It never starts anything by
// itself: only the callers that are allowed to (verify, profile --docker,
// runlabel) call the create/start methods.
package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultHost is the engine address used when DOCKER_HOST is not set.
const DefaultHost = "unix:///var/run/docker.sock"

// MaxAPIVersion is the newest API version this client speaks; it uses the
// engine's own version when that is older. 1.41 is Docker 20.10.
const MaxAPIVersion = "1.43"

// minAPIVersion is the oldest engine API this client accepts.
const minAPIVersion = "1.24"

// ErrUnreachable is wrapped by errors that mean no engine answered at the
// address (no socket, connection refused, permission denied on the socket).
var ErrUnreachable = errors.New("docker engine unreachable")

// ErrNotFound is wrapped by errors for a container, image or exec the engine
// does not have.
var ErrNotFound = errors.New("not found")

// APIError is an error response from the engine.
type APIError struct {
	Status  int    // HTTP status
	Message string // the engine's message
	Op      string // what capdrop was doing ("inspect container web")
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s: %s (engine status %d)", e.Op, e.Message, e.Status)
}

// Unwrap makes errors.Is(err, ErrNotFound) true for 404s.
func (e *APIError) Unwrap() error {
	if e.Status == http.StatusNotFound {
		return ErrNotFound
	}
	return nil
}

// Client talks to one engine. It is safe for concurrent use.
type Client struct {
	host string // as given: unix:///var/run/docker.sock, tcp://1.2.3.4:2375
	http *http.Client
	base string // http://docker or http://host:port

	verOnce sync.Once
	version string
	verErr  error
}

// FromEnv returns a client for the engine DOCKER_HOST names, or the default
// socket.
func FromEnv() (*Client, error) {
	host := os.Getenv("DOCKER_HOST")
	if host == "" {
		host = DefaultHost
	}
	if os.Getenv("DOCKER_TLS_VERIFY") != "" {
		return nil, fmt.Errorf("DOCKER_TLS_VERIFY is set: capdrop's engine client does not speak TLS; use the unix socket or an SSH tunnel to it")
	}
	return New(host)
}

// New returns a client for the engine at host: "unix:///path/to/socket" or
// "tcp://host:port" (plain HTTP).
func New(host string) (*Client, error) {
	u, err := url.Parse(host)
	if err != nil {
		return nil, fmt.Errorf("docker host %q: %w", host, err)
	}
	tr := &http.Transport{MaxIdleConns: 4, IdleConnTimeout: 30 * time.Second}
	c := &Client{host: host}
	switch u.Scheme {
	case "unix":
		path := u.Path
		if path == "" {
			path = u.Opaque
		}
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
		c.base = "http://docker"
	case "tcp", "http":
		c.base = "http://" + u.Host
	default:
		return nil, fmt.Errorf("docker host %q: scheme %q not supported (want unix:// or tcp://)", host, u.Scheme)
	}
	c.http = &http.Client{Transport: tr}
	return c, nil
}

// Host returns the address the client talks to.
func (c *Client) Host() string { return c.host }

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// APIVersion returns the API version in use, negotiating it on first use.
func (c *Client) APIVersion(ctx context.Context) (string, error) {
	c.verOnce.Do(func() {
		resp, err := c.do(ctx, http.MethodGet, "/_ping", nil, nil)
		if err != nil {
			c.verErr = err
			return
		}
		resp.Body.Close()
		v := resp.Header.Get("Api-Version")
		switch {
		case v == "":
			c.version = minAPIVersion
		case versionLess(MaxAPIVersion, v):
			c.version = MaxAPIVersion
		case versionLess(v, minAPIVersion):
			c.verErr = fmt.Errorf("docker engine API %s is older than %s, the oldest capdrop supports", v, minAPIVersion)
		default:
			c.version = v
		}
	})
	return c.version, c.verErr
}

// versionLess compares dotted API versions numerically ("1.9" < "1.41").
func versionLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(as), len(bs)); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x < y
		}
	}
	return false
}

// do sends one request. path is unversioned; body, when not nil, is sent
// as JSON.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w at %s: %v", ErrUnreachable, c.host, unwrapURLError(err))
	}
	return resp, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// call sends a versioned request and decodes a JSON answer into out (when
// not nil). op names the operation in errors.
func (c *Client) call(ctx context.Context, op, method, path string, query url.Values, body, out any) error {
	v, err := c.APIVersion(ctx)
	if err != nil {
		return err
	}
	resp, err := c.do(ctx, method, "/v"+v+path, query, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return readAPIError(op, resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxAnswer))
		return nil
	}
	cr := &capped{r: resp.Body, left: MaxAnswer}
	if err := json.NewDecoder(cr).Decode(out); err != nil {
		if cr.over {
			return fmt.Errorf("%s: the engine's answer is larger than %d MiB, the most capdrop reads (an image label that large?)", op, MaxAnswer>>20)
		}
		return fmt.Errorf("%s: decode engine answer: %w", op, err)
	}
	return nil
}

// MaxAnswer is the most capdrop reads of one engine answer: inspections
// carry labels and environments an image's author wrote, which must not
// be able to exhaust memory.
const MaxAnswer = 64 << 20

// capped reads at most left bytes and then fails, remembering it did.
type capped struct {
	r    io.Reader
	left int64
	over bool
}

func (c *capped) Read(p []byte) (int, error) {
	if c.left <= 0 {
		var one [1]byte
		if n, _ := c.r.Read(one[:]); n > 0 {
			c.over = true
			return 0, errors.New("engine answer too large")
		}
		return 0, io.EOF
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

func readAPIError(op string, resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var m struct {
		Message string `json:"message"`
	}
	msg := strings.TrimSpace(string(b))
	if json.Unmarshal(b, &m) == nil && m.Message != "" {
		msg = m.Message
	}
	return &APIError{Status: resp.StatusCode, Message: msg, Op: op}
}

// Version is what GET /version says about the engine.
type Version struct {
	Version       string `json:"Version"`
	APIVersion    string `json:"ApiVersion"`
	MinAPIVersion string `json:"MinAPIVersion"`
	KernelVersion string `json:"KernelVersion"`
	Os            string `json:"Os"`
	Arch          string `json:"Arch"`
}

// ServerVersion returns the engine's version information.
func (c *Client) ServerVersion(ctx context.Context) (Version, error) {
	var v Version
	err := c.call(ctx, "engine version", http.MethodGet, "/version", nil, nil, &v)
	return v, err
}

// pathEscape escapes a container or image reference for a URL path, keeping
// the slashes of repository names ("library/busybox:1"), which the engine's
// router expects literally.
func pathEscape(ref string) string {
	return strings.ReplaceAll(url.PathEscape(ref), "%2F", "/")
}
