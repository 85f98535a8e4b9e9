package launch

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/capdrop/capdrop/capset"
)

// Securebits capdrop looks at (linux/securebits.h).
const (
	secbitNoRoot           = 1 << 0 // root gets no capabilities from execve
	secbitNoCapAmbientRise = 1 << 6 // ambient capabilities cannot be raised
)

// ErrRefused is wrapped by every error saying a request would need
// privileges the caller does not have, or would widen them.
var ErrRefused = errors.New("refused")

// RefusedError explains why a request cannot be honoured.
type RefusedError struct{ Reason string }

// Error returns the reason.
func (e *RefusedError) Error() string { return e.Reason }

// Unwrap makes errors.Is(err, ErrRefused) true.
func (e *RefusedError) Unwrap() error { return ErrRefused }

func refused(format string, args ...any) error {
	return &RefusedError{Reason: fmt.Sprintf(format, args...)}
}

// Request says what to start and with which privileges. The capability
// fields mean what docker run's --cap-drop and --cap-add mean, applied to
// the capabilities the caller holds instead of a runtime's default set:
//
//   - DropAll: the command keeps exactly Add.
//   - AddAll: it keeps everything the caller holds except Drop.
//   - otherwise: what the caller holds, minus Drop, plus Add (a capability in
//     both lists is kept: add wins, as in Docker).
//
// Add may only name capabilities the caller holds: capdrop run reduces
// privileges, it never adds any.
type Request struct {
	DropAll bool
	Drop    capset.Set
	AddAll  bool
	Add     capset.Set

	// User is USER[:GROUP] (names or numeric ids); "" keeps the caller's
	// identity, groups included.
	User string
	// NoNewPrivs sets no_new_privs: execve of set-user-ID, set-group-ID or
	// file-capability binaries grants nothing.
	NoNewPrivs bool
	// KeepEnv passes Env unchanged; otherwise the command gets a minimal
	// environment (see the package documentation).
	KeepEnv bool
	// Env is the caller's environment; nil means os.Environ().
	Env []string
	// Args is the command and its arguments. Args[0] is looked up in the
	// command's PATH when it has no slash, after the identity switch.
	Args []string

	// PasswdFile and GroupFile resolve User; "" means /etc/passwd and
	// /etc/group.
	PasswdFile, GroupFile string
}

// Caller is the capability state of the process that starts the command,
// as the kernel reports it.
type Caller struct {
	Sets       capset.Sets
	UID, GID   int
	Groups     []int
	Securebits uint
	NoNewPrivs bool
	// AmbientSupported is false on kernels before 4.3.
	AmbientSupported bool
}

// Held returns the capabilities the caller can pass on: permitted and in
// its bounding set.
func (c Caller) Held() capset.Set { return c.Sets.Permitted.Intersect(c.Sets.Bounding) }

// Plan is what a Request resolves to: exactly what the command will get.
// The init applies the plan's internal spec, and Sets is derived from that
// same spec, so what --print shows is what is applied.
type Plan struct {
	Args    []string
	Env     []string
	KeepEnv bool
	User    Identity
	// NoNewPrivs is the command's no_new_privs: requested, or inherited
	// from a caller that already has it.
	NoNewPrivs bool
	// Sets are the five sets the command holds after its execve (for a
	// binary without set-user-ID bits or file capabilities; those can only
	// get what the bounding set allows).
	Sets capset.Sets
	// Caller are the caller's own sets, which starting the command leaves
	// untouched.
	Caller capset.Sets

	spec initSpec
}

// EnvNames returns the names of the command's environment variables.
func (p *Plan) EnvNames() []string { return envNames(p.Env) }

// initSpec is exactly what the init process applies, in runc's order:
// bounding set, identity, inheritable/permitted/effective, ambient,
// no_new_privs, execve. It travels to the init as JSON over a socket.
type initSpec struct {
	Bounding    capset.Set `json:"bounding"` // kept; every other capability up to the kernel's last is dropped
	Inheritable capset.Set `json:"inheritable"`
	Permitted   capset.Set `json:"permitted"`
	Effective   capset.Set `json:"effective"`
	Ambient     capset.Set `json:"ambient"`
	SetIDs      bool       `json:"set_ids"`
	UID         int        `json:"uid"`
	GID         int        `json:"gid"`
	Groups      []int      `json:"groups"`
	NoNewPrivs  bool       `json:"no_new_privs"`
	Args        []string   `json:"args"`
	Env         []string   `json:"env"`
	// ParentPID is the launcher's pid: the init arms a parent-death signal
	// and exits if its parent is already someone else.
	ParentPID int `json:"parent_pid"`
}

// afterExec computes the five sets a process with the spec's credentials
// holds after execve of a regular binary (no set-id bits, no file
// capabilities), by the kernel's rules (security/commoncap.c):
// root (unless SECBIT_NOROOT) gets P' = E' = bounding | I | A; anyone else
// gets P' = E' = A. I and A carry over; bounding does.
func (s initSpec) afterExec(legacyRoot bool) capset.Sets {
	out := capset.Sets{Inheritable: s.Inheritable, Bounding: s.Bounding, Ambient: s.Ambient}
	if legacyRoot {
		out.Permitted = s.Bounding.Union(s.Inheritable).Union(s.Ambient)
	} else {
		out.Permitted = s.Ambient
	}
	out.Effective = out.Permitted
	return out
}

// prepare resolves a request against the caller's state and accounts. It
// is pure: everything it knows about the system is in its arguments.
func prepare(req Request, c Caller, acct accounts) (*Plan, error) {
	if len(req.Args) == 0 || req.Args[0] == "" {
		return nil, errors.New("no command to run")
	}
	var id Identity
	if req.User != "" {
		var err error
		if id, err = acct.resolve(req.User); err != nil {
			return nil, err
		}
	} else {
		id = acct.current(c.UID, c.GID, c.Groups)
	}

	held := c.Held()
	if missing := req.Add.Minus(held); !req.AddAll && !missing.IsEmpty() {
		return nil, refused("cannot add %s: the caller does not hold %s (capdrop run only keeps capabilities the caller already has)",
			joinNames(missing), pronoun(missing))
	}
	var bounding, granted capset.Set
	switch {
	case req.AddAll:
		bounding, granted = c.Sets.Bounding.Minus(req.Drop), held.Minus(req.Drop)
	case req.DropAll:
		bounding, granted = req.Add, req.Add
	default:
		bounding, granted = c.Sets.Bounding.Minus(req.Drop).Union(req.Add), req.Add
		if !id.Switch {
			// A non-root caller's ambient capabilities are what its
			// commands keep across execve anyway (systemd's
			// AmbientCapabilities=): they stay unless dropped. Root's
			// capabilities come from being uid 0 and never carry over to
			// another user, so a switch starts from nothing.
			granted = granted.Union(c.Sets.Ambient.Intersect(held).Minus(req.Drop))
		}
	}

	legacyRoot := id.UID == 0 && c.Securebits&secbitNoRoot == 0
	spec := initSpec{
		Bounding:   bounding,
		SetIDs:     id.Switch,
		UID:        id.UID,
		GID:        id.GID,
		Groups:     id.Groups,
		NoNewPrivs: req.NoNewPrivs,
		Args:       slices.Clone(req.Args),
	}
	if legacyRoot {
		// Root gets its bounding set as permitted and effective at execve;
		// inheritable and ambient would add nothing but exposure.
		spec.Permitted = bounding.Intersect(c.Sets.Permitted)
		spec.Effective = spec.Permitted
	} else {
		// Anyone else keeps capabilities across execve only through the
		// ambient set, which must be a subset of permitted and inheritable.
		spec.Permitted, spec.Effective, spec.Inheritable, spec.Ambient = granted, granted, granted, granted
	}

	if dropped := c.Sets.Bounding.Minus(bounding); !dropped.IsEmpty() && !c.Sets.Effective.Has(capset.SETPCAP) {
		return nil, refused("cannot drop %s from the bounding set: that needs CAP_SETPCAP, which the caller lacks "+
			"(run capdrop as root; --no-new-privs alone already stops set-user-ID and file-capability binaries from gaining any)",
			joinNames(dropped))
	}
	if id.Switch {
		if need := capset.Of(capset.SETUID, capset.SETGID).Minus(c.Sets.Effective); !need.IsEmpty() {
			return nil, refused("cannot switch to user %s: that needs %s, which the caller lacks", req.User, joinNames(need))
		}
	}
	if !spec.Ambient.IsEmpty() {
		switch {
		case !c.AmbientSupported:
			return nil, refused("cannot give %s to a non-root user: this kernel has no ambient capabilities (Linux 4.3 and later)", joinNames(spec.Ambient))
		case c.Securebits&secbitNoCapAmbientRise != 0:
			return nil, refused("cannot give %s to a non-root user: the caller has SECBIT_NO_CAP_AMBIENT_RAISE set", joinNames(spec.Ambient))
		}
	}

	child := spec.afterExec(legacyRoot)
	// The invariant the whole package exists for; every branch above
	// should already guarantee it.
	var wider capset.Set
	child.Each(func(name string, s capset.Set) {
		if name != "bounding" {
			wider = wider.Union(s.Minus(held))
		}
	})
	wider = wider.Union(child.Bounding.Minus(c.Sets.Bounding))
	if !wider.IsEmpty() {
		return nil, refused("refusing: the command would hold %s, which the caller does not", joinNames(wider))
	}

	env := req.Env
	spec.Env = childEnv(env, req.KeepEnv, id)
	return &Plan{
		Args:       spec.Args,
		Env:        spec.Env,
		KeepEnv:    req.KeepEnv,
		User:       id,
		NoNewPrivs: req.NoNewPrivs || c.NoNewPrivs,
		Sets:       child,
		Caller:     c.Sets,
		spec:       spec,
	}, nil
}

// joinNames lists a set for a message, shortened when it is long.
func joinNames(s capset.Set) string {
	names := s.Names()
	if len(names) > 6 {
		return fmt.Sprintf("%d capabilities (%s, …)", len(names), strings.Join(names[:4], ", "))
	}
	return strings.Join(names, ", ")
}

func pronoun(s capset.Set) string {
	if s.Len() == 1 {
		return "it"
	}
	return "them"
}
