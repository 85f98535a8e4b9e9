package engine

import (
	"bytes"
	"context"
	"io"
	"net/http"
)

// ExecResult is the outcome of a command run inside a container.
type ExecResult struct {
	ExitCode int
	Stdout   string
	Stderr   string
}

// Exec runs cmd inside a running container as user ("" for the container's
// own user), without a TTY and never privileged, waits for it and returns
// its exit code and output.
func (c *Client) Exec(ctx context.Context, id string, cmd []string, user string) (ExecResult, error) {
	var created struct {
		ID string `json:"Id"`
	}
	body := map[string]any{
		"AttachStdout": true, "AttachStderr": true, "Cmd": cmd, "Privileged": false,
	}
	if user != "" {
		body["User"] = user
	}
	op := "exec in container " + short(id)
	if err := c.call(ctx, op, http.MethodPost, "/containers/"+pathEscape(id)+"/exec", nil, body, &created); err != nil {
		return ExecResult{}, err
	}
	v, err := c.APIVersion(ctx)
	if err != nil {
		return ExecResult{}, err
	}
	resp, err := c.do(ctx, http.MethodPost, "/v"+v+"/exec/"+pathEscape(created.ID)+"/start", nil, map[string]any{"Detach": false, "Tty": false})
	if err != nil {
		return ExecResult{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return ExecResult{}, readAPIError(op, resp)
	}
	var stdout, stderr bytes.Buffer
	if err := demux(&stdout, &stderr, io.LimitReader(resp.Body, maxOutput)); err != nil {
		return ExecResult{}, err
	}
	var info struct {
		ExitCode int  `json:"ExitCode"`
		Running  bool `json:"Running"`
	}
	if err := c.call(ctx, op, http.MethodGet, "/exec/"+pathEscape(created.ID)+"/json", nil, nil, &info); err != nil {
		return ExecResult{}, err
	}
	return ExecResult{ExitCode: info.ExitCode, Stdout: stdout.String(), Stderr: stderr.String()}, nil
}
