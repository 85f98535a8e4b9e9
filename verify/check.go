package verify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/capdrop/capdrop/engine"
)

// Check is how a trial is judged. With no probe and no Running duration the
// container must exit by itself with ExitCode. Probes (Exec, HTTP, TCP) are
// tried every quarter second after the container starts until they all pass
// together (pass), the container exits (fail) or the timeout ends (fail).
// Running requires the container to still run after that long (then probes,
// if any, are tried).
type Check struct {
	ExitCode int           `json:"exit_code"`
	Exec     []string      `json:"exec,omitempty"`
	HTTP     *HTTPProbe    `json:"http,omitempty"`
	TCP      int           `json:"tcp,omitempty"`
	Running  time.Duration `json:"-"`
}

// HTTPProbe is a GET request. With URL empty it goes to Port and Path on the
// container's own address; any status below 400 passes.
type HTTPProbe struct {
	URL  string `json:"url,omitempty"`
	Port int    `json:"port,omitempty"`
	Path string `json:"path,omitempty"`
}

// ParseHTTPProbe reads --check-http: "8080/healthz", ":8080/healthz",
// "8080", "/healthz" (port 80) on the container's address, or a whole
// http:// URL used as it is (for a container on the host network).
func ParseHTTPProbe(s string) (*HTTPProbe, error) {
	if strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("--check-http %q: not a URL", s)
		}
		return &HTTPProbe{URL: s}, nil
	}
	rest := strings.TrimPrefix(s, ":")
	port, path := 80, "/"
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		path = rest[i:]
		rest = rest[:i]
	}
	if rest != "" {
		p, err := ParsePort(rest)
		if err != nil {
			return nil, fmt.Errorf("--check-http %q: %w", s, err)
		}
		port = p
	}
	return &HTTPProbe{Port: port, Path: path}, nil
}

// ParsePort reads a TCP port number (1 to 65535).
func ParsePort(s string) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("%q is not a port number (1-65535)", s)
	}
	return p, nil
}

// probes reports whether the check has anything to try while the container
// runs.
func (c Check) probes() bool { return len(c.Exec) > 0 || c.HTTP != nil || c.TCP != 0 }

// needsAddress reports whether the check reaches the container over the
// network.
func (c Check) needsAddress() bool {
	return c.TCP != 0 || (c.HTTP != nil && c.HTTP.URL == "")
}

// String describes the check for people.
func (c Check) String() string {
	var parts []string
	if c.Running > 0 {
		parts = append(parts, "still running after "+c.Running.String())
	}
	if len(c.Exec) > 0 {
		parts = append(parts, fmt.Sprintf("exec %q exits 0", c.Exec))
	}
	if c.HTTP != nil {
		parts = append(parts, "HTTP GET "+c.HTTP.target("CONTAINER")+" answers below 400")
	}
	if c.TCP != 0 {
		parts = append(parts, fmt.Sprintf("TCP port %d accepts a connection", c.TCP))
	}
	if len(parts) == 0 {
		return fmt.Sprintf("exits with code %d", c.ExitCode)
	}
	return strings.Join(parts, ", and ")
}

func (h *HTTPProbe) target(ip string) string {
	if h.URL != "" {
		return h.URL
	}
	return "http://" + net.JoinHostPort(ip, strconv.Itoa(h.Port)) + h.Path
}

// probeOnce tries every probe of the check once. It returns whether all
// passed and a line of evidence per probe.
func (c Check) probeOnce(ctx context.Context, ex engine.API, id, ip string) (bool, string) {
	if c.needsAddress() && ip == "" {
		return false, "no address to probe: the container is not running"
	}
	ok := true
	var ev []string
	if len(c.Exec) > 0 {
		pass, e := probeExec(ctx, ex, id, c.Exec)
		ok = ok && pass
		ev = append(ev, e)
	}
	if c.HTTP != nil {
		pass, e := probeHTTP(ctx, c.HTTP.target(ip))
		ok = ok && pass
		ev = append(ev, e)
	}
	if c.TCP != 0 {
		pass, e := probeTCP(ctx, net.JoinHostPort(ip, strconv.Itoa(c.TCP)))
		ok = ok && pass
		ev = append(ev, e)
	}
	return ok, strings.Join(ev, "; ")
}

const probeTimeout = 2 * time.Second

func probeExec(ctx context.Context, ex engine.API, id string, cmd []string) (bool, string) {
	ctx, cancel := context.WithTimeout(ctx, 10*probeTimeout)
	defer cancel()
	res, err := ex.Exec(ctx, id, cmd, "")
	if err != nil {
		return false, fmt.Sprintf("exec %q: %v", cmd, err)
	}
	out := lastLines(strings.TrimSpace(res.Stdout+"\n"+res.Stderr), 3, 300)
	ev := fmt.Sprintf("exec %q exited %d", cmd, res.ExitCode)
	if out != "" {
		ev += ": " + strings.ReplaceAll(out, "\n", " | ")
	}
	return res.ExitCode == 0, ev
}

func probeHTTP(ctx context.Context, target string) (bool, string) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return false, fmt.Sprintf("GET %s: %v", target, err)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return false, fmt.Sprintf("GET %s: %v", target, err)
	}
	resp.Body.Close()
	return resp.StatusCode < 400, fmt.Sprintf("GET %s: %s", target, resp.Status)
}

func probeTCP(ctx context.Context, addr string) (bool, string) {
	d := net.Dialer{Timeout: probeTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) {
			err = oe.Err
		}
		return false, fmt.Sprintf("TCP %s: %v", addr, err)
	}
	conn.Close()
	return true, fmt.Sprintf("TCP %s: connected", addr)
}

// lastLines keeps the last n lines of s, at most max bytes.
func lastLines(s string, n, max int) string {
	s = strings.TrimRight(s, "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := strings.Join(lines, "\n")
	if len(out) > max {
		out = "…" + out[len(out)-max:]
	}
	return out
}
