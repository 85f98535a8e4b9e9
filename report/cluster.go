package report

import (
	"fmt"
	"strings"

	"github.com/capdrop/capdrop/cluster"
	"github.com/capdrop/capdrop/internal/term"
)

// Cluster is what an audit of a live cluster adds to its report: where it
// read, the nodes' runtimes, what it could not read, and where running
// Pods differ from their templates.
type Cluster struct {
	// Server is the API server's URL; Namespace the namespace read, ""
	// for all.
	Server    string `json:"server"`
	Namespace string `json:"namespace,omitempty"`
	Selector  string `json:"selector,omitempty"`
	// Nodes are the nodes and their runtimes.
	Nodes []cluster.Node `json:"nodes"`
	// Skipped are the resources that could not be read, with why.
	Skipped []cluster.Skip `json:"skipped"`
	// Differences are live Pod containers that differ from their
	// controller's template.
	Differences []cluster.Difference `json:"differences"`
	// Objects, Pages and OwnerReads count the API calls' work; Finished
	// the ended Pods passed over.
	Objects    int `json:"objects"`
	Pages      int `json:"pages"`
	OwnerReads int `json:"owner_reads"`
	Finished   int `json:"finished_pods"`
	// Bytes is the size of the list responses read.
	Bytes int64 `json:"bytes"`
}

// NewCluster builds the report's cluster part from what cluster.Read
// returned.
func NewCluster(server, namespace, selector string, r *cluster.Result) *Cluster {
	c := &Cluster{Server: server, Namespace: namespace, Selector: selector, Nodes: r.Nodes, Skipped: r.Skipped,
		Differences: r.Differences, Objects: r.Objects, Pages: r.Pages, OwnerReads: r.OwnerReads, Finished: r.Finished, Bytes: r.Bytes}
	if c.Nodes == nil {
		c.Nodes = []cluster.Node{}
	}
	if c.Skipped == nil {
		c.Skipped = []cluster.Skip{}
	}
	if c.Differences == nil {
		c.Differences = []cluster.Difference{}
	}
	return c
}

// clusterText writes the cluster part of a text report.
func (t Text) clusterText(b *strings.Builder, c *Cluster) {
	p := t.pal()
	width := t.wrapWidth()
	scope := "all namespaces"
	if c.Namespace != "" {
		scope = "namespace " + c.Namespace
	}
	if c.Selector != "" {
		scope += ", selector " + c.Selector
	}
	fmt.Fprintf(b, "%s %s (%s): %d objects in %d pages, %d owner reads\n", p.Bold("cluster"), c.Server, scope, c.Objects, c.Pages, c.OwnerReads)
	for _, n := range c.Nodes {
		rt := string(n.Runtime)
		if rt == "" {
			rt = "a runtime capdrop does not model"
		}
		fmt.Fprintf(b, "  node %s: %s (%s rules)\n", n.Name, n.RuntimeVersion, rt)
	}
	for _, s := range c.Skipped {
		what := s.Resource
		if s.Namespace != "" {
			what += " in " + s.Namespace
		}
		b.WriteString(term.WrapHanging(fmt.Sprintf("not read: %s: %s", what, s.Reason), width, "  "+p.Yellow("!")+" ", "    ") + "\n")
	}
	for _, d := range c.Differences {
		head := fmt.Sprintf("pod %s/%s %s differs from %s: ", d.Namespace, d.Pod, d.Container, d.Controller)
		b.WriteString(term.WrapHanging(head+strings.Join(d.Fields, "; "), width, "  "+p.Yellow("≠")+" ", "    ") + "\n")
	}
	b.WriteString("\n")
}
