//go:build linux

// Command service is capdrop's example workload: a small web service that,
// like many real images, starts as root, gives its data directory to its
// own user and then drops to that user before serving. Its true needs are
// CAP_CHOWN (the chown), CAP_SETGID and CAP_SETUID (the switch); it binds
// port 8080, so it needs no CAP_NET_BIND_SERVICE.
//
// It is built into an image FROM scratch by build.sh and used by the
// README's walkthrough: capdrop profile → verify --minimize → fix.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

const (
	uid     = 1000
	gid     = 1000
	dataDir = "/data"
)

func main() {
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		log.Fatalf("data directory: %v", err)
	}
	// The start-up step many images do as root: make the data theirs.
	if err := os.Chown(dataDir, uid, gid); err != nil {
		log.Fatalf("chown %s: %v", dataDir, err)
	}
	// Then stop being root. (Go applies these to every thread.)
	if err := syscall.Setgroups([]int{gid}); err != nil {
		log.Fatalf("setgroups: %v", err)
	}
	if err := syscall.Setgid(gid); err != nil {
		log.Fatalf("setgid: %v", err)
	}
	if err := syscall.Setuid(uid); err != nil {
		log.Fatalf("setuid: %v", err)
	}
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		// Writing as the service user proves the chown and the switch worked.
		f := filepath.Join(dataDir, "last-check")
		if err := os.WriteFile(f, []byte(time.Now().Format(time.RFC3339)), 0o644); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "ok uid=%d\n", os.Getuid())
	})
	log.Printf("serving on :8080 as uid %d", os.Getuid())
	log.Fatal(http.ListenAndServe(":8080", nil))
}
