package launch

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/capset"
)

// These tests check prepare's decisions on made-up callers; the tests in
// launch_linux_test.go check the kernel's view of what Start does.

var (
	all40     = capset.Upto(40)
	rootSets  = capset.Sets{Permitted: all40, Effective: all40, Bounding: all40}
	nbs       = capset.Of(capset.NET_BIND_SERVICE)
	rootCall  = Caller{Sets: rootSets, AmbientSupported: true}
	plainUser = Caller{Sets: capset.Sets{Bounding: all40}, UID: 1000, GID: 1000, Groups: []int{1000}, AmbientSupported: true}
	// As started by systemd with AmbientCapabilities=CAP_NET_BIND_SERVICE.
	ambientUser = Caller{Sets: capset.Sets{Inheritable: nbs, Permitted: nbs, Effective: nbs, Bounding: all40, Ambient: nbs},
		UID: 1000, GID: 1000, AmbientSupported: true}
)

// withEffective returns c also holding extra in permitted and effective.
func (c Caller) withEffective(extra ...capset.Cap) Caller {
	c.Sets.Permitted = c.Sets.Permitted.Union(capset.Of(extra...))
	c.Sets.Effective = c.Sets.Effective.Union(capset.Of(extra...))
	return c
}

func TestPrepareSets(t *testing.T) {
	a := fixtureAccounts(t)
	for _, c := range []struct {
		name   string
		caller Caller
		req    Request
		want   capset.Sets
	}{
		{"root keeps everything", rootCall, Request{}, capset.Sets{Permitted: all40, Effective: all40, Bounding: all40}},
		{"root drop all", rootCall, Request{DropAll: true}, capset.Sets{}},
		{"root drop all add one", rootCall, Request{DropAll: true, Add: nbs}, capset.Sets{Permitted: nbs, Effective: nbs, Bounding: nbs}},
		{"root drop some", rootCall, Request{Drop: capset.Of(capset.SYS_ADMIN, capset.NET_RAW)},
			capset.Sets{Permitted: all40.Minus(capset.Of(capset.SYS_ADMIN, capset.NET_RAW)), Effective: all40.Minus(capset.Of(capset.SYS_ADMIN, capset.NET_RAW)),
				Bounding: all40.Minus(capset.Of(capset.SYS_ADMIN, capset.NET_RAW))}},
		{"add wins over drop", rootCall, Request{Drop: nbs, Add: nbs}, capset.Sets{Permitted: all40, Effective: all40, Bounding: all40}},
		{"add all drop all is all (Docker)", rootCall, Request{AddAll: true, DropAll: true}, capset.Sets{Permitted: all40, Effective: all40, Bounding: all40}},
		{"nobody keeps bounding, gets nothing usable", rootCall, Request{User: "nobody"}, capset.Sets{Bounding: all40}},
		{"nobody drop all add one: ambient", rootCall, Request{User: "nobody", DropAll: true, Add: nbs},
			capset.Sets{Inheritable: nbs, Permitted: nbs, Effective: nbs, Bounding: nbs, Ambient: nbs}},
		{"nobody drop some add one", rootCall, Request{User: "nobody", Drop: capset.Of(capset.SYS_ADMIN), Add: nbs},
			capset.Sets{Inheritable: nbs, Permitted: nbs, Effective: nbs, Bounding: all40.Without(capset.SYS_ADMIN), Ambient: nbs}},
		{"nobody add all minus one", rootCall, Request{User: "nobody", AddAll: true, Drop: capset.Of(capset.SYS_ADMIN)},
			capset.Sets{Inheritable: all40.Without(capset.SYS_ADMIN), Permitted: all40.Without(capset.SYS_ADMIN), Effective: all40.Without(capset.SYS_ADMIN),
				Bounding: all40.Without(capset.SYS_ADMIN), Ambient: all40.Without(capset.SYS_ADMIN)}},
		{"plain user, no flags", plainUser, Request{}, capset.Sets{Bounding: all40}},
		{"user with an ambient capability keeps it", ambientUser, Request{NoNewPrivs: true},
			capset.Sets{Inheritable: nbs, Permitted: nbs, Effective: nbs, Bounding: all40, Ambient: nbs}},
		{"user with an ambient capability, drop all", Caller{Sets: ambientUser.Sets, Securebits: 0, AmbientSupported: true, UID: 1000}.withEffective(capset.SETPCAP), Request{DropAll: true},
			capset.Sets{}},
		{"root with SECBIT_NOROOT is treated like a user", Caller{Sets: rootSets, Securebits: secbitNoRoot, AmbientSupported: true}, Request{DropAll: true, Add: nbs},
			capset.Sets{Inheritable: nbs, Permitted: nbs, Effective: nbs, Bounding: nbs, Ambient: nbs}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.req.Args = []string{"true"}
			p, err := prepare(c.req, c.caller, a)
			if err != nil {
				t.Fatal(err)
			}
			if p.Sets != c.want {
				t.Errorf("sets = %+v\nwant   %+v", p.Sets.Hex(), c.want.Hex())
			}
			// What the init applies before exec must lead to what is shown.
			if got := p.spec.afterExec(p.User.UID == 0 && c.caller.Securebits&secbitNoRoot == 0); got != p.Sets {
				t.Errorf("spec leads to %+v, plan shows %+v", got.Hex(), p.Sets.Hex())
			}
		})
	}
}

func TestPrepareRefuses(t *testing.T) {
	a := fixtureAccounts(t)
	noSysResource := capset.Sets{Permitted: all40.Without(capset.SYS_RESOURCE), Effective: all40.Without(capset.SYS_RESOURCE), Bounding: all40.Without(capset.SYS_RESOURCE)}
	for _, c := range []struct {
		name   string
		caller Caller
		req    Request
		want   string
	}{
		{"add a cap the caller lacks", Caller{Sets: noSysResource, AmbientSupported: true}, Request{DropAll: true, Add: capset.Of(capset.SYS_RESOURCE)},
			"cannot add CAP_SYS_RESOURCE: the caller does not hold it"},
		{"user drops the bounding set", plainUser, Request{DropAll: true}, "needs CAP_SETPCAP"},
		{"user switches user", plainUser, Request{User: "nobody"}, "cannot switch to user nobody: that needs CAP_SETGID, CAP_SETUID"},
		{"user adds", plainUser, Request{Add: nbs}, "cannot add CAP_NET_BIND_SERVICE"},
		{"no ambient in the kernel", Caller{Sets: rootSets}, Request{User: "nobody", DropAll: true, Add: nbs}, "no ambient capabilities"},
		{"ambient locked", Caller{Sets: rootSets, Securebits: secbitNoCapAmbientRise, AmbientSupported: true}, Request{User: "nobody", DropAll: true, Add: nbs}, "SECBIT_NO_CAP_AMBIENT_RAISE"},
		// A user holding CAP_SETUID and CAP_SETGID (but not a full bounding
		// set's worth) must not become root with every capability.
		{"setuid holder to root", Caller{Sets: capset.Sets{Permitted: capset.Of(capset.SETUID, capset.SETGID), Effective: capset.Of(capset.SETUID, capset.SETGID), Bounding: all40}, UID: 1000, AmbientSupported: true},
			Request{User: "root"}, "the command would hold"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.req.Args = []string{"true"}
			_, err := prepare(c.req, c.caller, a)
			if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrRefused) {
				t.Errorf("err = %v, want ErrRefused saying %q", err, c.want)
			}
		})
	}
	if _, err := prepare(Request{}, rootCall, a); err == nil {
		t.Error("no command: no error")
	}
	if _, err := prepare(Request{User: "nosuch", Args: []string{"true"}}, rootCall, a); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("unknown user: %v", err)
	}
}

func TestPrepareIdentityAndEnv(t *testing.T) {
	a := fixtureAccounts(t)
	env := []string{"PATH=/opt/bin:/usr/bin", "HOME=/root", "AWS_SECRET_ACCESS_KEY=x", "LC_ALL=C", "TERM=xterm", "LD_PRELOAD=/evil.so", "USER=root", "TERM=vt100"}
	p, err := prepare(Request{User: "alice", Env: env, Args: []string{"id"}}, rootCall, a)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"HOME=/home/alice", "LC_ALL=C", "LOGNAME=alice", "PATH=/opt/bin:/usr/bin", "SHELL=/bin/zsh", "TERM=vt100", "USER=alice"}
	if !reflect.DeepEqual(p.Env, want) {
		t.Errorf("env = %q\nwant  %q", p.Env, want)
	}
	if !p.spec.SetIDs || p.spec.UID != 1000 || !reflect.DeepEqual(p.spec.Groups, []int{4, 33, 999, 1000}) {
		t.Errorf("spec ids = %v %d %v", p.spec.SetIDs, p.spec.UID, p.spec.Groups)
	}
	kept, err := prepare(Request{User: "alice", KeepEnv: true, Env: env, Args: []string{"id"}}, rootCall, a)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(kept.Env, env) {
		t.Errorf("--keep-env changed the environment: %q", kept.Env)
	}
	// Without --user the ids are not touched, and a caller without a PATH
	// gets the default one.
	p, err = prepare(Request{Args: []string{"id"}, Env: []string{}}, rootCall, a)
	if err != nil {
		t.Fatal(err)
	}
	if p.spec.SetIDs || p.User.Name != "root" {
		t.Errorf("no --user: SetIDs=%v user=%q", p.spec.SetIDs, p.User.Name)
	}
	if v, _ := lookEnv(p.Env, "PATH"); v != DefaultPath {
		t.Errorf("PATH = %q", v)
	}
	// no_new_privs inherited from the caller shows in the plan.
	c := rootCall
	c.NoNewPrivs = true
	if p, _ := prepare(Request{Args: []string{"id"}}, c, a); !p.NoNewPrivs || p.spec.NoNewPrivs {
		t.Errorf("inherited no_new_privs: plan %v spec %v", p.NoNewPrivs, p.spec.NoNewPrivs)
	}
}
