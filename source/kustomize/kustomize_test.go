package kustomize

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func TestMain(m *testing.M) {
	Child() // Build re-executes this binary for overlays with deprecated fields
	os.Exit(m.Run())
}

// production is an overlay shaped like the common public ones, with
// deprecated fields in it (patchesStrategicMerge, patchesJson6902) and in
// its base (commonLabels).
var production = filepath.Join("..", "testdata", "repo", "deploy", "overlays", "production")

func TestScanFindsDeprecatedFields(t *testing.T) {
	seen := map[string]*Node{}
	Scan(production, seen)
	got := map[string][]string{}
	for d, n := range seen {
		if len(n.Deprecated) > 0 {
			got[filepath.Base(d)] = n.Deprecated
		}
	}
	want := map[string][]string{"production": {"patchesJson6902", "patchesStrategicMerge"}, "base": {"commonLabels"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("deprecated fields %v, want %v", got, want)
	}
}

// TestBuildLeavesStderrAlone builds an overlay with deprecated fields four
// times at once while another goroutine writes to the process's standard
// error, and wants every line that goroutine wrote on standard error,
// once (half of them look like kustomize's deprecation notices, as
// another library's may), no deprecation notice of kustomize's there (the kustomize API prints one per
// deprecated field, in the child, whose standard error is its own), and
// each build's objects equal to those of a build in this process.
func TestBuildLeavesStderrAlone(t *testing.T) {
	want, err := build(production, Options{}) // prints its notices: the reference
	if err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 {
		t.Fatal("the overlay built no objects")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w // this test's own process: it may
	defer func() { os.Stderr = saved }()
	lines := make(chan []string)
	go func() {
		var got []string
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			got = append(got, sc.Text())
		}
		lines <- got
	}()
	var wg sync.WaitGroup
	results := make([][]Resource, 4)
	errs := make([]error, 4)
	var warned []string
	var mu sync.Mutex
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = Build(production, Options{Warn: func(s string) {
				mu.Lock()
				warned = append(warned, s)
				mu.Unlock()
			}})
		}()
	}
	// The writer goes on until the builds are over.
	done, written := make(chan struct{}), make(chan int)
	go func() {
		i := 0
		for ; i < 1<<17; i++ {
			select {
			case <-done:
				written <- i
				return
			default:
			}
			fmt.Fprintln(os.Stderr, mark(i))
		}
		<-done
		written <- i
	}()
	wg.Wait()
	close(done)
	marks := <-written
	os.Stderr = saved
	w.Close()
	got := <-lines
	have := map[string]int{}
	for _, l := range got {
		have[l]++
	}
	for i := range marks {
		if have[mark(i)] != 1 {
			t.Errorf("%q was written once, is there %d times", mark(i), have[mark(i)])
		}
	}
	for _, l := range got {
		if !strings.Contains(l, "mark") {
			t.Errorf("standard error got %q", l)
		}
	}
	if len(got) != marks || marks == 0 {
		t.Errorf("%d lines on standard error, want %d", len(got), marks)
	}
	if len(warned) > 0 {
		t.Errorf("warnings %q", warned)
	}
	for i, res := range results {
		if errs[i] != nil {
			t.Fatalf("build %d: %v", i, errs[i])
		}
		if !reflect.DeepEqual(res, want) {
			t.Errorf("build %d in the child differs from the build in this process", i)
		}
	}
}

// mark is the i-th line the test writes to standard error; every other
// one looks like a deprecation notice of kustomize's.
func mark(i int) string {
	if i%2 == 1 {
		return fmt.Sprintf("# Warning: 'mark%d' is deprecated. Not kustomize's.", i)
	}
	return fmt.Sprintf("mark %d", i)
}
