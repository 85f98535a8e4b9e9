package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// MaxProxyBody bounds what Proxy reads of an answer.
const MaxProxyBody = 64 << 20

// ErrTooLarge is wrapped by Proxy's error for an answer longer than
// MaxProxyBody.
var ErrTooLarge = errors.New("answer too large")

// Proxy sends a GET to port of Pod namespace/pod through the API server's
// pod proxy (the pods/proxy subresource) and returns the answer's body: it
// reaches a Pod with nothing but the API server's address and a permission
// to get pods/proxy. path starts with "/".
func (c *Client) Proxy(ctx context.Context, namespace, pod string, port int, path string) ([]byte, error) {
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	abs := pods.object(namespace, pod+":"+strconv.Itoa(port)) + "/proxy" + path
	what := "GET " + path + " of Pod " + namespace + "/" + pod + " through the API server"
	body, err := c.rest.Get().AbsPath(abs).Stream(ctx)
	if err != nil {
		return nil, apiError(what, err)
	}
	defer body.Close()
	data, err := io.ReadAll(io.LimitReader(body, MaxProxyBody+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if len(data) > MaxProxyBody {
		return nil, fmt.Errorf("%s: %w: more than %d bytes", what, ErrTooLarge, MaxProxyBody)
	}
	return data, nil
}

// Top follows controller references up from ref, an owner of an object in
// namespace, to the object no one controls, and returns the reference to
// it (ref itself when ref's object has no controller). Owners are read as
// metadata, each at most once. When an owner cannot be read the walk ends
// at the last reference known, with the error.
func (w *Owners) Top(ctx context.Context, namespace string, ref OwnerRef) (OwnerRef, error) {
	cur := ref
	for depth := 0; depth < 16; depth++ {
		s, ok := w.o.seen[cur.UID]
		if !ok {
			var err error
			if s, err = w.o.get(ctx, namespace, cur); err != nil {
				return cur, err
			}
		}
		if s.ctl == nil {
			return cur, nil
		}
		cur = *s.ctl
	}
	return cur, fmt.Errorf("owner references of %s/%s go deeper than 16", ref.Kind, ref.Name)
}
