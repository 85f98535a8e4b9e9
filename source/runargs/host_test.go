package runargs

import (
	"fmt"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/source/internal/wltest"
	"github.com/capdrop/capdrop/workload"
)

func TestHost(t *testing.T) {
	for _, c := range []struct{ line, want string }{
		{"docker run -v /:/host img", "bind:/>/host@15"},
		{"docker run -v /etc:/etc:ro,Z --volume=data:/data -v /anon img", "bind:/etc>/etc,ro,Z@15 volume:data>/data@39 volume:>/anon@53"},
		{`podman run -v ./src:/src:z -v "$HOME/.ssh:/root/.ssh:ro" img`, "bind:./src>/src,z@15 bind:$HOME/.ssh>/root/.ssh,ro@31"},
		{"docker run --mount type=bind,src=/var/run/docker.sock,dst=/s,readonly --mount source=v,target=/v img",
			"bind:/var/run/docker.sock>/s,ro@20 volume:v>/v@79"},
		{"docker run --mount type=tmpfs,destination=/t,tmpfs-size=1m --tmpfs /run:rw,size=1m img", "tmpfs:>/t,tmpfs-size=1m@20 tmpfs:>/run,rw,size=1m@68"},
		{"docker run --pid=host --net host --ipc=host --uts=host --userns=host --cgroupns=host img",
			"pid=host@18 net=host@29 ipc=host@40 uts=host@51 user=host@65 cgroup=host@81"},
		{"docker run --network=container:web --pid container:web img", "pid=container:web@42 net=container:web@22"},
		{"docker run --device /dev/sda:/dev/xvda:rwm --device=/dev/fuse img", "dev=/dev/sda:/dev/xvda:rwm@21 dev=/dev/fuse@53"},
		{"docker run --security-opt seccomp=unconfined --security-opt=no-new-privileges --security-opt apparmor:unconfined img",
			"opt=seccomp=unconfined@27 opt=apparmor:unconfined@94"},
		{"docker run -it --rm img", ""},
	} {
		cmds, err := ParseLine(c.line, Vars{})
		if err != nil || len(cmds) != 1 {
			t.Fatalf("%s: %v %v", c.line, cmds, err)
		}
		w, _ := cmds[0].Workload("f", workload.RunLine)
		if got := strings.ReplaceAll(wltest.Host(w.Host), "@1:", "@"); got != c.want {
			t.Errorf("%s\n got %s\nwant %s", c.line, got, c.want)
		}
	}
}

func TestParseVolume(t *testing.T) {
	for v, want := range map[string]string{
		"/data":              "volume:>/data",
		"/data:ro":           "volume:>/data,ro",
		"name:/data":         "volume:name>/data",
		"/h:/c":              "bind:/h>/c",
		"/h:/c:rw,rshared":   "bind:/h>/c,rw,rshared",
		`C:\data:/data`:      `bind:C:\data>/data`,
		"~/x:/x:readonly":    "bind:~/x>/x,ro",
		"${PWD}/a:/a":        "bind:${PWD}/a>/a",
		"":                   "volume:>",
		"a:b:c:d":            "volume:a>b,c:d",
		"/h:/c:ro:extra:::x": "bind:/h>/c,ro:extra:::x",
	} {
		m := ParseVolume(v, workload.Position{})
		got := fmt.Sprintf("%s:%s>%s", m.Type, m.Source, m.Target)
		if m.ReadOnly {
			got += ",ro"
		}
		if len(m.Options) > 0 {
			got += "," + strings.Join(m.Options, ",")
		}
		if got != want {
			t.Errorf("%q: %s, want %s", v, got, want)
		}
	}
}
