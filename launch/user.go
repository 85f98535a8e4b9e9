package launch

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/capdrop/capdrop/internal/input"
)

// Default account databases. capdrop reads them itself instead of going
// through NSS, so a static binary resolves the same names as a dynamic one
// and nothing loads code from the caller's configuration.
const (
	PasswdFile = "/etc/passwd"
	GroupFile  = "/etc/group"
)

// ErrUnknownUser is wrapped by errors about a user or group that cannot be
// resolved.
var ErrUnknownUser = errors.New("unknown user or group")

// Identity is who the command runs as.
type Identity struct {
	UID    int
	GID    int
	Groups []int  // supplementary groups, ascending
	Name   string // user name from the passwd file, "" when it has no entry
	Group  string // primary group's name, "" when the group file has none
	Home   string // home directory, "/" when unknown
	Shell  string // login shell, "" when unknown
	// Switch is true when the command gets these ids and groups set
	// (--user); false when it keeps the caller's.
	Switch bool
}

// passwdEntry is one line of /etc/passwd.
type passwdEntry struct {
	Name  string
	UID   int
	GID   int
	Home  string
	Shell string
}

// groupEntry is one line of /etc/group.
type groupEntry struct {
	Name    string
	GID     int
	Members []string
}

// accounts are the parsed passwd and group files.
type accounts struct {
	users  []passwdEntry
	groups []groupEntry
}

// loadAccounts reads the passwd and group files. A missing file counts as
// empty (numeric ids still work); a line that cannot be parsed is skipped,
// as the C library does.
func loadAccounts(passwdPath, groupPath string) (accounts, error) {
	var a accounts
	if f, _, err := input.Open(passwdPath); err == nil {
		a.users, err = parsePasswd(io.LimitReader(f, input.DefaultLimit))
		f.Close()
		if err != nil {
			return a, fmt.Errorf("read %s: %w", passwdPath, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return a, err
	}
	if f, _, err := input.Open(groupPath); err == nil {
		a.groups, err = parseGroup(io.LimitReader(f, input.DefaultLimit))
		f.Close()
		if err != nil {
			return a, fmt.Errorf("read %s: %w", groupPath, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return a, err
	}
	return a, nil
}

// parsePasswd parses passwd(5) lines, name:password:uid:gid:gecos:home:shell.
// Comments, NIS "+"/"-" lines and malformed lines are skipped.
func parsePasswd(r io.Reader) ([]passwdEntry, error) {
	var out []passwdEntry
	err := eachLine(r, func(line string) {
		f := strings.Split(line, ":")
		if len(f) != 7 || !validName(f[0]) {
			return
		}
		uid, ok1 := parseID(f[2])
		gid, ok2 := parseID(f[3])
		if !ok1 || !ok2 {
			return
		}
		out = append(out, passwdEntry{Name: f[0], UID: uid, GID: gid, Home: f[5], Shell: f[6]})
	})
	return out, err
}

// parseGroup parses group(5) lines, name:password:gid:member,member.
func parseGroup(r io.Reader) ([]groupEntry, error) {
	var out []groupEntry
	err := eachLine(r, func(line string) {
		f := strings.Split(line, ":")
		if len(f) != 4 || !validName(f[0]) {
			return
		}
		gid, ok := parseID(f[2])
		if !ok {
			return
		}
		var members []string
		for _, m := range strings.Split(f[3], ",") {
			if m = strings.TrimSpace(m); m != "" {
				members = append(members, m)
			}
		}
		out = append(out, groupEntry{Name: f[0], GID: gid, Members: members})
	})
	return out, err
}

func eachLine(r io.Reader, f func(string)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" || line[0] == '#' || line[0] == '+' || line[0] == '-' {
			continue
		}
		f(line)
	}
	return sc.Err()
}

func validName(s string) bool {
	return s != "" && !strings.ContainsAny(s, " \t,")
}

// parseID accepts a decimal id that the kernel can represent: 0 to
// 4294967294 (4294967295 is (uid_t)-1, "no change", to the set*id calls).
func parseID(s string) (int, bool) {
	if s == "" || s[0] == '+' || s[0] == '-' {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 1<<32-1 || n > math.MaxInt {
		return 0, false
	}
	return int(n), true
}

// resolve turns USER[:GROUP] into an identity. USER and GROUP are names
// (looked up first) or numeric ids. The supplementary groups are the ones
// the group file lists the user in, plus the primary group: what login, su
// and `setpriv --init-groups` (initgroups(3)) give. A numeric user without a
// passwd entry has no name to look up, so it gets only its primary group,
// and that group must be given: capdrop does not guess gid 0 as Docker does.
func (a accounts) resolve(spec string) (Identity, error) {
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	if userPart == "" {
		return Identity{}, fmt.Errorf("%w: %q: the user part of USER[:GROUP] is empty", ErrUnknownUser, spec)
	}
	if hasGroup && groupPart == "" {
		return Identity{}, fmt.Errorf("%w: %q: the group after ':' is empty", ErrUnknownUser, spec)
	}
	id := Identity{Home: "/", Switch: true}
	if u, ok := a.userByName(userPart); ok {
		id.UID, id.GID, id.Name, id.Home, id.Shell = u.UID, u.GID, u.Name, u.Home, u.Shell
	} else if n, ok := parseID(userPart); ok {
		id.UID = n
		if u, ok := a.userByID(n); ok {
			id.GID, id.Name, id.Home, id.Shell = u.GID, u.Name, u.Home, u.Shell
		} else if !hasGroup {
			return Identity{}, fmt.Errorf("%w: uid %d has no entry in %s, so capdrop does not know its group: give it as --user %d:GID",
				ErrUnknownUser, n, PasswdFile, n)
		}
	} else {
		return Identity{}, fmt.Errorf("%w: no user %q in %s", ErrUnknownUser, userPart, PasswdFile)
	}
	if id.Home == "" {
		id.Home = "/"
	}
	if hasGroup {
		if g, ok := a.groupByName(groupPart); ok {
			id.GID = g.GID
		} else if n, ok := parseID(groupPart); ok {
			id.GID = n
		} else {
			return Identity{}, fmt.Errorf("%w: no group %q in %s", ErrUnknownUser, groupPart, GroupFile)
		}
	}
	if g, ok := a.groupByID(id.GID); ok {
		id.Group = g.Name
	}
	id.Groups = []int{id.GID}
	if id.Name != "" {
		for _, g := range a.groups {
			if slices.Contains(g.Members, id.Name) {
				id.Groups = append(id.Groups, g.GID)
			}
		}
	}
	slices.Sort(id.Groups)
	id.Groups = slices.Compact(id.Groups)
	return id, nil
}

// current describes the caller's own identity, for a command that keeps it.
func (a accounts) current(uid, gid int, groups []int) Identity {
	id := Identity{UID: uid, GID: gid, Groups: append([]int{}, groups...), Home: "/"}
	slices.Sort(id.Groups)
	id.Groups = slices.Compact(id.Groups)
	if u, ok := a.userByID(uid); ok {
		id.Name, id.Shell = u.Name, u.Shell
		if u.Home != "" {
			id.Home = u.Home
		}
	}
	if g, ok := a.groupByID(gid); ok {
		id.Group = g.Name
	}
	return id
}

func (a accounts) userByName(name string) (passwdEntry, bool) {
	for _, u := range a.users {
		if u.Name == name {
			return u, true
		}
	}
	return passwdEntry{}, false
}

func (a accounts) userByID(uid int) (passwdEntry, bool) {
	for _, u := range a.users {
		if u.UID == uid {
			return u, true
		}
	}
	return passwdEntry{}, false
}

func (a accounts) groupByName(name string) (groupEntry, bool) {
	for _, g := range a.groups {
		if g.Name == name {
			return g, true
		}
	}
	return groupEntry{}, false
}

func (a accounts) groupByID(gid int) (groupEntry, bool) {
	for _, g := range a.groups {
		if g.GID == gid {
			return g, true
		}
	}
	return groupEntry{}, false
}
