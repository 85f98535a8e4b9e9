package engine

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"time"
)

// FilesLabel marks the containers ImageFiles creates (and removes), so a
// leftover from a crash can be recognised.
const FilesLabel = "io.capdrop.image-files"

// maxLinks is how many symbolic links ImageFiles follows for one path.
const maxLinks = 8

// ErrTooLarge is wrapped by ImageFiles when a file exceeds its limit.
var ErrTooLarge = errors.New("file too large")

// ImageFiles reads files from an image without running anything in it: it
// creates a container from the image (never started, no network), copies
// each absolute path out through the engine's archive API, and removes the
// container, even when ctx is cancelled. A symbolic link is followed inside
// the image's file system, as the engine does when it resolves a USER, up to
// 8 links; a path the image does not have is left out of the result. Each
// file is read up to limit bytes; a larger one is an error wrapping
// ErrTooLarge.
func (c *Client) ImageFiles(ctx context.Context, image string, paths []string, limit int64) (map[string][]byte, error) {
	body := map[string]any{
		"Image":           image,
		"Entrypoint":      []string{"/capdrop: never started"},
		"Cmd":             []string{},
		"Labels":          map[string]string{FilesLabel: "1"},
		"NetworkDisabled": true,
		"HostConfig":      map[string]any{"NetworkMode": "none"},
	}
	created, err := c.ContainerCreate(ctx, "", body)
	if err != nil {
		return nil, fmt.Errorf("read files of image %s: %w", image, err)
	}
	defer func() {
		// Removed even when the caller gave up: nothing is left behind.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = c.ContainerRemove(rctx, created.ID, true)
	}()
	out := map[string][]byte{}
	for _, p := range paths {
		b, found, err := c.readFile(ctx, created.ID, p, limit)
		if err != nil {
			return nil, fmt.Errorf("read %s from image %s: %w", p, image, err)
		}
		if found {
			out[p] = b
		}
	}
	return out, nil
}

// readFile copies one path out of a container, following symbolic links
// inside it.
func (c *Client) readFile(ctx context.Context, id, p string, limit int64) ([]byte, bool, error) {
	for range maxLinks + 1 {
		hdr, data, err := c.archiveEntry(ctx, id, p, limit)
		if err != nil || hdr == nil {
			return nil, false, err
		}
		switch hdr.Typeflag {
		case tar.TypeReg:
			return data, true, nil
		case tar.TypeSymlink:
			target := hdr.Linkname
			if !path.IsAbs(target) {
				target = path.Join(path.Dir(p), target)
			}
			p = path.Clean(target) // in the image's root, never the host's
		default:
			return nil, false, fmt.Errorf("%s is not a regular file in the image", p)
		}
	}
	return nil, false, fmt.Errorf("more than %d symbolic links", maxLinks)
}

// archiveEntry reads the first entry of the archive of one path: its
// header, and its content when it is a regular file. A nil header means the
// path does not exist.
func (c *Client) archiveEntry(ctx context.Context, id, p string, limit int64) (*tar.Header, []byte, error) {
	v, err := c.APIVersion(ctx)
	if err != nil {
		return nil, nil, err
	}
	op := "copy " + p + " from container " + short(id)
	resp, err := c.do(ctx, http.MethodGet, "/v"+v+"/containers/"+pathEscape(id)+"/archive", url.Values{"path": {p}}, nil)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, nil, nil
	}
	if resp.StatusCode >= 300 {
		return nil, nil, readAPIError(op, resp)
	}
	tr := tar.NewReader(resp.Body)
	hdr, err := tr.Next()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", op, err)
	}
	if hdr.Typeflag != tar.TypeReg {
		return hdr, nil, nil
	}
	if hdr.Size > limit {
		return nil, nil, fmt.Errorf("%s: %w: %d bytes (limit %d)", op, ErrTooLarge, hdr.Size, limit)
	}
	data, err := io.ReadAll(io.LimitReader(tr, limit+1))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", op, err)
	}
	if int64(len(data)) > limit {
		return nil, nil, fmt.Errorf("%s: %w: more than %d bytes", op, ErrTooLarge, limit)
	}
	return hdr, data, nil
}
