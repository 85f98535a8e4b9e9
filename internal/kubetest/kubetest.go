// Package kubetest gives tests the project's real one-node Kubernetes
// cluster, the one scripts/k8s-up starts: it skips a test when no cluster
// was started (CI always starts one), and wraps what tests do with it —
// kubectl, a namespace per test removed when the test ends, waiting for
// Pods, and finding a container's process on the node.
//
// It drives the cluster through kubectl and ctr on purpose: the tests check
// capdrop's own client against an independent path.
package kubetest

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// EnvRun names the environment variable holding the run directory of
// scripts/k8s-up; tests skip when it is empty.
const EnvRun = "CAPDROP_K8S_RUN"

// Image is the test image scripts/k8s-up imports: busybox and capneeds.
const Image = "localhost/capdrop/test:1"

// Cluster is the running test cluster.
type Cluster struct {
	// Run is the run directory; Kubeconfig the admin kubeconfig in it.
	Run, Kubeconfig string
	// KubectlBin is the kubectl binary.
	KubectlBin string
	// Node is the node's name; CRI the containerd socket.
	Node, CRI string
}

// Require returns the cluster, skipping t when none was started.
func Require(t testing.TB) *Cluster {
	t.Helper()
	run := os.Getenv(EnvRun)
	if run == "" {
		t.Skipf("needs the test cluster: as root, eval \"$(scripts/k8s-up)\" and export %s (CI does)", EnvRun)
	}
	bin, err := os.ReadFile(filepath.Join(run, "bin"))
	if err != nil {
		t.Fatalf("%s=%s is not a cluster's run directory: %v", EnvRun, run, err)
	}
	c := &Cluster{Run: run, Kubeconfig: filepath.Join(run, "kubeconfig"),
		KubectlBin: filepath.Join(strings.TrimSpace(string(bin)), "kubectl"),
		Node:       "capdrop-node", CRI: filepath.Join(run, "containerd", "containerd.sock")}
	if out, err := c.KubectlErr("", "get", "node", c.Node, "-o", "name"); err != nil {
		t.Fatalf("the test cluster does not answer: %v %s", err, out)
	}
	return c
}

// KubectlErr runs kubectl with stdin and returns its standard output; the
// error carries standard error.
func (c *Cluster) KubectlErr(stdin string, args ...string) (string, error) {
	var out, errOut bytes.Buffer
	cmd := exec.Command(c.KubectlBin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.Kubeconfig)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), nil
}

// Kubectl runs kubectl and fails t on error.
func (c *Cluster) Kubectl(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	out, err := c.KubectlErr(stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Namespace creates a namespace for t, named after prefix, and deletes it
// with everything in it when t ends.
func (c *Cluster) Namespace(t testing.TB, prefix string) string {
	t.Helper()
	ns := c.namespace(t, prefix)
	t.Cleanup(func() {
		// Waiting for the namespace waits for its Pods, so their
		// containers are gone before the next test counts processes; the
		// namespace controller deletes each kind of object in one call,
		// where kubectl delete --all sends one request per object.
		if _, err := c.KubectlErr("", "delete", "namespace", ns, "--wait=true", "--timeout=300s"); err != nil {
			t.Errorf("namespace %s not deleted: %v", ns, err)
		}
	})
	return ns
}

// StoredNamespace is Namespace for objects no node runs (Pods no scheduler
// places, controllers without replicas): its deletion is asked for when t
// ends but not waited for, since no container has to stop before the next
// test. The API server deletes a namespace's objects one at a time, which
// for thousands of objects takes longer than the test that made them.
func (c *Cluster) StoredNamespace(t testing.TB, prefix string) string {
	t.Helper()
	ns := c.namespace(t, prefix)
	t.Cleanup(func() {
		if _, err := c.KubectlErr("", "delete", "namespace", ns, "--wait=false"); err != nil {
			t.Errorf("namespace %s not deleted: %v", ns, err)
		}
	})
	return ns
}

func (c *Cluster) namespace(t testing.TB, prefix string) string {
	t.Helper()
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	ns := "capdrop-" + prefix + "-" + hex.EncodeToString(b)
	c.Kubectl(t, "", "create", "namespace", ns)
	return ns
}

// WaitReady waits until every Pod in ns is Ready.
func (c *Cluster) WaitReady(t testing.TB, ns string, timeout time.Duration) {
	t.Helper()
	if _, err := c.KubectlErr("", "-n", ns, "wait", "--for=condition=Ready", "pods", "--all", "--timeout="+strconv.Itoa(int(timeout.Seconds()))+"s"); err != nil {
		out, _ := c.KubectlErr("", "-n", ns, "get", "pods", "-o", "wide")
		desc, _ := c.KubectlErr("", "-n", ns, "describe", "pods")
		if len(desc) > 6000 {
			desc = desc[len(desc)-6000:]
		}
		t.Fatalf("%v\n%s\n%s", err, out, desc)
	}
}

// HostPID returns the host PID of a container's main process, given the
// container ID as a Pod status shows it (containerd://ID) or bare.
func (c *Cluster) HostPID(t testing.TB, containerID string) int {
	t.Helper()
	id := containerID[strings.Index(containerID, "://")+1:]
	id = strings.TrimPrefix(id, "//")
	out, err := exec.Command("ctr", "-a", c.CRI, "-n", "k8s.io", "tasks", "ls").Output()
	if err != nil {
		t.Fatalf("ctr tasks ls: %v", err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] == id && f[2] == "RUNNING" {
			pid, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatalf("ctr tasks ls: %q: %v", l, err)
			}
			return pid
		}
	}
	t.Fatalf("no running task %s in ctr tasks ls:\n%s", id, out)
	return 0
}

// PodDir is where the kubelet keeps a Pod's volumes on the node.
func (c *Cluster) PodDir(uid string) string {
	return filepath.Join(c.Run, "kubelet", "pods", uid)
}

// Create creates many objects of one resource in ns through the API server
// directly, workers requests at a time: kubectl sends one request after
// another, which makes thousands of objects cost minutes. collection is the
// resource's path below the namespace, as "pods" or
// "apis/apps/v1/deployments" ("api/v1/" is assumed for a bare name); each
// object is JSON. It returns the UIDs of the objects created, in order.
func (c *Cluster) Create(t testing.TB, ns, collection string, objects [][]byte, workers int) []string {
	t.Helper()
	server, token := c.credentials(t)
	group, res := "api/v1", collection
	if i := strings.LastIndex(collection, "/"); i >= 0 {
		group, res = collection[:i], collection[i+1:]
	}
	url := server + "/" + group + "/namespaces/" + ns + "/" + res
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, // the test cluster's self-signed certificate, as its kubeconfig says
		ForceAttemptHTTP2: true, MaxIdleConnsPerHost: workers,
	}, Timeout: 5 * time.Minute}
	defer client.CloseIdleConnections()
	uids := make([]string, len(objects))
	jobs := make(chan int)
	errs := make(chan error, workers)
	for range workers {
		go func() {
			var first error
			for i := range jobs {
				if first != nil {
					continue
				}
				uids[i], first = post(client, url, token, objects[i])
			}
			errs <- first
		}()
	}
	for i := range objects {
		jobs <- i
	}
	close(jobs)
	for range workers {
		if err := <-errs; err != nil {
			t.Fatalf("create %s in %s: %v", collection, ns, err)
		}
	}
	return uids
}

// post creates one object and returns its UID.
func post(client *http.Client, url, token string, obj []byte) (string, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(obj))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("POST %s: %s: %.4096s", url, resp.Status, body)
	}
	var created struct {
		Metadata struct {
			UID string `json:"uid"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(body, &created); err != nil || created.Metadata.UID == "" {
		return "", fmt.Errorf("POST %s: the answer names no UID (%v)", url, err)
	}
	return created.Metadata.UID, nil
}

// Credentials returns the API server's URL and the admin token, for a
// test that puts something between a client and the API server.
func (c *Cluster) Credentials(t testing.TB) (server, token string) {
	t.Helper()
	return c.credentials(t)
}

// credentials reads the API server's URL and the admin token from the
// cluster's kubeconfig.
func (c *Cluster) credentials(t testing.TB) (server, token string) {
	t.Helper()
	data, err := os.ReadFile(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Clusters []struct {
			Cluster struct {
				Server string `yaml:"server"`
			} `yaml:"cluster"`
		} `yaml:"clusters"`
		Users []struct {
			User struct {
				Token string `yaml:"token"`
			} `yaml:"user"`
		} `yaml:"users"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil || len(cfg.Clusters) == 0 || len(cfg.Users) == 0 || cfg.Users[0].User.Token == "" {
		t.Fatalf("%s: no server and token (%v)", c.Kubeconfig, err)
	}
	return strings.TrimSuffix(cfg.Clusters[0].Cluster.Server, "/"), cfg.Users[0].User.Token
}
