package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/capdrop/capdrop/workload"
)

// Node is a node and the container runtime it reports.
type Node struct {
	Name string `json:"name"`
	// RuntimeVersion is status.nodeInfo.containerRuntimeVersion as the
	// node reports it: "containerd://1.6.20", "cri-o://1.29.1".
	RuntimeVersion string `json:"runtime_version"`
	// Runtime is the runtime whose rules apply, "" when capdrop does not
	// model the one the node names.
	Runtime workload.Runtime `json:"runtime"`
	// Version is the runtime's release ("1.6.20"), "" when unknown.
	Version string `json:"version"`
}

// ParseRuntime reads a node's containerRuntimeVersion.
func ParseRuntime(s string) (workload.Runtime, string) {
	name, version, _ := strings.Cut(s, "://")
	switch strings.ToLower(name) {
	case "containerd":
		return workload.Containerd, version
	case "cri-o", "crio":
		return workload.CRIO, version
	case "docker": // dockershim and cri-dockerd
		return workload.Docker, version
	}
	return "", version
}

func (rd *reader) readNodes(ctx context.Context) error {
	rd.byNode = map[string]Node{}
	err := rd.readAll(ctx, nodes, func(_ context.Context, _ Resource, item json.RawMessage) error {
		var n struct {
			Metadata objectMeta `json:"metadata"`
			Status   struct {
				NodeInfo struct {
					ContainerRuntimeVersion string `json:"containerRuntimeVersion"`
				} `json:"nodeInfo"`
			} `json:"status"`
		}
		if err := json.Unmarshal(item, &n); err != nil {
			rd.res.Errors = append(rd.res.Errors, &workload.Error{Pos: workload.Position{File: "nodes"}, Err: fmt.Errorf("decode node: %w", err)})
			return nil
		}
		node := Node{Name: n.Metadata.Name, RuntimeVersion: n.Status.NodeInfo.ContainerRuntimeVersion}
		node.Runtime, node.Version = ParseRuntime(node.RuntimeVersion)
		rd.byNode[node.Name] = node
		rd.res.Nodes = append(rd.res.Nodes, node)
		return nil
	})
	if err != nil {
		return err
	}
	for i, n := range rd.res.Nodes {
		if i == 0 {
			rd.runtime = n.Runtime
		} else if n.Runtime != rd.runtime {
			rd.runtime = ""
		}
	}
	return nil
}

// Versions returns, for each runtime, its release when every node that
// runs it runs the same one.
func (r *Result) Versions() map[workload.Runtime]string {
	out := map[workload.Runtime]string{}
	mixed := map[workload.Runtime]bool{}
	for _, n := range r.Nodes {
		if n.Runtime == "" || n.Version == "" {
			continue
		}
		if v, ok := out[n.Runtime]; ok && v != n.Version {
			mixed[n.Runtime] = true
		}
		out[n.Runtime] = n.Version
	}
	for rt := range mixed {
		delete(out, rt)
	}
	return out
}
