package report

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/capdrop/capdrop/procfs"
	"slices"
	"testing"

	"github.com/capdrop/capdrop/inventory"
	"github.com/capdrop/capdrop/inventory/inventorytest"
)

// fixtureInventory takes the inventory of the fake /proc tree with the fake
// engine, as capdrop ps would.
func fixtureInventory(t *testing.T, mod func(*inventory.Options)) *inventory.Inventory {
	t.Helper()
	opts := inventory.Options{
		Proc: inventorytest.Proc(), Engine: &inventorytest.Engine{}, KernelCaps: inventorytest.Kernel,
		UserName: inventorytest.Users, Threads: procfs.ThreadsFull,
	}
	if mod != nil {
		mod(&opts)
	}
	inv, err := inventory.Take(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func TestPSGolden(t *testing.T) {
	var b bytes.Buffer
	if err := plain().PS(&b, fixtureInventory(t, nil)); err != nil {
		t.Fatal(err)
	}
	golden(t, "ps.golden", b.Bytes())

	b.Reset()
	if err := plain().PS(&b, fixtureInventory(t, func(o *inventory.Options) { o.All = true })); err != nil {
		t.Fatal(err)
	}
	golden(t, "ps-all.golden", b.Bytes())

	b.Reset()
	if err := plain().PSWide(&b, fixtureInventory(t, func(o *inventory.Options) { o.Cmdline = true; o.PIDs = []int{400, 1001, 1400} })); err != nil {
		t.Fatal(err)
	}
	golden(t, "ps-wide.golden", b.Bytes())

	b.Reset()
	if err := plain().PS(&b, fixtureInventory(t, func(o *inventory.Options) { o.PIDs = []int{701} })); err != nil {
		t.Fatal(err)
	}
	if b.Len() == 0 || bytes.Contains(b.Bytes(), []byte("no process")) {
		t.Errorf("--pid lists the process even with an empty effective set:\n%s", b.Bytes())
	}
}

func TestPSJSONGolden(t *testing.T) {
	var b bytes.Buffer
	if err := PSJSON(&b, fixtureInventory(t, func(o *inventory.Options) { o.All = true; o.Cmdline = true })); err != nil {
		t.Fatal(err)
	}
	golden(t, "ps.json.golden", b.Bytes())

	// The contract: every process has these keys, container is null or has
	// runtime, id, name and image, and the five sets are lists of names.
	var procs []map[string]any
	if err := json.Unmarshal(b.Bytes(), &procs); err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		for _, k := range []string{"pid", "ppid", "uid", "command", "container", "sets", "hex"} {
			if _, ok := p[k]; !ok {
				t.Errorf("process %v lacks %q", p["pid"], k)
			}
		}
		if c, ok := p["container"].(map[string]any); ok {
			for _, k := range []string{"runtime", "id", "name", "image"} {
				if _, ok := c[k]; !ok {
					t.Errorf("container of %v lacks %q", p["pid"], k)
				}
			}
		} else if p["container"] != nil {
			t.Errorf("container of %v is %v", p["pid"], p["container"])
		}
		sets := p["sets"].(map[string]any)
		var keys []string
		for k, v := range sets {
			keys = append(keys, k)
			if _, ok := v.([]any); !ok {
				t.Errorf("set %s of %v is %v, not a list", k, p["pid"], v)
			}
		}
		slices.Sort(keys)
		if !slices.Equal(keys, []string{"ambient", "bounding", "effective", "inheritable", "permitted"}) {
			t.Errorf("sets of %v: %v", p["pid"], keys)
		}
	}
}

func TestPSContainersGolden(t *testing.T) {
	inv := fixtureInventory(t, func(o *inventory.Options) { o.Summaries = true })
	var b bytes.Buffer
	if err := plain().PSContainers(&b, inv); err != nil {
		t.Fatal(err)
	}
	golden(t, "ps-containers.golden", b.Bytes())

	b.Reset()
	if err := PSContainersJSON(&b, inv); err != nil {
		t.Fatal(err)
	}
	golden(t, "ps-containers.json.golden", b.Bytes())

	// In colour, risks are coloured by level; the table is as wide as it
	// needs (like docker ps), only the messages below it are wrapped.
	b.Reset()
	if err := (Text{Color: true, Width: 80}).PSContainers(&b, inv); err != nil {
		t.Fatal(err)
	}
	golden(t, "ps-containers-color.golden", b.Bytes())
}
