package dockertest

import (
	"testing"

	"github.com/capdrop/capdrop/knowledge"
)

func TestDefaultContainerHasDockerDefaults(t *testing.T) {
	Require(t)
	img := Image(t, nil)
	id := Start(t, img, "sleep", "60")
	sets, st := KernelSets(t, id)
	want := knowledge.MustDefault(knowledge.Docker)
	if sets.Effective != want || sets.Bounding != want || sets.Permitted != want {
		t.Errorf("default container: eff %v bnd %v prm %v; want %v", sets.Effective, sets.Bounding, sets.Permitted, want)
	}
	if st.Name != "sleep" {
		t.Errorf("main process is %q, want sleep", st.Name)
	}
}
