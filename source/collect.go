package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/capdrop/capdrop/internal/input"
	"github.com/capdrop/capdrop/source/helm"
	"github.com/capdrop/capdrop/source/internal/tree"
	"github.com/capdrop/capdrop/source/kustomize"
	"github.com/capdrop/capdrop/workload"
)

// SkipDirs are directory names Collect does not descend into while
// walking: version-control metadata and vendored or installed third-party
// code, whose configurations are not the project's own. A directory named
// explicitly as a path is always read.
var SkipDirs = map[string]bool{
	".git": true, ".hg": true, ".svn": true, ".bzr": true,
	"node_modules": true, "vendor": true, ".venv": true, "__pycache__": true, ".tox": true, ".terraform": true,
}

// Input is one thing to read: a file or directory named by Path, or the
// content of Reader (standard input, a cluster's objects), which positions
// call Name.
type Input struct {
	// Path is a file or a directory (walked recursively). It is ignored
	// when Reader is set.
	Path string
	// Reader holds one file's content; Name is the name positions carry
	// (StdinName when empty). Content in no format capdrop recognises is
	// read as shell: a run line on its own.
	Reader io.Reader
	Name   string
}

// Paths returns an Input for each path.
func Paths(paths ...string) []Input {
	in := make([]Input, len(paths))
	for i, p := range paths {
		in[i] = Input{Path: p}
	}
	return in
}

// Collect reads every path (see Walk) and returns everything at once.
func Collect(paths []string, opts Options) Result {
	var out Result
	_ = Walk(context.Background(), Paths(paths...), opts, func(r Result) error {
		out.add(r)
		return nil
	})
	return out
}

func (r *Result) add(o Result) {
	r.Workloads = append(r.Workloads, o.Workloads...)
	r.Errors = append(r.Errors, o.Errors...)
	r.Files += o.Files
	r.Skipped += o.Skipped
	for why, n := range o.SkippedBy {
		if r.SkippedBy == nil {
			r.SkippedBy = map[string]int{}
		}
		r.SkippedBy[why] += n
	}
}

// Why files are skipped (Result.SkippedBy).
const (
	SkipFormat    = "not a configuration format"
	SkipBinary    = "binary"
	SkipSpecial   = "not a regular file"
	SkipChart     = "part of a Helm chart, audited as rendered"
	SkipKustomize = "part of a Kustomize build, audited as built"
	SkipTemplate  = "a Go template outside any chart, not rendered"
)

// skip counts one file passed over, and why.
func (r *Result) skip(why string) {
	r.Skipped++
	if r.SkippedBy == nil {
		r.SkippedBy = map[string]int{}
	}
	r.SkippedBy[why]++
}

// Walk reads every input: files, directories (walked recursively,
// honouring opts.Exclude and SkipDirs, following symbolic links with loop
// detection) and readers. It hands what it read to emit piece by piece, in
// input order (directory entries sorted by name), one file at a time, so a
// caller can stream results out without holding all of them; files are
// read and parsed in parallel ahead of emit, a bounded number at once. It
// never stops at a bad file:
//
//   - a file named explicitly is always read; if its format is not
//     recognised, it is binary, too large, unreadable or not a regular file,
//     that is an error;
//   - while walking, files are chosen by name (DetectName) or, for names
//     that say nothing, by a #! shell line; binary files, FIFOs, sockets and
//     devices are skipped silently, and so is YAML or JSON that holds no
//     compose file or Kubernetes/OCI/inspect document and does not look like
//     one (Helm templates, CI files); a chosen file that is too large or
//     unreadable, a dangling link with a chosen name, and a symbolic link
//     loop are errors.
//
// Walk returns ctx's error when ctx ends first (files being parsed then are
// finished, nothing new is started), and emit's first error when emit
// fails; otherwise nil.
func Walk(parent context.Context, inputs []Input, opts Options, emit func(Result) error) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	n := runtime.GOMAXPROCS(0)
	opts.allowance = tree.NewAllowance(0)
	c := &collector{ctx: ctx, opts: opts, max: opts.MaxFileSize, dotenv: map[string]dotenvFile{},
		sem: make(chan struct{}, n), queue: make(chan chan Result, 4*n)}
	if c.max <= 0 {
		c.max = DefaultMaxFileSize
	}
	go func() {
		defer close(c.queue)
		c.plan(inputs)
		for _, in := range inputs {
			if ctx.Err() != nil {
				break
			}
			c.input(in)
		}
		c.flush()
		c.wg.Wait()
	}()
	var err error
	for slot := range c.queue {
		r := <-slot
		if err != nil {
			continue // drain: the walk stops at its next step
		}
		if r.Files+r.Skipped+len(r.Workloads)+len(r.Errors) == 0 {
			continue
		}
		if err = emit(r); err != nil {
			cancel()
		}
	}
	if err == nil && parent.Err() != nil {
		err = context.Cause(parent)
	}
	return err
}

func (c *collector) input(in Input) {
	if in.Reader != nil {
		name := in.Name
		if name == "" {
			name = StdinName
		}
		c.reader(name, in.Reader)
		return
	}
	p := in.Path
	fi, err := os.Stat(p)
	if err != nil {
		c.fail(p, describe(err))
		return
	}
	switch {
	case fi.IsDir():
		c.walk(p, p, fi, nil)
	case fi.Mode().IsRegular():
		c.file(p, fi, true)
	default:
		c.res.Files++
		c.fail(p, fmt.Errorf("not a regular file (%s)", kind(fi.Mode())))
	}
}

// collector walks sequentially and reads and parses files in parallel.
// Each file gets its own slot in queue, in walk order, so what Walk emits
// is in path order whatever the scheduling; res collects what the walk
// itself records (errors about directories, skipped files) and is queued
// as a slot of its own before the next file.
type collector struct {
	ctx   context.Context
	opts  Options
	max   int64
	res   Result
	queue chan chan Result // slots in walk order; its capacity bounds the files read ahead
	sem   chan struct{}    // bounds the files being read and parsed at once
	wg    sync.WaitGroup

	mu     sync.Mutex // guards dotenv
	dotenv map[string]dotenvFile

	// plan, before the walk, reads the graph of the kustomizations under
	// the inputs: which overlays to build, and which files are parts of a
	// build (absolute path → skip reason) and not read on their own.
	graph map[string]*kustomize.Node
	build map[string]bool
	parts map[string]string
}

func (c *collector) fail(file string, err error) { fail(&c.res, file, err) }

// flush queues what the walk itself recorded since the last file.
func (c *collector) flush() {
	if c.res.Files+c.res.Skipped+len(c.res.Errors) == 0 {
		return
	}
	slot := make(chan Result, 1)
	slot <- c.res
	c.res = Result{}
	c.enqueue(slot)
}

// enqueue adds a slot to the queue, waiting while the queue is full; it
// reports false when the walk is cancelled meanwhile.
func (c *collector) enqueue(slot chan Result) bool {
	select {
	case c.queue <- slot:
		return true
	case <-c.ctx.Done():
		return false
	}
}

func fail(r *Result, file string, err error) {
	r.Errors = append(r.Errors, &workload.Error{Pos: workload.Position{File: file}, Err: err})
}

// describe turns a file system error into a short message.
func describe(err error) error {
	switch {
	case errors.Is(err, input.ErrNotRegular), errors.Is(err, input.ErrTooLarge), errors.Is(err, input.ErrChanged):
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return pe.Err
		}
		return err
	case errors.Is(err, syscall.ELOOP):
		return errors.New("symbolic link loop (too many levels of symbolic links)")
	case errors.Is(err, fs.ErrPermission):
		return errors.New("cannot read: permission denied")
	case errors.Is(err, fs.ErrNotExist):
		return errors.New("no such file or directory")
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("cannot read: %v", pe.Err)
	}
	return err
}

func kind(m fs.FileMode) string { return input.Kind(m) }

// reader reads one input's content. The read runs apart so that a
// cancelled walk does not wait for a reader that never ends (a terminal).
func (c *collector) reader(name string, in io.Reader) {
	c.flush()
	type read struct {
		data []byte
		err  error
	}
	done := make(chan read, 1)
	go func() {
		data, err := io.ReadAll(io.LimitReader(in, c.max+1))
		done <- read{data, err}
	}()
	var rd read
	select {
	case rd = <-done:
	case <-c.ctx.Done():
		return
	}
	r := Result{Files: 1}
	switch {
	case rd.err != nil:
		fail(&r, name, fmt.Errorf("cannot read: %w", rd.err))
	case int64(len(rd.data)) > c.max:
		fail(&r, name, fmt.Errorf("input too large: more than %d bytes (the limit)", c.max))
	default:
		c.parse(&r, name, rd.data, true, true)
	}
	slot := make(chan Result, 1)
	slot <- r
	c.enqueue(slot)
}

// parse records what one file holds into r. Content that came from a
// reader, not a file, is read as shell when it is nothing else. A Helm
// template is skipped with a warning: only its chart renders it.
func (c *collector) parse(r *Result, name string, data []byte, explicit, fromReader bool) {
	if f := Detect(name, data); (f == YAML || f == Compose) && IsTemplate(data) {
		r.skip(SkipTemplate)
		if dir := chartOf(name); dir != "" {
			r.Errors = append(r.Errors, workload.Warnf(workload.Position{File: name},
				"a template of the Helm chart in %s, not audited on its own: audit the chart's directory to render it", dir))
		} else {
			r.Errors = append(r.Errors, workload.Warnf(workload.Position{File: name},
				"a Go template (Helm {{ … }}) outside any chart: not rendered, not audited"))
		}
		return
	}
	dotenv := c.readDotEnv
	if fromReader {
		dotenv = func(string) (map[string]string, error) { return nil, nil }
	}
	ws, errs, known := parse(name, data, c.opts, dotenv, Unknown)
	if !known && fromReader && len(data) > 0 {
		// Anything else piped in is read as shell: a run line on its own.
		ws, errs, known = parse(name, data, c.opts, dotenv, Script)
	}
	if !known {
		r.skip(SkipFormat)
		if explicit {
			fail(r, name, ErrUnknownFormat)
		}
		return
	}
	r.Workloads = append(r.Workloads, ws...)
	r.Errors = append(r.Errors, errs...)
}

// dotenvFile is a directory's .env, read once per walk.
type dotenvFile struct {
	env map[string]string
	err error
}

func (c *collector) readDotEnv(dir string) (map[string]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d, ok := c.dotenv[dir]; ok {
		return d.env, d.err
	}
	env, err := readDotEnv(dir)
	c.dotenv[dir] = dotenvFile{env, err}
	return env, err
}

// file reads one regular file on a worker, into a slot of its own. Walked
// files (explicit false) are chosen by name or #! line first.
func (c *collector) file(p string, fi fs.FileInfo, explicit bool) {
	if why, ok := c.parts[abs(p)]; ok && !explicit {
		c.res.Files++
		c.res.skip(why)
		return
	}
	c.job(func(r *Result) { c.read(r, p, fi, explicit) })
}

// job runs f on a worker, into a slot of its own: reading a file,
// rendering a chart, building an overlay.
func (c *collector) job(f func(r *Result)) {
	c.flush()
	if c.ctx.Err() != nil {
		return
	}
	slot := make(chan Result, 1)
	if !c.enqueue(slot) {
		return
	}
	select {
	case c.sem <- struct{}{}:
	case <-c.ctx.Done():
		slot <- Result{}
		return
	}
	c.wg.Add(1)
	go func() {
		defer func() { <-c.sem; c.wg.Done() }()
		var r Result
		f(&r)
		slot <- r
	}()
}

func (c *collector) read(r *Result, p string, fi fs.FileInfo, explicit bool) {
	r.Files++
	byName := DetectName(p) != Unknown
	if !explicit && !byName && !c.shebang(p) {
		r.skip(SkipFormat)
		return
	}
	if fi.Size() > c.max {
		fail(r, p, fmt.Errorf("file too large: %d bytes (limit %d)", fi.Size(), c.max))
		return
	}
	// Opened again the guarded way: the file may have been replaced by a
	// pipe or a link to a device since the walk looked at it.
	data, err := input.ReadFile(p, c.max)
	if err != nil {
		fail(r, p, describe(err))
		return
	}
	if !explicit && !byName && isBinary(data) {
		r.skip(SkipBinary)
		return
	}
	c.parse(r, p, data, explicit, false)
}

// shebang reads the start of a file for a shell #! line.
func (c *collector) shebang(p string) bool {
	f, _, err := input.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	buf := make([]byte, 128)
	n, _ := io.ReadFull(f, buf)
	return shebang.Match(buf[:n])
}

// walk reads a directory tree. ancestors holds the directories on the
// current path (by device and inode) to detect symbolic link loops.
func (c *collector) walk(root, dir string, fi fs.FileInfo, ancestors []fileID) {
	id, ok := idOf(fi)
	if ok {
		for _, a := range ancestors {
			if a == id {
				c.fail(dir, errors.New("symbolic link loop: this directory contains itself"))
				return
			}
		}
		ancestors = append(ancestors, id)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		c.fail(dir, describe(err))
		return
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	// A Helm chart is rendered, its templates and subcharts audited as
	// rendered; an overlay is built (unless another overlay of the run
	// includes it). Other files of those directories are read as usual.
	chart := helm.IsChart(dir)
	if chart {
		c.job(func(r *Result) {
			r.Workloads, r.Errors = renderChart(dir, c.opts)
		})
	}
	if c.build[abs(dir)] {
		c.job(func(r *Result) {
			r.Workloads, r.Errors = buildKustomization(dir, c.opts, c.graph)
		})
	}
	for _, e := range entries {
		if c.ctx.Err() != nil {
			return
		}
		p := filepath.Join(dir, e.Name())
		if c.excluded(root, p) {
			continue
		}
		if chart && e.IsDir() && (e.Name() == "templates" || e.Name() == "charts") {
			c.countParts(p, SkipChart, 0)
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // vanished meanwhile
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			target, err := os.Stat(p)
			if err != nil {
				if errors.Is(err, syscall.ELOOP) || DetectName(p) != Unknown {
					c.res.Files++
					c.fail(p, describe(err))
				}
				continue
			}
			info = target
		}
		switch {
		case info.IsDir():
			if SkipDirs[e.Name()] {
				continue
			}
			c.walk(root, p, info, ancestors)
		case info.Mode().IsRegular():
			c.file(p, info, false)
		default:
			c.res.Files++
			c.res.skip(SkipSpecial) // FIFOs, sockets, devices: never opened
		}
	}
}

// countParts counts the files under dir as skipped for why, without
// reading them.
func (c *collector) countParts(dir, why string, depth int) {
	entries, err := os.ReadDir(dir)
	if err != nil || depth > 64 {
		return
	}
	for _, e := range entries {
		switch {
		case e.IsDir():
			c.countParts(filepath.Join(dir, e.Name()), why, depth+1)
		case e.Type().IsRegular():
			c.res.Files++
			c.res.skip(why)
		}
	}
}

// chartOf returns the chart directory a template belongs to (the nearest
// parent with a Chart.yaml, the file being under its templates/ or charts/),
// or "".
func chartOf(name string) string {
	dir := filepath.Dir(name)
	for i := 0; i < 32; i++ {
		parent := filepath.Dir(dir)
		if b := filepath.Base(dir); (b == "templates" || b == "charts") && helm.IsChart(parent) {
			return parent
		}
		if parent == dir {
			return ""
		}
		dir = parent
	}
	return ""
}

// plan finds the kustomizations under the inputs (a walk of directory
// names only, honouring the exclusions) and reads their graph. An overlay
// is built unless another kustomization of the run includes it (a base is
// built as part of its overlays); its files and those of every
// kustomization it includes are parts, not read on their own. An overlay
// that cannot be built offline keeps its files: they are audited one by
// one, and its build's warning says why.
func (c *collector) plan(inputs []Input) {
	c.graph, c.build, c.parts = map[string]*kustomize.Node{}, map[string]bool{}, map[string]string{}
	var dirs []string
	for _, in := range inputs {
		if in.Reader != nil {
			continue
		}
		if fi, err := os.Stat(in.Path); err == nil && fi.IsDir() {
			c.findKustomizations(in.Path, in.Path, map[string]bool{}, &dirs, 0)
		}
	}
	if len(dirs) == 0 {
		return
	}
	included := map[string]bool{}
	for _, d := range dirs {
		kustomize.Scan(d, c.graph)
	}
	for _, n := range c.graph {
		for _, d := range n.Dirs {
			included[abs(d)] = true
		}
	}
	for _, d := range dirs {
		n := c.graph[filepath.Clean(d)]
		switch {
		case included[abs(d)]:
			continue // built by the overlay that includes it
		case n.Component:
			c.parts[abs(n.File)] = SkipKustomize
			c.build[abs(d)] = true // Build says a component alone is not built
			continue
		}
		c.build[abs(d)] = true
		if n.Err == nil && c.offline(n, map[string]bool{}) {
			c.markParts(n, map[string]bool{})
		}
	}
}

// findKustomizations collects the directories under dir that hold a
// kustomization file.
func (c *collector) findKustomizations(root, dir string, seen map[string]bool, out *[]string, depth int) {
	a := abs(dir)
	if seen[a] || depth > 256 || c.ctx.Err() != nil {
		return
	}
	seen[a] = true
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.Type().IsRegular() && slices.Contains(kustomize.FileNames, e.Name()) {
			*out = append(*out, filepath.Clean(dir))
			break
		}
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if SkipDirs[e.Name()] || c.excluded(root, p) {
			continue
		}
		isDir := e.IsDir()
		if e.Type()&fs.ModeSymlink != 0 {
			if fi, err := os.Stat(p); err == nil {
				isDir = fi.IsDir()
			}
		}
		if isDir {
			c.findKustomizations(root, p, seen, out, depth+1)
		}
	}
}

// offline reports whether n and everything it includes can be built
// without the network or the helm binary.
func (c *collector) offline(n *kustomize.Node, seen map[string]bool) bool {
	if n == nil || seen[n.Dir] {
		return true
	}
	seen[n.Dir] = true
	if len(n.Remote) > 0 || n.Helm || n.Err != nil {
		return false
	}
	for _, d := range n.Dirs {
		if !c.offline(c.graph[filepath.Clean(d)], seen) {
			return false
		}
	}
	return true
}

func (c *collector) markParts(n *kustomize.Node, seen map[string]bool) {
	if n == nil || seen[n.Dir] {
		return
	}
	seen[n.Dir] = true
	c.parts[abs(n.File)] = SkipKustomize
	for _, f := range n.Files {
		c.parts[abs(f)] = SkipKustomize
	}
	for _, d := range n.Dirs {
		c.markParts(c.graph[filepath.Clean(d)], seen)
	}
}

// abs is the key of a path in collector.parts and collector.build.
func abs(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return filepath.Clean(p)
}

// excluded matches opts.Exclude against the path as the user would type
// it (the walked path, root included: "repo/testdata/x.yaml", and its
// absolute form for an absolute pattern), against the path relative to
// the root, and against the base name. "./" in front of a pattern or a
// path does not matter.
func (c *collector) excluded(root, p string) bool {
	if len(c.opts.Exclude) == 0 {
		return false
	}
	rel, err := filepath.Rel(root, p)
	if err != nil {
		rel = p
	}
	rel = filepath.ToSlash(rel)
	typed := path.Clean(filepath.ToSlash(p))
	base := path.Base(rel)
	var absolute string
	for _, pat := range c.opts.Exclude {
		pat = filepath.ToSlash(pat)
		if pat != "./" && pat != "." {
			pat = strings.TrimPrefix(pat, "./")
		}
		pat = strings.TrimSuffix(pat, "/")
		candidates := []string{rel, typed, base}
		if path.IsAbs(pat) {
			if absolute == "" {
				absolute = filepath.ToSlash(abs(p))
			}
			candidates = []string{absolute}
		}
		for _, x := range candidates {
			if m, _ := path.Match(pat, x); m {
				return true
			}
		}
	}
	return false
}
