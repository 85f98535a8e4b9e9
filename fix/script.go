package fix

import "errors"

func applyDockerfile(path string, src []byte, opts Options) (*Result, error) {
	return nil, errors.New("not yet")
}

func applyScript(path string, src []byte, opts Options) (*Result, error) {
	return nil, errors.New("not yet")
}
