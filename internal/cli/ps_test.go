package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/capdrop/capdrop/inventory/inventorytest"
)

// checkPSSchema validates output against docs/<name>, the documented
// contract of capdrop ps -o json.
func checkPSSchema(t *testing.T, name, out string) {
	t.Helper()
	c := jsonschema.NewCompiler()
	// ps-containers.schema.json refers to ps.schema.json by its $id.
	f, err := os.Open(filepath.Join("..", "..", "docs", "ps.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddResource("https://github.com/capdrop/capdrop/docs/ps.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(filepath.Join("..", "..", "docs", name))
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
	if err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if err := sch.Validate(inst); err != nil {
		t.Fatalf("output does not match docs/%s: %v\n%s", name, err, out)
	}
}

// The JSON of every view of the fixture tree matches the documented schema.
func TestPSJSONSchemaOnFixture(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+t.TempDir()+"/none.sock")
	proc := "--proc=" + inventorytest.Proc()
	for _, args := range [][]string{
		{"ps", proc, "-o", "json"},
		{"ps", proc, "-a", "--wide", "-o", "json"},
		{"ps", proc, "--threads=full", "-a", "-o", "json"},
	} {
		out, stderr, code := psCLI(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		checkPSSchema(t, "ps.schema.json", out)
	}
	out, stderr, code := psCLI(t, "ps", proc, "--containers", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	checkPSSchema(t, "ps-containers.schema.json", out)
}
