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
	if rt == workload.Podman && w.RunAsUser == nil && strings.TrimSpace(w.User) == "" {
		if ki, ok := keepID(w); ok {
			return ki
		}
	}
	switch {
	case w.RunAsUser != nil:
		id.root = *w.RunAsUser == 0
		id.how = fmt.Sprintf("runAsUser %d", *w.RunAsUser)
		if id.root && w.RunAsNonRoot != nil && *w.RunAsNonRoot {
			id.refusal = "runAsNonRoot is true but runAsUser is 0: the kubelet refuses to start the container"
		}
	case strings.TrimSpace(w.User) != "":
		id.root, id.how = userIsRoot(w.User, rt, w.ImageAccounts)
		id.how = "user " + strconv.Quote(w.User) + id.how
	case strings.TrimSpace(w.ImageUser) != "":
		id.root, id.how = userIsRoot(w.ImageUser, rt, w.ImageAccounts)
		id.how = "image USER " + strconv.Quote(w.ImageUser) + id.how
	case w.ImageAccounts != nil && !w.ImageAccounts.Known:
		id.root = true
		id.how = "image USER unknown: " + w.ImageAccounts.Source + "; judged as root"
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
// name root is root. Other names are resolved in the image's accounts when
// they were read: a name that maps to 0 is root, and a user or group name
// they lack is judged as root (the engine refuses to start the container,
// and capdrop never guesses in the safe direction). Without the accounts a
// name is taken as a non-root user. Podman compares the text itself: only
// "root" and "0" are root.
func userIsRoot(user string, rt workload.Runtime, acc *workload.Accounts) (bool, string) {
	u, g, hasGroup := strings.Cut(strings.TrimSpace(user), ":")
	if rt == workload.Podman {
		return u == "root" || u == "0", ""
	}
	if acc != nil && hasGroup && g != "" {
		if _, err := strconv.ParseUint(g, 10, 32); err != nil {
			if _, ok := acc.Groups[g]; !ok {
				return true, fmt.Sprintf(" (group %q is not in %s: judged as root; the engine refuses to start it)", g, acc.Source)
			}
		}
	}
	if n, err := strconv.ParseUint(u, 10, 32); err == nil {
		return n == 0, ""
	}
	if u == "root" {
		return true, ""
	}
	if acc == nil {
		return false, " (a name: assumed not uid 0 in the image's /etc/passwd)"
	}
	uid, ok := acc.Users[u]
	switch {
	case !ok:
		return true, fmt.Sprintf(" (not in %s: judged as root; the engine refuses to start it)", acc.Source)
	case uid == 0:
		return true, fmt.Sprintf(" (uid 0 in %s)", acc.Source)
	}
	return false, fmt.Sprintf(" (uid %d in %s)", uid, acc.Source)
}

// keepID is who a Podman container with --userns=keep-id and no --user
// runs as: the user running Podman (rootless: not root), or the uid
// keep-id:uid=N names. Podman's security setup does this (user empty and
// userns keep-id: the caller's uid and gid).
func keepID(w workload.Workload) (identity, bool) {
	u := w.Host.Namespaces.User
	if u == nil {
		return identity{}, false
	}
	mode, opts, _ := strings.Cut(u.Text, ":")
	if mode != "keep-id" {
		return identity{}, false
	}
	id := identity{how: fmt.Sprintf("--userns=%s: Podman runs it as the uid of the user running Podman", u.Text)}
	for _, o := range strings.Split(opts, ",") {
		if k, v, ok := strings.Cut(o, "="); ok && k == "uid" {
			if n, err := strconv.ParseUint(v, 10, 32); err == nil {
				id.root = n == 0
				id.how = fmt.Sprintf("--userns=%s: Podman runs it as uid %d", u.Text, n)
			}
		}
	}
	return id, true
}
