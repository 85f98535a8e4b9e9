package inventory

import (
	"github.com/capdrop/capdrop/inventory/inventorytest"
	"github.com/capdrop/capdrop/procfs"
)

const (
	criID  = inventorytest.CRIID
	podUID = inventorytest.PodUID
)

type fakeEngine = inventorytest.Engine

// fixtureOptions are the options tests use on the fixture tree.
func fixtureOptions(e Engine) Options {
	return Options{Proc: inventorytest.Proc(), Engine: e, KernelCaps: inventorytest.Kernel, UserName: inventorytest.Users, Threads: procfs.ThreadsFull}
}
