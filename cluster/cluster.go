// Package cluster reads a live Kubernetes cluster, read-only, into the same
// workload model manifests in files are read into: every live Pod as
// admitted and every workload template (Deployment, StatefulSet, DaemonSet,
// ReplicaSet, Job, CronJob, ReplicationController), each container kind,
// with the top controller of each Pod found through controller owner
// references, the container runtime of each node, and where a Pod differs
// from the template that will produce the next ones.
//
// Lists are paginated (limit and continue) and read one page at a time, so
// memory grows with the workloads kept, not with the raw objects. Objects
// are converted by package source/kube, the reader of manifest files, so
// the cluster and the files agree by construction on what a manifest
// means. Owners are read as metadata only. A resource the credentials may
// not list is reported and passed over; Read never writes.
//
// The Client also reads one object (Get) and makes the few writes the
// verbs that act on a workload make when asked — k8s verify's shadow Pods,
// k8s recommend --apply's patches: Create, Patch (with a server-side dry
// run), Delete.
package cluster

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/capdrop/capdrop/internal/input"
)

// Options say which cluster to read and what of it.
type Options struct {
	// Kubeconfig is the kubeconfig file; empty means $KUBECONFIG, then
	// ~/.kube/config, then the in-cluster service account.
	Kubeconfig string
	// Context is the kubeconfig context; empty means the current one.
	Context string
	// Namespace limits the read to one namespace; empty means the
	// context's namespace (default when it names none).
	Namespace string
	// AllNamespaces reads every namespace (and overrides Namespace).
	AllNamespaces bool
	// Selector is a label selector (app=web,tier!=db) applied to every
	// list.
	Selector string
	// PageSize is the number of objects asked for per list call; 0 means
	// 500, kubectl's chunk size.
	PageSize int64
}

// Client talks to one cluster's API server.
type Client struct {
	rest *rest.RESTClient
	meta metadata.Interface
	// Host is the API server's URL.
	Host string
	// Namespace is the namespace the client reads, "" for all.
	Namespace string
}

// ErrNoConfig is wrapped by Connect's error when neither a kubeconfig nor
// an in-cluster service account is found.
var ErrNoConfig = errors.New("no Kubernetes configuration")

// ErrUnreachable is wrapped by Read's error when the API server does not
// answer (as opposed to answering with an error).
var ErrUnreachable = errors.New("the Kubernetes API server does not answer")

// MaxKubeconfig is the most read of a kubeconfig file.
const MaxKubeconfig = input.DefaultLimit

// Connect builds a client from a kubeconfig (or the in-cluster service
// account) as kubectl does. It does not contact the server.
func Connect(opts Options) (*Client, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if opts.Kubeconfig != "" {
		rules.ExplicitPath = opts.Kubeconfig
	}
	// client-go reads these files with a plain open and no limit: a named
	// pipe among them would block capdrop beyond the reach of Ctrl-C, a
	// link to a device would fill memory. Look at each first.
	for _, p := range append([]string{rules.ExplicitPath}, rules.Precedence...) {
		if p == "" {
			continue
		}
		if _, err := input.ReadFile(p, MaxKubeconfig); err != nil && (p == rules.ExplicitPath || !errors.Is(err, fs.ErrNotExist)) {
			return nil, fmt.Errorf("kubeconfig: %w", err)
		}
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: opts.Context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, fmt.Errorf("%w: set KUBECONFIG or --kubeconfig, or run in a pod with a service account", ErrNoConfig)
		}
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	ns := ""
	if !opts.AllNamespaces {
		ns = opts.Namespace
		if ns == "" {
			ns, _, err = cc.Namespace()
			if err != nil {
				return nil, fmt.Errorf("kubeconfig namespace: %w", err)
			}
			ns = cmp.Or(ns, "default")
		}
	}
	return newClient(cfg, ns)
}

func newClient(cfg *rest.Config, namespace string) (*Client, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "capdrop"
	meta, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("metadata client: %w", err)
	}
	// Raw JSON is all this package asks for; the scheme only needs to know
	// Status, so that an API error keeps its message.
	scheme := runtime.NewScheme()
	metav1.AddToGroupVersion(scheme, schema.GroupVersion{Version: "v1"})
	cfg.APIPath = "/"
	cfg.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	rc, err := rest.UnversionedRESTClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("rest client: %w", err)
	}
	return &Client{rest: rc, meta: meta, Host: cfg.Host, Namespace: namespace}, nil
}
