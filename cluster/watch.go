package cluster

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// PodEvent is a change to a Pod a watch saw: Type is ADDED, MODIFIED or
// DELETED (BOOKMARK and ERROR events are handled by WatchPods).
type PodEvent struct {
	Type   string
	Object json.RawMessage
}

// watchEvent is one line of a watch stream.
type watchEvent struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

type listMeta struct {
	Metadata struct {
		ResourceVersion string `json:"resourceVersion"`
		Continue        string `json:"continue"`
	} `json:"metadata"`
	Items []json.RawMessage `json:"items"`
}

// WatchPods lists the Pods of every namespace that fieldSelector selects
// ("spec.nodeName=NODE": a node agent's own Pods) and then follows their
// changes, listing again whenever the watch breaks or expires, until ctx
// ends. list gets every Pod at each listing (the full set: a Pod missing
// from it is gone); event gets each change after. It returns ctx's error;
// errors of a listing or a watch go to problem and are retried after a
// pause.
func (c *Client) WatchPods(ctx context.Context, fieldSelector string, list func([]json.RawMessage), event func(PodEvent), problem func(error)) error {
	const pause = 2 * time.Second
	for ctx.Err() == nil {
		rv, err := c.listPods(ctx, fieldSelector, list)
		if err == nil {
			err = c.watchPods(ctx, fieldSelector, rv, event)
		}
		if errors.Is(err, errExpired) {
			continue // list again at once
		}
		if err != nil && ctx.Err() == nil {
			problem(err)
			select {
			case <-ctx.Done():
			case <-time.After(pause):
			}
		}
	}
	return ctx.Err()
}

func (c *Client) listPods(ctx context.Context, fieldSelector string, f func([]json.RawMessage)) (string, error) {
	var all []json.RawMessage
	cont, rv := "", ""
	for {
		req := c.rest.Get().AbsPath("/api/v1/pods").Param("limit", "500").Param("fieldSelector", fieldSelector)
		if cont != "" {
			req = req.Param("continue", cont)
		}
		data, err := raw(req.Do(ctx))
		if err != nil {
			return "", fmt.Errorf("list pods (%s): %w", fieldSelector, err)
		}
		var p listMeta
		if err := json.Unmarshal(data, &p); err != nil {
			return "", fmt.Errorf("list pods (%s): %w", fieldSelector, err)
		}
		all = append(all, p.Items...)
		rv = p.Metadata.ResourceVersion
		if p.Metadata.Continue == "" {
			break
		}
		cont = p.Metadata.Continue
	}
	f(all)
	return rv, nil
}

// errExpired says a watch must start again from a new listing.
var errExpired = errors.New("the watch expired")

func (c *Client) watchPods(ctx context.Context, fieldSelector, rv string, f func(PodEvent)) error {
	for {
		// The server ends a watch after its timeout; ask for a bounded one
		// and resume from the last version seen.
		req := c.rest.Get().AbsPath("/api/v1/pods").Param("watch", "true").Param("fieldSelector", fieldSelector).
			Param("resourceVersion", rv).Param("allowWatchBookmarks", "true").
			Param("timeoutSeconds", strconv.Itoa(300))
		body, err := req.Stream(ctx)
		if err != nil {
			return fmt.Errorf("watch pods (%s): %w", fieldSelector, err)
		}
		sc := bufio.NewScanner(body)
		sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
		for sc.Scan() {
			var ev watchEvent
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				body.Close()
				return fmt.Errorf("watch pods: decode an event: %w", err)
			}
			var m struct {
				Metadata struct {
					ResourceVersion string `json:"resourceVersion"`
				} `json:"metadata"`
				Code    int    `json:"code"`
				Message string `json:"message"`
			}
			_ = json.Unmarshal(ev.Object, &m)
			switch ev.Type {
			case "ERROR":
				body.Close()
				if m.Code == 410 {
					return errExpired
				}
				return fmt.Errorf("watch pods: %s (%d)", m.Message, m.Code)
			case "BOOKMARK":
			default:
				f(PodEvent{Type: ev.Type, Object: ev.Object})
			}
			if m.Metadata.ResourceVersion != "" {
				rv = m.Metadata.ResourceVersion
			}
		}
		err = sc.Err()
		body.Close()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			return fmt.Errorf("watch pods: %w", err)
		}
	}
}
