package merge

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/capdrop/capdrop/workload"
)

// identity is who the main process runs as, as far as capabilities care:
// uid 0 or not.
type identity struct {
	root    bool
	assumed bool   // nothing said; the image default (root) assumed
	how     string // how it was decided, for people
	notes   []string
	refusal string // the kubelet refuses to start the container
}

// identify decides whether w's main process runs as root. Kubernetes'
// runAsUser wins over everything; then the configured user, then the
// image's USER; runAsNonRoot: true means the kubelet starts the container
// only as a non-root user. With nothing said the process runs as the image
// default, which is root for almost every image.
func identify(w workload.Workload, rt workload.Runtime) identity {
	var id identity
	switch {
	case w.RunAsUser != nil:
		id.root = *w.RunAsUser == 0
		id.how = fmt.Sprintf("runAsUser %d", *w.RunAsUser)
		if id.root && w.RunAsNonRoot != nil && *w.RunAsNonRoot {
			id.refusal = "runAsNonRoot is true but runAsUser is 0: the kubelet refuses to start the container"
		}
	case strings.TrimSpace(w.User) != "":
		id.root, id.how = userIsRoot(w.User, rt)
		id.how = "user " + strconv.Quote(w.User) + id.how
	case strings.TrimSpace(w.ImageUser) != "":
		id.root, id.how = userIsRoot(w.ImageUser, rt)
		id.how = "image USER " + strconv.Quote(w.ImageUser) + id.how
	case w.RunAsNonRoot != nil && *w.RunAsNonRoot:
		id.root = false
		id.how = "runAsNonRoot: the kubelet starts it only as a non-root user"
	default:
		id.root, id.assumed = true, true
		id.how = "no user set: assumed root, the image default"
	}
	return id
}

// userIsRoot reads "uid[:gid]" or "name[:group]". A numeric uid decides; the
// name root is root; any other name is taken as a non-root user (the engine
// resolves it in the image's /etc/passwd, which capdrop does not see).
// Podman compares the text itself: only "root" and "0" are root.
func userIsRoot(user string, rt workload.Runtime) (bool, string) {
	u, _, _ := strings.Cut(strings.TrimSpace(user), ":")
	if rt == workload.Podman {
		return u == "root" || u == "0", ""
	}
	if n, err := strconv.ParseUint(u, 10, 32); err == nil {
		return n == 0, ""
	}
	if u == "root" {
		return true, ""
	}
	return false, " (a name: assumed not uid 0 in the image's /etc/passwd)"
}
