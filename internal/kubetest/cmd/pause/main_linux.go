// Command pause is the pod sandbox process of the test cluster
// (scripts/k8s-up), standing in for the upstream pause image, which needs a
// registry: it sleeps until SIGINT or SIGTERM and, as PID 1 of a pod's
// shared PID namespace, reaps orphaned children. Build it static
// (CGO_ENABLED=0).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		reap()
	}
}

func reap() {
	for {
		var ws syscall.WaitStatus
		if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
			return
		}
	}
}
