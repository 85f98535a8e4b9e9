package source

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"syscall"

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

// Collect reads every path: files, directories (walked recursively,
// honouring opts.Exclude and SkipDirs, following symbolic links with loop
// detection) and "-" for standard input. It never stops at a bad file:
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
// Workloads come in path order (directory entries sorted by name).
func Collect(paths []string, opts Options) Result {
	c := &collector{opts: opts, max: opts.MaxFileSize, dotenv: map[string]map[string]string{},
		sem: make(chan struct{}, runtime.GOMAXPROCS(0))}
	if c.max <= 0 {
		c.max = DefaultMaxFileSize
	}
	c.res = c.slot()
	for _, p := range paths {
		if p == Stdin {
			c.stdin()
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			c.fail(p, describe(err))
			continue
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
	c.wg.Wait()
	var out Result
	for _, r := range c.slots {
		out.Workloads = append(out.Workloads, r.Workloads...)
		out.Errors = append(out.Errors, r.Errors...)
		out.Files += r.Files
		out.Skipped += r.Skipped
	}
	return out
}

// collector walks sequentially and reads and parses files in parallel. Each
// file gets its own Result slot, in walk order, so the merged result is in
// path order whatever the scheduling; c.res is the slot the walk itself
// records into (errors about directories, skipped files), renewed after
// every file handed to a worker.
type collector struct {
	opts  Options
	max   int64
	res   *Result
	slots []*Result
	sem   chan struct{} // bounds the files being read and parsed at once
	wg    sync.WaitGroup

	mu     sync.Mutex // guards dotenv
	dotenv map[string]map[string]string
}

func (c *collector) slot() *Result {
	r := &Result{}
	c.slots = append(c.slots, r)
	return r
}

func (c *collector) fail(file string, err error) { fail(c.res, file, err) }

func fail(r *Result, file string, err error) {
	r.Errors = append(r.Errors, &workload.Error{Pos: workload.Position{File: file}, Err: err})
}

// describe turns a file system error into a short message.
func describe(err error) error {
	switch {
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

func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return m.Type().String()
}

func (c *collector) stdin() {
	c.res.Files++
	data, err := io.ReadAll(io.LimitReader(os.Stdin, c.max+1))
	if err != nil {
		c.fail(StdinName, fmt.Errorf("cannot read standard input: %w", err))
		return
	}
	if int64(len(data)) > c.max {
		c.fail(StdinName, fmt.Errorf("input too large: more than %d bytes (the limit)", c.max))
		return
	}
	c.parse(c.res, StdinName, data, true)
}

// parse records what one file holds into r.
func (c *collector) parse(r *Result, name string, data []byte, explicit bool) {
	ws, errs, known := parse(name, data, c.opts, c.readDotEnv, Unknown)
	if !known && name == StdinName && len(data) > 0 {
		// Anything else piped in is read as shell: a run line on its own.
		ws, errs, known = parse(name, data, c.opts, c.readDotEnv, Script)
	}
	if !known {
		r.Skipped++
		if explicit {
			fail(r, name, ErrUnknownFormat)
		}
		return
	}
	r.Workloads = append(r.Workloads, ws...)
	r.Errors = append(r.Errors, errs...)
}

func (c *collector) readDotEnv(dir string) map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if env, ok := c.dotenv[dir]; ok {
		return env
	}
	env := readDotEnv(dir)
	c.dotenv[dir] = env
	return env
}

// file reads one regular file on a worker, into a slot of its own. Walked
// files (explicit false) are chosen by name or #! line first.
func (c *collector) file(p string, fi fs.FileInfo, explicit bool) {
	r := c.slot()
	c.res = c.slot()
	c.sem <- struct{}{}
	c.wg.Add(1)
	go func() {
		defer func() { <-c.sem; c.wg.Done() }()
		c.read(r, p, fi, explicit)
	}()
}

func (c *collector) read(r *Result, p string, fi fs.FileInfo, explicit bool) {
	r.Files++
	byName := DetectName(p) != Unknown
	if !explicit && !byName && !c.shebang(p) {
		r.Skipped++
		return
	}
	if fi.Size() > c.max {
		fail(r, p, fmt.Errorf("file too large: %d bytes (limit %d)", fi.Size(), c.max))
		return
	}
	f, err := os.Open(p)
	if err != nil {
		fail(r, p, describe(err))
		return
	}
	data, err := io.ReadAll(io.LimitReader(f, c.max+1))
	f.Close()
	if err != nil {
		fail(r, p, describe(err))
		return
	}
	if int64(len(data)) > c.max {
		fail(r, p, fmt.Errorf("file too large: more than %d bytes (limit)", c.max))
		return
	}
	if !explicit && !byName && isBinary(data) {
		r.Skipped++
		return
	}
	c.parse(r, p, data, explicit)
}

// shebang reads the start of a file for a shell #! line.
func (c *collector) shebang(p string) bool {
	f, err := os.Open(p)
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
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if c.excluded(root, p) {
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
			c.res.Skipped++ // FIFOs, sockets, devices: never opened
		}
	}
}

// excluded matches opts.Exclude against the path relative to the root and
// against the base name.
func (c *collector) excluded(root, p string) bool {
	if len(c.opts.Exclude) == 0 {
		return false
	}
	rel, err := filepath.Rel(root, p)
	if err != nil {
		rel = p
	}
	rel = filepath.ToSlash(rel)
	base := path.Base(rel)
	for _, pat := range c.opts.Exclude {
		if m, _ := path.Match(pat, rel); m {
			return true
		}
		if m, _ := path.Match(pat, base); m {
			return true
		}
	}
	return false
}
