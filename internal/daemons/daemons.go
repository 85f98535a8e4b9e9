// Package daemons is capdrop's real-software ground truth: common Debian
// daemons of different kinds, installed from Debian's archive into an image
// built without a registry (scripts/daemon-image: a debootstrap minbase
// rootfs imported into the engine), each with a start-check-stop script in
// cases/ whose check also asserts that the daemon dropped its privileges
// as configured.
//
// Each case's Truth is its minimal capability set, proven by brute force on
// the engine (TestTruth: exactly the set passes, and every set with one
// capability fewer fails, each run twice) and written down here only once
// proven. The profiler and verify are measured against it.
package daemons

import (
	"strings"

	"github.com/capdrop/capdrop/capset"
)

// Sysctl makes binding ports below 1024 need CAP_NET_BIND_SERVICE in the
// containers, as on a host (Docker itself lowers it to 0).
const Sysctl = "net.ipv4.ip_unprivileged_port_start=1024"

// Case is one daemon and how it runs.
type Case struct {
	// Name is the case script's name: /cases/<Name>.sh in the image.
	Name string
	// Kind says what the daemon is.
	Kind string
	// Add are the capabilities its configuration adds to Docker's
	// defaults (the starting set is Docker's defaults plus Add).
	Add []string
	// Truth is its proven minimal set.
	Truth capset.Set
	// Shows says what the case exercises.
	Shows string
}

// RunArgs are the docker run arguments (flags, image, command) that start
// the case with its configuration's own capabilities.
func (c Case) RunArgs(image string) []string {
	args := []string{"--sysctl", Sysctl}
	for _, a := range c.Add {
		args = append(args, "--cap-add", a)
	}
	return append(args, image, "/cases/"+c.Name+".sh")
}

// Script is the case's command in the image.
func (c Case) Script() string { return "/cases/" + c.Name + ".sh" }

func set(names string) capset.Set {
	s, err := capset.ParseSet(strings.ReplaceAll(names, " ", ","))
	if err != nil {
		panic(err)
	}
	return s
}

// Cases are the ground truth. Every Truth was found by verify --minimize
// from the case's own configuration and then proven by TestTruth, on Debian
// bookworm's packages, Docker 20.10 and Linux 6.18 (2026-12-07).
var Cases = []Case{
	{Name: "nginx", Kind: "web server", Truth: set("CHOWN DAC_OVERRIDE SETGID SETUID NET_BIND_SERVICE"),
		Shows: "a root master and www-data workers; chowns and creates its temp directories"},
	{Name: "lighttpd", Kind: "web server", Truth: set("SETGID SETUID NET_BIND_SERVICE"),
		Shows: "drops to www-data; the stop path signals it (KILL: used, not needed)"},
	{Name: "haproxy", Kind: "proxy", Truth: set("SETGID SETUID NET_BIND_SERVICE SYS_CHROOT"),
		Shows: "chroot and drop to haproxy"},
	{Name: "dnsmasq", Kind: "DNS and DHCP server", Add: []string{"NET_ADMIN"}, Truth: set("SETGID SETUID NET_BIND_SERVICE NET_ADMIN NET_RAW"),
		Shows: "keeps NET_ADMIN and NET_RAW across its switch to user dnsmasq (capset); chowns its pid file (CHOWN: used, not needed)"},
	{Name: "chrony", Kind: "time daemon", Truth: set("DAC_OVERRIDE SETGID SETUID NET_BIND_SERVICE"),
		Shows: "keeps NET_BIND_SERVICE across its switch to _chrony (PR_SET_KEEPCAPS, setuid, cap_set_proc)"},
	{Name: "sshd", Kind: "SSH server", Truth: set("SETGID SETUID NET_BIND_SERVICE SYS_CHROOT"),
		Shows: "privilege separation (chroot), a key login running its command as the user"},
	{Name: "rsyslog", Kind: "syslog daemon", Truth: set("SETGID SETUID"),
		Shows: "drops to user syslog; the stop path signals it (KILL: used, not needed)"},
	{Name: "tcpdump", Kind: "packet capture", Truth: set("SETGID SETUID NET_RAW"),
		Shows: "opens a raw socket, then switches to user tcpdump (-Z)"},
	{Name: "sudo", Kind: "privilege tool", Truth: set("SETGID SETUID"),
		Shows: "root running a command as nobody:nogroup; writes audit records (AUDIT_WRITE: used, not needed)"},
	{Name: "memcached", Kind: "cache server", Truth: set("SETGID SETUID"),
		Shows: "drops to memcache (-u)"},
	{Name: "named", Kind: "DNS server (BIND 9)", Truth: set("SETGID SETUID NET_BIND_SERVICE"),
		Shows: "asks capset, while root, for every capability of its list that it holds (CHOWN, SYS_CHROOT: used, not needed), then keeps NET_BIND_SERVICE across its switch to bind"},
	{Name: "postgres", Kind: "database", Truth: set("SETGID SETUID"),
		Shows: "pg_ctlcluster (root) reads the cluster's files before switching to postgres (DAC_OVERRIDE: used, not needed)"},
}
