package engine

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// StrSlice is a list of strings the engine may also send as one string or
// null (Entrypoint, Cmd).
type StrSlice []string

// UnmarshalJSON accepts ["a","b"], "a b" (one element) and null.
func (s *StrSlice) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*s = nil
		return nil
	}
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = StrSlice{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

// ContainerSummary is one entry of the container list.
type ContainerSummary struct {
	ID      string            `json:"Id"`
	Names   []string          `json:"Names"`
	Image   string            `json:"Image"`
	ImageID string            `json:"ImageID"`
	Command string            `json:"Command"`
	State   string            `json:"State"`
	Status  string            `json:"Status"`
	Labels  map[string]string `json:"Labels"`
}

// Name returns the container's primary name without the leading slash.
func (s ContainerSummary) Name() string {
	if len(s.Names) == 0 {
		return ""
	}
	return strings.TrimPrefix(s.Names[0], "/")
}

// ContainerConfig is the part of a container's configuration capdrop reads
// (the engine's Config object).
type ContainerConfig struct {
	Hostname   string            `json:"Hostname,omitempty"`
	User       string            `json:"User,omitempty"`
	Env        []string          `json:"Env,omitempty"`
	Cmd        StrSlice          `json:"Cmd,omitempty"`
	Entrypoint StrSlice          `json:"Entrypoint,omitempty"`
	Image      string            `json:"Image,omitempty"`
	WorkingDir string            `json:"WorkingDir,omitempty"`
	Labels     map[string]string `json:"Labels,omitempty"`
	Tty        bool              `json:"Tty,omitempty"`
	OpenStdin  bool              `json:"OpenStdin,omitempty"`
}

// HostConfig is the part of a container's host configuration capdrop reads
// and sets.
type HostConfig struct {
	CapAdd         []string          `json:"CapAdd"`
	CapDrop        []string          `json:"CapDrop"`
	Privileged     bool              `json:"Privileged"`
	SecurityOpt    []string          `json:"SecurityOpt,omitempty"`
	Binds          []string          `json:"Binds,omitempty"`
	NetworkMode    string            `json:"NetworkMode,omitempty"`
	PidMode        string            `json:"PidMode,omitempty"`
	UsernsMode     string            `json:"UsernsMode,omitempty"`
	Sysctls        map[string]string `json:"Sysctls,omitempty"`
	ReadonlyRootfs bool              `json:"ReadonlyRootfs,omitempty"`
	AutoRemove     bool              `json:"AutoRemove,omitempty"`
	Init           *bool             `json:"Init,omitempty"`
}

// ContainerState is a container's run state.
type ContainerState struct {
	Status     string `json:"Status"`
	Running    bool   `json:"Running"`
	Pid        int    `json:"Pid"`
	ExitCode   int    `json:"ExitCode"`
	OOMKilled  bool   `json:"OOMKilled"`
	Error      string `json:"Error"`
	StartedAt  string `json:"StartedAt"`
	FinishedAt string `json:"FinishedAt"`
}

// Container is what inspecting a container returns. Raw holds the engine's
// whole answer, for callers that re-create a container with everything
// else kept.
type Container struct {
	ID         string          `json:"Id"`
	Name       string          `json:"Name"`
	Image      string          `json:"Image"`
	State      ContainerState  `json:"State"`
	Config     ContainerConfig `json:"Config"`
	HostConfig HostConfig      `json:"HostConfig"`
	Raw        json.RawMessage `json:"-"`
}

// ShortName is the name without the leading slash.
func (c *Container) ShortName() string { return strings.TrimPrefix(c.Name, "/") }

// ListOptions select containers to list.
type ListOptions struct {
	All     bool                // include stopped containers
	Filters map[string][]string // engine filters: label, name, id, status, …
}

// ContainerList lists containers.
func (c *Client) ContainerList(ctx context.Context, opt ListOptions) ([]ContainerSummary, error) {
	q := url.Values{}
	if opt.All {
		q.Set("all", "1")
	}
	if len(opt.Filters) > 0 {
		b, err := json.Marshal(opt.Filters)
		if err != nil {
			return nil, err
		}
		q.Set("filters", string(b))
	}
	var out []ContainerSummary
	err := c.call(ctx, "list containers", http.MethodGet, "/containers/json", q, nil, &out)
	return out, err
}

// ContainerInspect returns a container by ID, ID prefix or name.
func (c *Client) ContainerInspect(ctx context.Context, ref string) (*Container, error) {
	var raw json.RawMessage
	if err := c.call(ctx, "inspect container "+ref, http.MethodGet, "/containers/"+pathEscape(ref)+"/json", nil, nil, &raw); err != nil {
		return nil, err
	}
	ct := &Container{Raw: raw}
	if err := json.Unmarshal(raw, ct); err != nil {
		return nil, fmt.Errorf("inspect container %s: %w", ref, err)
	}
	return ct, nil
}

// CreateResult is the engine's answer to a create.
type CreateResult struct {
	ID       string   `json:"Id"`
	Warnings []string `json:"Warnings"`
}

// ContainerCreate creates a container named name ("" lets the engine pick)
// from body, which is marshalled to JSON as the engine's create request
// (a Config object with HostConfig and NetworkingConfig members; a
// map[string]any keeps fields this package does not model).
func (c *Client) ContainerCreate(ctx context.Context, name string, body any) (CreateResult, error) {
	q := url.Values{}
	if name != "" {
		q.Set("name", name)
	}
	var out CreateResult
	err := c.call(ctx, "create container", http.MethodPost, "/containers/create", q, body, &out)
	return out, err
}

// ContainerStart starts a created container.
func (c *Client) ContainerStart(ctx context.Context, id string) error {
	return c.call(ctx, "start container "+short(id), http.MethodPost, "/containers/"+pathEscape(id)+"/start", nil, nil, nil)
}

// ContainerKill sends a signal ("KILL", "TERM", …) to the container's main
// process.
func (c *Client) ContainerKill(ctx context.Context, id, signal string) error {
	q := url.Values{"signal": {signal}}
	return c.call(ctx, "kill container "+short(id), http.MethodPost, "/containers/"+pathEscape(id)+"/kill", q, nil, nil)
}

// ContainerStop stops a container, killing it after timeout.
func (c *Client) ContainerStop(ctx context.Context, id string, timeout time.Duration) error {
	q := url.Values{"t": {strconv.Itoa(int(timeout.Seconds()))}}
	return c.call(ctx, "stop container "+short(id), http.MethodPost, "/containers/"+pathEscape(id)+"/stop", q, nil, nil)
}

// ContainerRemove removes a container, with force killing it first and
// removing its anonymous volumes.
func (c *Client) ContainerRemove(ctx context.Context, id string, force bool) error {
	q := url.Values{"v": {"1"}}
	if force {
		q.Set("force", "1")
	}
	return c.call(ctx, "remove container "+short(id), http.MethodDelete, "/containers/"+pathEscape(id), q, nil, nil)
}

// WaitResult is how a container ended.
type WaitResult struct {
	StatusCode int
	Err        error
}

// ContainerWait asks the engine to report when the container reaches
// condition ("not-running", "next-exit", "removed"). It returns once the
// engine has registered the wait, so a caller may then start the container
// without missing its exit; the result arrives on the channel.
func (c *Client) ContainerWait(ctx context.Context, id, condition string) (<-chan WaitResult, error) {
	v, err := c.APIVersion(ctx)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	if condition != "" {
		q.Set("condition", condition)
	}
	resp, err := c.do(ctx, http.MethodPost, "/v"+v+"/containers/"+pathEscape(id)+"/wait", q, nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		return nil, readAPIError("wait for container "+short(id), resp)
	}
	ch := make(chan WaitResult, 1)
	go func() {
		defer resp.Body.Close()
		var body struct {
			StatusCode int
			Error      *struct{ Message string }
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			ch <- WaitResult{StatusCode: -1, Err: fmt.Errorf("wait for container %s: %w", short(id), err)}
			return
		}
		r := WaitResult{StatusCode: body.StatusCode}
		if body.Error != nil && body.Error.Message != "" {
			r.Err = fmt.Errorf("wait for container %s: %s", short(id), body.Error.Message)
		}
		ch <- r
	}()
	return ch, nil
}

// ContainerLogs returns the container's standard output and error (merged in
// order), the last tail lines ("all" or "" for everything).
func (c *Client) ContainerLogs(ctx context.Context, id string, tail string) (string, error) {
	ct, err := c.ContainerInspect(ctx, id)
	if err != nil {
		return "", err
	}
	v, err := c.APIVersion(ctx)
	if err != nil {
		return "", err
	}
	q := url.Values{"stdout": {"1"}, "stderr": {"1"}}
	if tail != "" {
		q.Set("tail", tail)
	}
	resp, err := c.do(ctx, http.MethodGet, "/v"+v+"/containers/"+pathEscape(id)+"/logs", q, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return "", readAPIError("logs of container "+short(id), resp)
	}
	var b strings.Builder
	if ct.Config.Tty {
		_, err = io.Copy(&b, io.LimitReader(resp.Body, maxOutput))
	} else {
		err = demux(&b, &b, io.LimitReader(resp.Body, maxOutput))
	}
	return b.String(), err
}

// maxOutput bounds how much output capdrop keeps from a container.
const maxOutput = 8 << 20

// demux splits the engine's multiplexed stream (8-byte frame headers:
// stream, 3 zero bytes, big-endian length) into stdout and stderr.
func demux(stdout, stderr io.Writer, r io.Reader) error {
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return nil
			}
			return err
		}
		n := int64(binary.BigEndian.Uint32(hdr[4:]))
		w := stdout
		switch hdr[0] {
		case 0, 1:
		case 2:
			w = stderr
		default:
			return fmt.Errorf("engine stream: unknown frame type %d", hdr[0])
		}
		if _, err := io.CopyN(w, r, n); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

func short(id string) string {
	if len(id) > 12 && isHex(id) {
		return id[:12]
	}
	return id
}

func isHex(s string) bool {
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return true
}
