package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/internal/term"
	"github.com/capdrop/capdrop/launch"
	"github.com/capdrop/capdrop/source/runargs"
)

// LaunchPlan is the JSON form of `capdrop run --print`: what the command
// will get. Sets are those it holds after its execve.
type LaunchPlan struct {
	Command     []string        `json:"command"`
	User        LaunchUser      `json:"user"`
	NoNewPrivs  bool            `json:"no_new_privs"`
	Environment LaunchEnv       `json:"environment"`
	Sets        capset.SetNames `json:"sets"`
	Hex         capset.SetHex   `json:"hex"`
}

// LaunchUser is the identity in a LaunchPlan. Switched is false when the
// command keeps the caller's identity.
type LaunchUser struct {
	UID      int    `json:"uid"`
	GID      int    `json:"gid"`
	Groups   []int  `json:"groups"`
	Name     string `json:"name"`
	Group    string `json:"group"`
	Home     string `json:"home"`
	Switched bool   `json:"switched"`
}

// LaunchEnv says whether the environment is the caller's (kept) or the
// minimal one, and which variables it has.
type LaunchEnv struct {
	Kept  bool     `json:"kept"`
	Names []string `json:"names"`
}

// NewLaunchPlan builds the JSON form of p.
func NewLaunchPlan(p *launch.Plan) LaunchPlan {
	groups := p.User.Groups
	if groups == nil {
		groups = []int{}
	}
	return LaunchPlan{
		Command: p.Args,
		User: LaunchUser{UID: p.User.UID, GID: p.User.GID, Groups: groups, Name: p.User.Name,
			Group: p.User.Group, Home: p.User.Home, Switched: p.User.Switch},
		NoNewPrivs:  p.NoNewPrivs,
		Environment: LaunchEnv{Kept: p.KeepEnv, Names: p.EnvNames()},
		Sets:        p.Sets.Names(),
		Hex:         p.Sets.Hex(),
	}
}

// LaunchPlan writes what the command will get: command, identity,
// no_new_privs, environment, then the five sets.
func (t Text) LaunchPlan(w io.Writer, p *launch.Plan) error {
	b := t.pal().Bold
	tab := term.Table{}
	tab.Row(b("command"), runargs.Join(p.Args))
	who := fmt.Sprintf("%s, %s, groups %s", named(p.User.Name, "uid", p.User.UID), named(p.User.Group, "gid", p.User.GID), ints(p.User.Groups))
	if !p.User.Switch {
		who += " (the caller's)"
	}
	tab.Row(b("user"), who)
	nnp := "no"
	if p.NoNewPrivs {
		nnp = "yes"
	}
	tab.Row(b("no_new_privs"), nnp)
	env := "clean: "
	if p.KeepEnv {
		env = "kept: "
	}
	tab.Row(b("environment"), env+strings.Join(p.EnvNames(), " "))
	p.Sets.Each(func(name string, set capset.Set) {
		tab.Row(b(name), set.Hex()+"  "+Summarize(set))
	})
	return tab.Render(w)
}

func named(name, kind string, id int) string {
	if name == "" {
		return fmt.Sprintf("%s %d", kind, id)
	}
	return fmt.Sprintf("%s (%s %d)", name, kind, id)
}

func ints(v []int) string {
	if len(v) == 0 {
		return "none"
	}
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}
