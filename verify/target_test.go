package verify

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/knowledge"
)

func TestParseRunArgs(t *testing.T) {
	cases := []struct {
		args    string
		flags   string
		image   string
		cmd     string
		dropped string
		err     string
	}{
		{"nginx", "", "nginx", "", "", ""},
		{"-d --name web -p 80:80 nginx", "-p 80:80", "nginx", "", "-d|--name web", ""},
		{"-dit --rm busybox sh -c echo", "-it --rm", "busybox", "sh -c echo", "-d", ""},
		{"-dp80:80 img", "-p80:80", "img", "", "-d", ""},
		{"-e A=1 -eB=2 --env=C=3 -u 0 -w /tmp img a --name x", "-e A=1 -eB=2 --env=C=3 -u 0 -w /tmp", "img", "a --name x", "", ""},
		{"--detach=true --name=web --sig-proxy=false --detach-keys ctrl-x --cidfile /tmp/c img", "", "img", "", "--detach=true|--name=web|--sig-proxy=false|--detach-keys ctrl-x|--cidfile /tmp/c", ""},
		{"--privileged --init --read-only -P -t -i img", "--privileged --init --read-only -P -t -i", "img", "", "", ""},
		{"-h myhost img", "-h myhost", "img", "", "", ""},
		{"-v /a:/b -- img -v", "-v /a:/b", "img", "-v", "", ""},
		{"-d=false img", "", "img", "", "-d=false", ""},
		{"", "", "", "", "", "name no image"},
		{"-d --rm", "", "", "", "", "name no image"},
		{"-e", "", "", "", "", "-e needs a value"},
		{"--env", "", "", "", "", "--env needs a value"},
		{"-X img", "", "", "", "", "unknown option -X"},
		{"-- ", "", "", "", "", "name no image"},
	}
	for _, tc := range cases {
		ra, err := ParseRunArgs(strings.Fields(tc.args))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		got := [4]string{strings.Join(ra.Flags, " "), ra.Image, strings.Join(ra.Cmd, " "), strings.Join(ra.Dropped, "|")}
		want := [4]string{tc.flags, tc.image, tc.cmd, tc.dropped}
		if got != want {
			t.Errorf("%q:\n got %q\nwant %q", tc.args, got, want)
		}
	}
}

func FuzzParseRunArgs(f *testing.F) {
	for _, s := range []string{"-dit --rm busybox sh", "-e\x00A=1\x00img", "--name=x\x00-p\x0080:80\x00img\x00cmd", "-dp80\x00img", "--\x00img", "-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		args := strings.Split(s, "\x00")
		ra, err := ParseRunArgs(args)
		if err != nil {
			return
		}
		// Everything kept or dropped came from the input, and the image is
		// one of the words.
		found := false
		for _, a := range args {
			if a == ra.Image {
				found = true
			}
		}
		if !found {
			t.Fatalf("image %q is not one of the arguments %q", ra.Image, args)
		}
		if len(ra.Flags)+len(ra.Cmd)+1 > len(args) {
			t.Fatalf("more words out than in: %+v from %q", ra, args)
		}
		// The kept options parse again to the same thing.
		again, err := ParseRunArgs(append(append(append([]string{}, ra.Flags...), "--", ra.Image), ra.Cmd...))
		if err != nil || !reflect.DeepEqual(again.Flags, ra.Flags) || again.Image != ra.Image {
			t.Fatalf("re-parse of %+v: %+v, %v", ra, again, err)
		}
	})
}

func TestParseHTTPProbe(t *testing.T) {
	cases := map[string]string{
		"8080/healthz":         "http://10.0.0.2:8080/healthz",
		":8080/healthz":        "http://10.0.0.2:8080/healthz",
		"8080":                 "http://10.0.0.2:8080/",
		"/healthz":             "http://10.0.0.2:80/healthz",
		"":                     "http://10.0.0.2:80/",
		"http://127.0.0.1:9/x": "http://127.0.0.1:9/x",
		"0/x":                  "error",
		"70000":                "error",
		"abc/x":                "error",
		"http://":              "error",
	}
	for in, want := range cases {
		p, err := ParseHTTPProbe(in)
		got := "error"
		if err == nil {
			got = p.target("10.0.0.2")
		}
		if got != want {
			t.Errorf("%q: %s, want %s (err %v)", in, got, want, err)
		}
	}
	if p, _ := ParseHTTPProbe("8080"); !(Check{HTTP: p}).needsAddress() {
		t.Error("a port probe needs the container's address")
	}
	if p, _ := ParseHTTPProbe("http://127.0.0.1/"); (Check{HTTP: p}).needsAddress() {
		t.Error("a URL probe does not need the container's address")
	}
}

func TestCheckString(t *testing.T) {
	p, _ := ParseHTTPProbe("8080/ready")
	cases := []struct {
		c    Check
		want string
	}{
		{Check{}, "exits with code 0"},
		{Check{ExitCode: 3}, "exits with code 3"},
		{Check{HTTP: p}, "HTTP GET http://CONTAINER:8080/ready answers below 400"},
		{Check{TCP: 5432, Exec: []string{"pg_isready"}}, `exec ["pg_isready"] exits 0, and TCP port 5432 accepts a connection`},
		{Check{Running: 5e9}, "still running after 5s"},
	}
	for _, tc := range cases {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.c, got, tc.want)
		}
	}
}

func TestDockerSet(t *testing.T) {
	d := knowledge.MustDefault(knowledge.Docker)
	all := EngineAll("20.10.24+dfsg1")
	cases := []struct {
		add, drop string
		priv      bool
		want      capset.Set
		err       string
	}{
		{"", "", false, d, ""},
		{"NET_ADMIN", "", false, d.With(capset.NET_ADMIN), ""},
		{"", "net_raw mknod", false, d.Without(capset.NET_RAW).Without(capset.MKNOD), ""},
		{"CAP_NET_RAW", "NET_RAW", false, d, ""}, // add wins
		{"chown", "ALL", false, capset.Of(capset.CHOWN), ""},
		{"ALL", "sys_admin", false, all.Without(capset.SYS_ADMIN), ""},
		{"ALL", "ALL", false, all, ""},
		{"", "", true, all, ""},
		{"SYS_ADMN", "", false, 0, "did you mean CAP_SYS_ADMIN"},
	}
	for _, tc := range cases {
		got, err := dockerSet(strings.Fields(tc.add), strings.Fields(tc.drop), tc.priv, all)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("add %q drop %q: err %v", tc.add, tc.drop, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("add %q drop %q priv %v: %v (%v), want %v", tc.add, tc.drop, tc.priv, got, err, tc.want)
		}
	}
	if all.Len() != 38 || all.Has(capset.BPF) || EngineAll("27.1.0") != capset.Known || EngineAll("") != capset.Known {
		t.Errorf("EngineAll: 20.10 %d caps; 27 %v", all.Len(), EngineAll("27.1.0"))
	}
}

func TestTargetBody(t *testing.T) {
	raw := `{"Id":"0123456789abcdef","Config":{"Hostname":"0123456789ab","Image":"img","User":"app","Env":["A=1"],"Labels":{"x":"y","capdrop.verify":"old"}},
	  "HostConfig":{"CapAdd":["NET_ADMIN"],"CapDrop":["MKNOD"],"Privileged":true,"AutoRemove":true,"RestartPolicy":{"Name":"always"},
	    "PortBindings":{"80/tcp":[{"HostPort":"8080"}]},"PublishAllPorts":true,"MaskedPaths":null,"Sysctls":{"a":"b"},"NetworkMode":"mynet"},
	  "NetworkSettings":{"Networks":{"mynet":{"Aliases":["0123456789ab","web"],"IPAMConfig":{"IPv4Address":"10.1.0.9"},"NetworkID":"n1","IPAddress":""}}}}`
	tg, err := fromInspect(json.RawMessage(raw))
	if err != nil {
		t.Fatal(err)
	}
	if tg.Image != "img" || tg.User != "app" || !tg.NonRoot() || !tg.Privileged || strings.Join(tg.CapAdd, ",") != "NET_ADMIN" || strings.Join(tg.CapDrop, ",") != "MKNOD" {
		t.Errorf("target %+v", tg)
	}
	if n := strings.Join(tg.Notes, "\n"); !strings.Contains(n, "--privileged replaced") || !strings.Contains(n, "published ports") || !strings.Contains(n, "--publish-all") || !strings.Contains(n, "restart policy always") {
		t.Errorf("notes:\n%s", n)
	}
	set := capset.Of(capset.CHOWN, capset.KILL)
	body := tg.Body(set, map[string]string{"capdrop.verify": "s1", "t": "1"})
	b, _ := json.Marshal(body)
	var got struct {
		Hostname   *string
		Env        []string
		Labels     map[string]string
		HostConfig map[string]any
		Networking struct {
			EndpointsConfig map[string]map[string]any
		} `json:"NetworkingConfig"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	hc := got.HostConfig
	if got.Hostname != nil || strings.Join(got.Env, ",") != "A=1" || got.Labels["x"] != "y" || got.Labels["capdrop.verify"] != "s1" || got.Labels["t"] != "1" {
		t.Errorf("config %s", b)
	}
	if !reflect.DeepEqual(hc["CapAdd"], []any{"CAP_CHOWN", "CAP_KILL"}) || !reflect.DeepEqual(hc["CapDrop"], []any{"ALL"}) ||
		hc["Privileged"] != false || hc["AutoRemove"] != false || hc["PublishAllPorts"] != false {
		t.Errorf("host config %v", hc)
	}
	if _, ok := hc["PortBindings"]; ok {
		t.Error("port bindings kept")
	}
	if _, ok := hc["MaskedPaths"]; ok {
		t.Error("MaskedPaths of a privileged container kept: the trial would run without Docker's masks")
	}
	if rp := hc["RestartPolicy"].(map[string]any); rp["Name"] != "no" {
		t.Errorf("restart policy %v", rp)
	}
	if hc["Sysctls"].(map[string]any)["a"] != "b" || hc["NetworkMode"] != "mynet" {
		t.Errorf("other settings lost: %v", hc)
	}
	ep := got.Networking.EndpointsConfig["mynet"]
	if !reflect.DeepEqual(ep["Aliases"], []any{"web"}) || ep["IPAMConfig"] == nil || ep["NetworkID"] != nil {
		t.Errorf("endpoint %v", ep)
	}
	// The target itself is not changed by building a body.
	if len(tg.host["CapAdd"].([]any)) != 1 || tg.config["Labels"].(map[string]any)["t"] != nil {
		t.Error("Body modified the target")
	}
	if body2 := tg.Body(capset.Empty, nil); !reflect.DeepEqual(body2["HostConfig"].(map[string]any)["CapAdd"], []string{}) {
		t.Errorf("empty set: CapAdd %v", body2["HostConfig"].(map[string]any)["CapAdd"])
	}

	two := `{"Id":"x","Config":{},"HostConfig":{},"NetworkSettings":{"Networks":{"a":{},"b":{}}}}`
	if _, err := fromInspect(json.RawMessage(two)); err == nil || !strings.Contains(err.Error(), "2 networks") {
		t.Errorf("two networks: %v", err)
	}
	if _, err := fromInspect(json.RawMessage(`{"Id":"x"}`)); err == nil {
		t.Error("no Config: no error")
	}
}

func TestShellQuote(t *testing.T) {
	words := []string{"-e", "A=1", "img", "sh", "-c", "echo 'hi' $x; true", ""}
	q := shellQuote(words)
	if q != `-e A=1 img sh -c 'echo '\''hi'\'' $x; true' ''` {
		t.Errorf("%s", q)
	}
	back, err := SplitWords(q)
	if err != nil || !reflect.DeepEqual(back, words) {
		t.Errorf("%q → %q", words, back)
	}
}
