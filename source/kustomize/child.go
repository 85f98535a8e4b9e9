package kustomize

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
)

// childArg0 is the argv[0] Build gives the binary it re-executes to build
// an overlay in a process of its own.
const childArg0 = "capdrop:[kustomize]"

// maxChildOutput bounds what a child may hand back: the objects of one
// build, each file of which is bounded by MaxFileSize.
const maxChildOutput = 1 << 30

var (
	// hooked is set by Child: this binary can be re-executed as the
	// child.
	hooked atomic.Bool
	// inChild is set in the child, which builds in its own process.
	inChild bool
)

// request is what the parent sends the child on its standard input.
type request struct {
	Dir  string  `json:"dir"`
	Opts Options `json:"options"`
}

// reply is what the child writes on its standard output.
type reply struct {
	Resources []Resource `json:"resources"`
	Err       string     `json:"error,omitempty"`
	Offline   bool       `json:"offline,omitempty"`
}

// Child must be called at the start of main (and of the TestMain of tests
// that build overlays through a program that calls it), before anything
// else: in a process Build started to build an overlay, it builds it and
// exits; in any other process it returns at once, and Build may then use
// this binary for overlays with deprecated fields.
func Child() {
	hooked.Store(true)
	if len(os.Args) != 1 || os.Args[0] != childArg0 {
		return
	}
	inChild = true
	os.Exit(serve(os.Stdin, os.Stdout))
}

// serve builds the overlay a request names and writes the reply.
func serve(in io.Reader, out io.Writer) int {
	var req request
	if err := json.NewDecoder(io.LimitReader(in, 1<<20)).Decode(&req); err != nil {
		fmt.Fprintf(os.Stderr, "kustomize child: %v\n", err)
		return 2
	}
	res, err := build(req.Dir, req.Opts)
	rep := reply{Resources: res}
	if err != nil {
		rep.Err, rep.Offline = err.Error(), errors.Is(err, ErrOffline)
	}
	if err := json.NewEncoder(out).Encode(rep); err != nil {
		return 2
	}
	return 0
}

// buildInChild runs build in a child process: this binary, re-executed.
func buildInChild(dir string, opts Options) ([]Resource, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("build in a child process: %w", err)
	}
	req, err := json.Marshal(request{Dir: dir, Opts: opts})
	if err != nil {
		return nil, err
	}
	var stdout, stderr bytes.Buffer
	cmd := &exec.Cmd{Path: exe, Args: []string{childArg0}, Stdin: bytes.NewReader(req),
		Stdout: &limited{w: &stdout, n: maxChildOutput}, Stderr: &limited{w: &stderr, n: 1 << 20}}
	runErr := cmd.Run()
	rest := strings.TrimSpace(deprecation.ReplaceAllString(stderr.String(), ""))
	if opts.Warn != nil && rest != "" {
		sc := bufio.NewScanner(strings.NewReader(rest))
		for sc.Scan() {
			if l := strings.TrimSpace(sc.Text()); l != "" {
				opts.Warn(l)
			}
		}
	}
	if runErr != nil {
		return nil, fmt.Errorf("build in a child process: %w", runErr)
	}
	var rep reply
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		return nil, fmt.Errorf("build in a child process: its reply: %w", err)
	}
	if rep.Err != "" {
		if rep.Offline {
			return nil, fmt.Errorf("%w: %s", ErrOffline, strings.TrimPrefix(rep.Err, ErrOffline.Error()+": "))
		}
		return nil, errors.New(rep.Err)
	}
	return rep.Resources, nil
}

// limited is a writer that fails once n bytes have been written.
type limited struct {
	w io.Writer
	n int64
}

func (l *limited) Write(p []byte) (int, error) {
	if int64(len(p)) > l.n {
		return 0, errors.New("too much output")
	}
	l.n -= int64(len(p))
	return l.w.Write(p)
}
