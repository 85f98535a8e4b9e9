package runlabel

import (
	"os"
	"testing"

	"github.com/capdrop/capdrop/launch"
)

func TestMain(m *testing.M) {
	launch.Init() // Start launches the command through this binary
	os.Exit(m.Run())
}
