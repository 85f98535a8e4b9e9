package profile

import "errors"

// createArgs turns docker run arguments into docker create arguments:
// --detach (-d) is dropped, since the container always runs detached here.
// Only a -d among the leading flags is dropped (before the first argument
// that is not a flag, which may be a flag's value, the image or the
// command), so a command's own -d is never touched.
func createArgs(runArgs []string) ([]string, error) {
	var out []string
	leading := true
	for i, a := range runArgs {
		if a == "--" && i == 0 {
			continue
		}
		if len(a) == 0 || a[0] != '-' {
			leading = false
		}
		if leading && (a == "-d" || a == "--detach" || a == "--detach=true") {
			continue
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, errors.New("no image given: capdrop profile --docker -- [docker run flags] IMAGE [COMMAND]")
	}
	return out, nil
}
