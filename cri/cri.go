// Package cri asks a node's container runtime (containerd, CRI-O), through
// its Container Runtime Interface socket, which Pod and container each of
// its containers is, and what capability configuration the kubelet passed
// for it. It makes read-only calls only: Version, ListContainers,
// ContainerStatus.
package cri

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Sockets are the usual CRI endpoints, tried in order when none is named.
var Sockets = []string{
	"/run/containerd/containerd.sock",
	"/run/crio/crio.sock",
	"/var/run/containerd/containerd.sock",
	"/var/run/crio/crio.sock",
}

// ErrNoSocket is wrapped by Dial's error when no CRI socket exists.
var ErrNoSocket = errors.New("no CRI socket")

// Client is a connection to one runtime's CRI socket.
type Client struct {
	conn *grpc.ClientConn
	rt   runtimeapi.RuntimeServiceClient
	// Endpoint is the socket's path.
	Endpoint string
	// Runtime and Version are what the runtime calls itself
	// ("containerd", "1.6.20").
	Runtime, Version string
}

// Dial connects to endpoint (a path or unix:// URL); empty means
// $CONTAINER_RUNTIME_ENDPOINT, else the first of Sockets that exists. It
// asks the runtime its name, so a wrong socket fails here.
func Dial(ctx context.Context, endpoint string) (*Client, error) {
	if endpoint == "" {
		endpoint = os.Getenv("CONTAINER_RUNTIME_ENDPOINT")
	}
	if endpoint == "" {
		for _, s := range Sockets {
			if fi, err := os.Stat(s); err == nil && fi.Mode()&os.ModeSocket != 0 {
				endpoint = s
				break
			}
		}
		if endpoint == "" {
			return nil, fmt.Errorf("%w: none of %s", ErrNoSocket, strings.Join(Sockets, ", "))
		}
	}
	path := strings.TrimPrefix(endpoint, "unix://")
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoSocket, err)
	}
	conn, err := grpc.NewClient("unix://"+path, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("cri %s: %w", path, err)
	}
	c := &Client{conn: conn, rt: runtimeapi.NewRuntimeServiceClient(conn), Endpoint: path}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v, err := c.rt.Version(ctx, &runtimeapi.VersionRequest{})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("cri %s: version: %w", path, err)
	}
	c.Runtime, c.Version = v.RuntimeName, v.RuntimeVersion
	return c, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Container is one container the runtime runs for the kubelet.
type Container struct {
	ID string
	// PodNamespace, PodName and PodUID name its Pod; Name is the
	// container's name in the Pod spec.
	PodNamespace, PodName, PodUID, Name string
	Image                               string
	// State is CONTAINER_RUNNING, CONTAINER_EXITED, ….
	State string
	// Config is the capability configuration the kubelet passed; nil
	// when the runtime does not tell (only containerd's verbose status
	// carries it).
	Config *Config
	// PID is the container's main process as the runtime reports it, 0
	// when it does not.
	PID int
}

// Config is a container's securityContext as the kubelet translated it
// for the runtime.
type Config struct {
	CapAdd, CapDrop []string
	Privileged      bool
	// RunAsUser is nil when the image decides.
	RunAsUser *int64
	// NoNewPrivs is set when allowPrivilegeEscalation is false.
	NoNewPrivs bool
}

// Containers lists every container; with details it also asks each one's
// verbose status for its configuration and main PID.
func (c *Client) Containers(ctx context.Context, details bool) ([]Container, error) {
	resp, err := c.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	if err != nil {
		return nil, fmt.Errorf("cri %s: list containers: %w", c.Endpoint, err)
	}
	out := make([]Container, 0, len(resp.Containers))
	for _, k := range resp.Containers {
		ct := Container{ID: k.Id, State: k.State.String(),
			PodNamespace: k.Labels["io.kubernetes.pod.namespace"], PodName: k.Labels["io.kubernetes.pod.name"],
			PodUID: k.Labels["io.kubernetes.pod.uid"], Name: k.Labels["io.kubernetes.container.name"]}
		if k.Metadata != nil && ct.Name == "" {
			ct.Name = k.Metadata.Name
		}
		if k.Image != nil {
			ct.Image = k.Image.Image
		}
		if k.ImageRef != "" && ct.Image == "" {
			ct.Image = k.ImageRef
		}
		if details && k.State == runtimeapi.ContainerState_CONTAINER_RUNNING {
			st, err := c.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: k.Id, Verbose: true})
			if err == nil {
				if st.Status != nil && st.Status.Image != nil && st.Status.Image.Image != "" {
					ct.Image = st.Status.Image.Image
				}
				ct.Config, ct.PID = parseInfo(st.Info["info"])
			}
		}
		out = append(out, ct)
	}
	return out, nil
}

// parseInfo reads containerd's verbose container info: the main PID and the
// CRI config the kubelet sent.
func parseInfo(info string) (*Config, int) {
	if info == "" {
		return nil, 0
	}
	var v struct {
		Pid    int `json:"pid"`
		Config *struct {
			Linux *struct {
				SecurityContext *struct {
					Capabilities *struct {
						Add  []string `json:"add_capabilities"`
						Drop []string `json:"drop_capabilities"`
					} `json:"capabilities"`
					Privileged bool `json:"privileged"`
					RunAsUser  *struct {
						Value int64 `json:"value"`
					} `json:"run_as_user"`
					NoNewPrivs bool `json:"no_new_privs"`
				} `json:"security_context"`
			} `json:"linux"`
		} `json:"config"`
	}
	if err := json.Unmarshal([]byte(info), &v); err != nil {
		return nil, 0
	}
	if v.Config == nil || v.Config.Linux == nil || v.Config.Linux.SecurityContext == nil {
		return nil, v.Pid
	}
	sc := v.Config.Linux.SecurityContext
	cfg := &Config{Privileged: sc.Privileged, NoNewPrivs: sc.NoNewPrivs}
	if sc.Capabilities != nil {
		cfg.CapAdd, cfg.CapDrop = sc.Capabilities.Add, sc.Capabilities.Drop
	}
	if sc.RunAsUser != nil {
		u := sc.RunAsUser.Value
		cfg.RunAsUser = &u
	}
	return cfg, v.Pid
}
