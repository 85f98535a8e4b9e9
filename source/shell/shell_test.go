package shell

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/capdrop/capdrop/source/internal/wltest"
	"github.com/capdrop/capdrop/workload"
)

func TestParseDump(t *testing.T) {
	for _, c := range []struct{ file string; f Format }{{"deploy.sh", Script}, {"app.service", Unit}, {"Makefile", Makefile}, {"README.md", Markdown}} {
		data, _ := os.ReadFile(filepath.Join("testdata", c.file))
		ws, errs := Parse(c.file, data, c.f)
		for _, w := range ws {
			t.Logf("%#v", wltest.Summarize(w, "command"))
		}
		t.Log(wltest.Errors(errs))
	}
	_ = workload.RunLine
}
