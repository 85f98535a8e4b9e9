package report

import (
	"bytes"
	"testing"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/launch"
)

func launchPlans() map[string]*launch.Plan {
	nbs := capset.Of(capset.NET_BIND_SERVICE)
	all := capset.Upto(40).Without(capset.SYS_RESOURCE)
	return map[string]*launch.Plan{
		"nobody-net-bind": {
			Args: []string{"nginx", "-g", "daemon off;"},
			Env:  []string{"HOME=/nonexistent", "LOGNAME=nobody", "PATH=/usr/bin:/bin", "SHELL=/usr/sbin/nologin", "USER=nobody"},
			User: launch.Identity{UID: 65534, GID: 65534, Groups: []int{65534}, Name: "nobody", Group: "nogroup",
				Home: "/nonexistent", Shell: "/usr/sbin/nologin", Switch: true},
			NoNewPrivs: true,
			Sets:       capset.Sets{Inheritable: nbs, Permitted: nbs, Effective: nbs, Bounding: nbs, Ambient: nbs},
		},
		"root-drop-some": {
			Args:    []string{"/usr/sbin/sshd", "-D"},
			Env:     []string{"PATH=/usr/bin", "TERM=xterm", "KEY=it's"},
			KeepEnv: true,
			User:    launch.Identity{UID: 0, GID: 0, Groups: []int{0}, Name: "root", Group: "root", Home: "/root"},
			Sets: capset.Sets{Permitted: all.Without(capset.SYS_ADMIN), Effective: all.Without(capset.SYS_ADMIN),
				Bounding: all.Without(capset.SYS_ADMIN)},
		},
		"numeric-none": {
			Args: []string{"sh", "-c", "echo 'hi there'"},
			Env:  []string{"HOME=/", "PATH=/bin"},
			User: launch.Identity{UID: 1234, GID: 1234, Groups: []int{1234}, Home: "/", Switch: true},
		},
	}
}

func TestLaunchPlanGolden(t *testing.T) {
	for name, p := range launchPlans() {
		t.Run(name, func(t *testing.T) {
			var text, js bytes.Buffer
			if err := (Text{}).LaunchPlan(&text, p); err != nil {
				t.Fatal(err)
			}
			golden(t, "launch-"+name+".golden", text.Bytes())
			if err := JSON(&js, NewLaunchPlan(p)); err != nil {
				t.Fatal(err)
			}
			golden(t, "launch-"+name+".json.golden", js.Bytes())
		})
	}
}
