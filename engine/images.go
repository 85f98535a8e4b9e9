package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// Image is what inspecting an image returns.
type Image struct {
	ID       string          `json:"Id"`
	RepoTags []string        `json:"RepoTags"`
	Config   ContainerConfig `json:"Config"`
	Raw      json.RawMessage `json:"-"`
}

// ImageInspect returns an image by reference or ID.
func (c *Client) ImageInspect(ctx context.Context, ref string) (*Image, error) {
	var raw json.RawMessage
	if err := c.call(ctx, "inspect image "+ref, http.MethodGet, "/images/"+pathEscape(ref)+"/json", nil, nil, &raw); err != nil {
		return nil, err
	}
	img := &Image{Raw: raw}
	if err := json.Unmarshal(raw, img); err != nil {
		return nil, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	return img, nil
}
