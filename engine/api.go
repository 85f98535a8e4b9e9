package engine

import (
	"context"
	"time"
)

// API is the part of the Docker Engine API capdrop's verbs use. *Client
// implements it against a real engine; the verbs take an API, so their
// orchestration is tested with a fake (package enginetest) as well as with
// the real engine.
type API interface {
	// Host names the engine's address, for messages.
	Host() string
	ServerVersion(ctx context.Context) (Version, error)
	ImageInspect(ctx context.Context, ref string) (*Image, error)
	ImageFiles(ctx context.Context, image string, paths []string, limit int64) (map[string][]byte, error)
	ContainerList(ctx context.Context, opt ListOptions) ([]ContainerSummary, error)
	ContainerInspect(ctx context.Context, ref string) (*Container, error)
	ContainerCreate(ctx context.Context, name string, body any) (CreateResult, error)
	ContainerStart(ctx context.Context, id string) error
	ContainerWait(ctx context.Context, id, condition string) (<-chan WaitResult, error)
	ContainerKill(ctx context.Context, id, signal string) error
	ContainerStop(ctx context.Context, id string, timeout time.Duration) error
	ContainerRemove(ctx context.Context, id string, force bool) error
	ContainerLogs(ctx context.Context, id string, tail string) (string, error)
	Exec(ctx context.Context, id string, cmd []string, user string) (ExecResult, error)
}

var _ API = (*Client)(nil)
