package launch

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

const passwdFixture = `root:x:0:0:root:/root:/bin/bash
# a comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
alice:x:1000:1000:Alice,,,:/home/alice:/bin/zsh
12345:x:2000:2000::/home/digits:/bin/sh
broken line without colons
short:x:1
neg:x:-1:0::/:/bin/sh
big:x:4294967295:0::/:/bin/sh
+nis::::::
nohome:x:3000:3000:::/bin/sh
`

const groupFixture = `root:x:0:
daemon:x:1:
nogroup:x:65534:
alice:x:1000:
adm:x:4:syslog,alice
docker:x:999:bob, alice
wheel:x:10:bob
web:x:33:alice
bad:x:notanumber:alice
`

func fixtureAccounts(t *testing.T) accounts {
	t.Helper()
	u, err := parsePasswd(strings.NewReader(passwdFixture))
	if err != nil {
		t.Fatal(err)
	}
	g, err := parseGroup(strings.NewReader(groupFixture))
	if err != nil {
		t.Fatal(err)
	}
	return accounts{users: u, groups: g}
}

func TestParsePasswdSkipsMalformed(t *testing.T) {
	a := fixtureAccounts(t)
	var names []string
	for _, u := range a.users {
		names = append(names, u.Name)
	}
	want := []string{"root", "daemon", "nobody", "alice", "12345", "nohome"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("users = %v, want %v", names, want)
	}
	var gnames []string
	for _, g := range a.groups {
		gnames = append(gnames, g.Name)
	}
	if want := []string{"root", "daemon", "nogroup", "alice", "adm", "docker", "wheel", "web"}; !reflect.DeepEqual(gnames, want) {
		t.Errorf("groups = %v, want %v", gnames, want)
	}
}

func TestResolve(t *testing.T) {
	a := fixtureAccounts(t)
	for _, c := range []struct {
		spec string
		want Identity
	}{
		{"nobody", Identity{UID: 65534, GID: 65534, Groups: []int{65534}, Name: "nobody", Group: "nogroup", Home: "/nonexistent", Shell: "/usr/sbin/nologin", Switch: true}},
		// Supplementary groups from the group file, with the primary, sorted.
		{"alice", Identity{UID: 1000, GID: 1000, Groups: []int{4, 33, 999, 1000}, Name: "alice", Group: "alice", Home: "/home/alice", Shell: "/bin/zsh", Switch: true}},
		// An explicit group replaces the primary; memberships stay.
		{"alice:nogroup", Identity{UID: 1000, GID: 65534, Groups: []int{4, 33, 999, 65534}, Name: "alice", Group: "nogroup", Home: "/home/alice", Shell: "/bin/zsh", Switch: true}},
		{"alice:4242", Identity{UID: 1000, GID: 4242, Groups: []int{4, 33, 999, 4242}, Name: "alice", Home: "/home/alice", Shell: "/bin/zsh", Switch: true}},
		// A uid with an entry is that user.
		{"1000", Identity{UID: 1000, GID: 1000, Groups: []int{4, 33, 999, 1000}, Name: "alice", Group: "alice", Home: "/home/alice", Shell: "/bin/zsh", Switch: true}},
		// Names win over numbers: the user called "12345" has uid 2000.
		{"12345", Identity{UID: 2000, GID: 2000, Groups: []int{2000}, Name: "12345", Home: "/home/digits", Shell: "/bin/sh", Switch: true}},
		// A uid without an entry, with its group.
		{"4321:4321", Identity{UID: 4321, GID: 4321, Groups: []int{4321}, Home: "/", Switch: true}},
		{"0:0", Identity{UID: 0, GID: 0, Groups: []int{0}, Name: "root", Group: "root", Home: "/root", Shell: "/bin/bash", Switch: true}},
		{"nohome", Identity{UID: 3000, GID: 3000, Groups: []int{3000}, Name: "nohome", Home: "/", Shell: "/bin/sh", Switch: true}},
	} {
		got, err := a.resolve(c.spec)
		if err != nil {
			t.Errorf("resolve(%q): %v", c.spec, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("resolve(%q) =\n %+v, want\n %+v", c.spec, got, c.want)
		}
	}
}

func TestResolveErrors(t *testing.T) {
	a := fixtureAccounts(t)
	for spec, want := range map[string]string{
		"nosuch":         `no user "nosuch" in /etc/passwd`,
		"4321":           "uid 4321 has no entry in /etc/passwd, so capdrop does not know its group: give it as --user 4321:GID",
		"alice:nosuch":   `no group "nosuch" in /etc/group`,
		":0":             "the user part of USER[:GROUP] is empty",
		"alice:":         "the group after ':' is empty",
		"4294967295:0":   `no user "4294967295"`,
		"-1:0":           `no user "-1"`,
		"alice:-5":       `no group "-5"`,
		"99999999999999": `no user "99999999999999"`,
	} {
		_, err := a.resolve(spec)
		if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, ErrUnknownUser) {
			t.Errorf("resolve(%q) = %v, want an ErrUnknownUser saying %q", spec, err, want)
		}
	}
}

func TestCurrent(t *testing.T) {
	a := fixtureAccounts(t)
	got := a.current(1000, 1000, []int{999, 4, 4})
	want := Identity{UID: 1000, GID: 1000, Groups: []int{4, 999}, Name: "alice", Group: "alice", Home: "/home/alice", Shell: "/bin/zsh"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("current = %+v, want %+v", got, want)
	}
	if got := a.current(777, 777, nil); got.Name != "" || got.Home != "/" || got.Switch {
		t.Errorf("current for an unknown uid = %+v", got)
	}
}

// FuzzAccounts feeds arbitrary passwd and group files and USER[:GROUP]
// specs: parsing and resolving must never panic, and whatever resolves has
// ids the kernel accepts and its primary group among its groups.
func FuzzAccounts(f *testing.F) {
	f.Add(passwdFixture, groupFixture, "alice:nogroup")
	f.Add("a:x:1:2::/:/bin/sh\n", "g:x:2:a,a,,b\n", "1")
	f.Add("::::::\n", ":::\n", ":")
	f.Fuzz(func(t *testing.T, passwd, group, spec string) {
		u, err := parsePasswd(strings.NewReader(passwd))
		if err != nil {
			return
		}
		g, err := parseGroup(strings.NewReader(group))
		if err != nil {
			return
		}
		a := accounts{users: u, groups: g}
		id, err := a.resolve(spec)
		if err != nil {
			if !errors.Is(err, ErrUnknownUser) {
				t.Fatalf("resolve(%q): error %v does not wrap ErrUnknownUser", spec, err)
			}
			return
		}
		for _, n := range append([]int{id.UID, id.GID}, id.Groups...) {
			if n < 0 || int64(n) >= 1<<32-1 {
				t.Fatalf("resolve(%q) gave id %d", spec, n)
			}
		}
		found := false
		for _, n := range id.Groups {
			found = found || n == id.GID
		}
		if !found || id.Home == "" || !id.Switch {
			t.Fatalf("resolve(%q) = %+v", spec, id)
		}
	})
}
