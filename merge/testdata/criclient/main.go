// Command criclient is the smallest CRI client the merge tests need to
// start a container through containerd's CRI plugin the way the kubelet
// does, and report the PID of its main process. It lives in its own module
// under testdata so capdrop itself does not depend on k8s.io/cri-api.
//
//	criclient -sock S run -image I [-add a,b] [-drop c] [-privileged] [-user N] [-nnp]
//	criclient -sock S rm POD
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	cri "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func main() {
	sock := flag.String("sock", "", "containerd socket")
	flag.Parse()
	if *sock == "" || flag.NArg() < 1 {
		fail(fmt.Errorf("usage: criclient -sock S run|rm ..."))
	}
	conn, err := grpc.NewClient("unix://"+*sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fail(err)
	}
	defer conn.Close()
	rt := cri.NewRuntimeServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	switch flag.Arg(0) {
	case "run":
		run(ctx, rt, flag.Args()[1:])
	case "rm":
		for _, id := range flag.Args()[1:] {
			_, _ = rt.StopPodSandbox(ctx, &cri.StopPodSandboxRequest{PodSandboxId: id})
			if _, err := rt.RemovePodSandbox(ctx, &cri.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
				fail(err)
			}
		}
	default:
		fail(fmt.Errorf("unknown command %q", flag.Arg(0)))
	}
}

func list(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func run(ctx context.Context, rt cri.RuntimeServiceClient, args []string) {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	image := fs.String("image", "", "image")
	name := fs.String("name", "c", "pod and container name")
	add := fs.String("add", "", "capabilities.add, comma-separated")
	drop := fs.String("drop", "", "capabilities.drop, comma-separated")
	privileged := fs.Bool("privileged", false, "privileged")
	user := fs.Int64("user", -1, "runAsUser")
	nnp := fs.Bool("nnp", false, "no_new_privs (allowPrivilegeEscalation: false)")
	_ = fs.Parse(args)

	podCfg := &cri.PodSandboxConfig{
		Metadata: &cri.PodSandboxMetadata{Name: *name, Namespace: "capdrop-test", Uid: *name},
		Labels:   map[string]string{"capdrop-test": "1"},
		Linux: &cri.LinuxPodSandboxConfig{SecurityContext: &cri.LinuxSandboxSecurityContext{
			NamespaceOptions: &cri.NamespaceOption{Network: cri.NamespaceMode_NODE},
			Privileged:       *privileged,
		}},
	}
	pod, err := rt.RunPodSandbox(ctx, &cri.RunPodSandboxRequest{Config: podCfg})
	if err != nil {
		fail(fmt.Errorf("RunPodSandbox: %w", err))
	}
	out := map[string]any{"pod": pod.PodSandboxId}
	sc := &cri.LinuxContainerSecurityContext{
		Capabilities:     &cri.Capability{AddCapabilities: list(*add), DropCapabilities: list(*drop)},
		Privileged:       *privileged,
		NoNewPrivs:       *nnp,
		NamespaceOptions: &cri.NamespaceOption{Network: cri.NamespaceMode_NODE},
	}
	if *user >= 0 {
		sc.RunAsUser = &cri.Int64Value{Value: *user}
	}
	ctr, err := rt.CreateContainer(ctx, &cri.CreateContainerRequest{
		PodSandboxId: pod.PodSandboxId,
		Config: &cri.ContainerConfig{
			Metadata: &cri.ContainerMetadata{Name: *name},
			Image:    &cri.ImageSpec{Image: *image},
			Command:  []string{"/bin/sleep", "3600"},
			Linux:    &cri.LinuxContainerConfig{SecurityContext: sc},
		},
		SandboxConfig: podCfg,
	})
	if err != nil {
		out["error"] = "CreateContainer: " + err.Error()
		emit(out)
		return
	}
	if _, err := rt.StartContainer(ctx, &cri.StartContainerRequest{ContainerId: ctr.ContainerId}); err != nil {
		out["error"] = "StartContainer: " + err.Error()
		emit(out)
		return
	}
	st, err := rt.ContainerStatus(ctx, &cri.ContainerStatusRequest{ContainerId: ctr.ContainerId, Verbose: true})
	if err != nil {
		fail(err)
	}
	var info struct {
		Pid int `json:"pid"`
	}
	if err := json.Unmarshal([]byte(st.Info["info"]), &info); err != nil {
		fail(fmt.Errorf("container status info: %w", err))
	}
	out["pid"] = info.Pid
	emit(out)
}

func emit(v any) {
	b, _ := json.Marshal(v)
	fmt.Println(string(b))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "criclient:", err)
	os.Exit(1)
}
