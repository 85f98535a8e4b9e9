package picture

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/capdrop/capdrop/fleet"
	"github.com/capdrop/capdrop/knowledge"
)

// The page is checked in a real browser: Debian's chromium (scripts/test-env
// installs it), driven over the DevTools protocol. The machine has no
// network, and the page must not want one: every request is recorded and
// only the page's own file may be asked for.

func chromiumPath(t testing.TB) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium installed (scripts/test-env installs it)")
	return ""
}

// session is one browser tab and what it saw.
type session struct {
	ctx      context.Context
	mu       sync.Mutex
	requests []string
	problems []string // console errors and warnings, exceptions, log errors
}

func newSession(t testing.TB, script bool) *session {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("font-render-hinting", "none"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1300),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelC(); cancelA() })
	s := &session{ctx: ctx}
	err := chromedp.Listen(ctx, func(ev any) {
		s.mu.Lock()
		defer s.mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			s.requests = append(s.requests, e.Request.URL)
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning || e.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range e.Args {
					args = append(args, string(a.Value))
				}
				s.problems = append(s.problems, fmt.Sprintf("console.%s: %s", e.Type, strings.Join(args, " ")))
			}
		case *runtime.EventExceptionThrown:
			s.problems = append(s.problems, fmt.Sprintf("exception: %s %s:%d", e.ExceptionDetails.Text, e.ExceptionDetails.URL, e.ExceptionDetails.LineNumber))
		case *log.EventEntryAdded:
			if e.Entry.Level == log.EntryLevelError || e.Entry.Level == log.EntryLevelWarning {
				s.problems = append(s.problems, fmt.Sprintf("log %s: %s %s", e.Entry.Level, e.Entry.Text, e.Entry.URL))
			}
		}
	})
	if err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	for _, e := range []error{
		call(ctx, network.Enable, network.EnableParams{}),
		call(ctx, log.Enable, cdp.Empty{}),
		call(ctx, runtime.Enable, cdp.Empty{}),
		call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: !script}),
		// A headless page has no window focus, so focus() fires no focus
		// event until a key is pressed; a reader's window has it.
		call(ctx, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true}),
	} {
		if e != nil {
			t.Fatalf("set up chromium: %v", e)
		}
	}
	return s
}

// load writes the page for f and opens it from disk.
func (s *session) load(t testing.TB, f *fleet.Fleet, script bool) string {
	t.Helper()
	var buf bytes.Buffer
	if err := HTML(&buf, f, HTMLOptions{Version: "test"}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	url := "file://" + path
	wait := chromedp.WaitReady(chromedp.CSS(`#details`))
	if script {
		wait = chromedp.WaitVisible(chromedp.CSS(`html[data-ready="true"]`))
	}
	if err := chromedp.Do(s.ctx, chromedp.Navigate(url), wait); err != nil {
		t.Fatalf("load %s: %v", url, err)
	}
	return url
}

// check fails the test for any request but the page itself and any
// console error, exception or logged error.
func (s *session) check(t *testing.T, url string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.requests {
		if r != url && !strings.HasPrefix(r, "data:") {
			t.Errorf("the page asked for %s", r)
		}
	}
	if !slices.Contains(s.requests, url) {
		t.Errorf("no request recorded, not even the page's own (%q): the check cannot be trusted", s.requests)
	}
	for _, p := range s.problems {
		t.Errorf("%s", p)
	}
}

func call[P, R any](ctx context.Context, cmd cdp.Command[P, R], p P) error {
	_, err := chromedp.Call(ctx, cmd, p)
	return err
}

// eval runs js in the page and decodes its value into out.
func (s *session) eval(t *testing.T, js string, out any) {
	t.Helper()
	raw, err := chromedp.Run(s.ctx, chromedp.Evaluate[jsontext.Value](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s: %v", js, err)
		}
	}
}

// evalAsync is eval for an expression that gives a promise.
func (s *session) evalAsync(t *testing.T, js string, out any) {
	t.Helper()
	raw, err := chromedp.Run(s.ctx, chromedp.Evaluate[jsontext.Value](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("%s: %v", js, err)
	}
}

// setControl sets a form control and fires the event the page listens to.
func (s *session) setControl(t *testing.T, id, value string) {
	t.Helper()
	js := fmt.Sprintf(`(() => { const el = document.getElementById(%q);
		if (el.type === 'checkbox') el.checked = %q === 'true'; else el.value = %q;
		el.dispatchEvent(new Event('change', {bubbles: true})); return true; })()`, id, value, value)
	var ok bool
	s.eval(t, js, &ok)
}

// shown returns the names of every row the script draws, scrolling
// through them (group headings left out).
func (s *session) shown(t *testing.T) []string {
	var rows []rowCells
	s.evalAsync(t, drawnRows, &rows)
	names := make([]string, len(rows))
	for i, r := range rows {
		names[i] = r.Name
	}
	return names
}

func (s *session) count(t *testing.T) string {
	var text string
	s.eval(t, `document.getElementById('count').textContent`, &text)
	return text
}

// drawnRows scrolls the matrix from top to bottom and returns every row the
// script drew, in order: only the rows in view (and a few more) exist at any
// time.
const drawnRows = `(async () => {
	const sc = document.getElementById('scroller'), seen = new Map(), frame = () => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
	sc.scrollTop = 0; await frame();
	for (;;) {
		for (const tr of document.querySelectorAll('#vrows tr[role=row]')) {
			if (!seen.has(tr.dataset.k)) seen.set(tr.dataset.k, {key: tr.dataset.k, name: tr.querySelector('th').textContent,
				cells: Array.from(tr.querySelectorAll('td')).map(td => [td.classList[0] === 'act' ? td.classList[1] : td.classList[0], td.textContent])});
		}
		if (sc.scrollTop + sc.clientHeight >= sc.scrollHeight - 1) break;
		sc.scrollTop += sc.clientHeight; await frame();
	}
	sc.scrollTop = 0; await frame();
	return Array.from(seen.values());
})()`

// expect are the cells the model says a row has: class and glyph per column.
func expect(f *fleet.Fleet, c *fleet.Container) [][2]string {
	var out [][2]string
	for _, cp := range f.Columns {
		cell := c.Cell(cp)
		cls := "s-" + string(cell.State.Code())
		if cell.State == fleet.None {
			cls = "s-"
		}
		out = append(out, [2]string{cls, Symbol(cell.State)})
	}
	return out
}

type rowCells struct {
	Key   string      `json:"key"`
	Name  string      `json:"name"`
	Cells [][2]string `json:"cells"`
}

// staticRows reads the static matrix (the page without script), which a
// browser running the script keeps unparsed in a noscript element.
const staticRows = `Array.from(new DOMParser().parseFromString(document.getElementById('static').textContent, 'text/html').querySelectorAll('#rows tr')).map(tr => ({
	key: tr.dataset.k, name: tr.querySelector('th').textContent,
	cells: Array.from(tr.querySelectorAll('td')).map(td => [td.classList[0] === 'act' ? td.classList[1] : td.classList[0], td.textContent])}))`

func TestBrowser(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			f := sc.fleet(t)
			s := newSession(t, true)
			url := s.load(t, f, true)
			screenshot(t, s, sc.name, sc.shot) // the page as it opens

			// The static rows (the page without script, and in print) and
			// the rows the script draws hold exactly the model's cells; the
			// static ones in the model's order (riskiest first), the drawn
			// ones in the page's first view (grouped by namespace or host
			// when there are several), then, ungrouped, in the model's order.
			checkRows := func(sel string, ordered bool) {
				t.Helper()
				var got []rowCells
				if sel == "drawn" {
					s.evalAsync(t, drawnRows, &got)
				} else {
					s.eval(t, staticRows, &got)
				}
				if len(got) != len(f.Containers) {
					t.Fatalf("%s: %d rows, want %d", sel, len(got), len(f.Containers))
				}
				byKey := map[string]rowCells{}
				for i, r := range got {
					byKey[r.Key] = r
					if ordered && r.Key != f.Containers[i].Key {
						t.Errorf("%s row %d: %s %q, want %s %q", sel, i, r.Key, r.Name, f.Containers[i].Key, f.Containers[i].Name)
					}
				}
				for _, c := range f.Containers {
					r := byKey[c.Key]
					if r.Name != c.Name {
						t.Errorf("%s %s: named %q, want %q", sel, c.Key, r.Name, c.Name)
					}
					if want := expect(f, c); !slices.Equal(r.Cells, want) {
						t.Errorf("%s %s: cells\n%v\nwant\n%v", sel, c.Name, r.Cells, want)
					}
				}
			}
			checkRows("static", true)
			checkRows("drawn", false)
			s.setControl(t, "group", "")
			checkRows("drawn", true)
			if got, want := s.count(t), fmt.Sprintf("showing %d of %d containers", len(f.Containers), len(f.Containers)); got != want {
				t.Errorf("count %q, want %q", got, want)
			}

			// The before/after table counts the model's cells: what each
			// container held before the change, holds now, and would hold
			// if it kept only what its profile or verify result says it
			// needs.
			var change [][]string
			s.eval(t, `Array.from(document.querySelectorAll('#change tbody tr')).map(tr => Array.from(tr.children).map(c => c.textContent.trim()))`, &change)
			if want := changeRows(f); !slices.EqualFunc(change, want, slices.Equal) {
				t.Errorf("before and after: %q, want %q", change, want)
			}
			var labels []string
			for _, r := range change {
				labels = append(labels, r[0])
			}
			if !slices.Equal(labels, sc.change) {
				t.Errorf("before and after: rows %q, want %q", labels, sc.change)
			}

			// Each filter shows exactly the rows the model says it should.
			filters := []struct {
				control, value string
				keep           func(*fleet.Container) bool
			}{
				{"unused", "true", func(c *fleet.Container) bool { return countState(f, c, fleet.Unused) > 0 }},
				{"risk", "4", func(c *fleet.Container) bool { return maxHeld(f, c) >= knowledge.Critical }},
				{"cap", "0", func(c *fleet.Container) bool { return c.Cell(f.Columns[0]).State != fleet.None }},
				{"q", strings.ToUpper(f.Containers[len(f.Containers)-1].Name[:3]), func(c *fleet.Container) bool {
					needle := strings.ToLower(f.Containers[len(f.Containers)-1].Name[:3])
					hay := strings.ToLower(c.Name + " " + c.Image + " " + strings.Join(groupValues(f, c), " "))
					return strings.Contains(hay, needle)
				}},
			}
			for _, fl := range filters {
				s.setControl(t, fl.control, fl.value)
				var want []string
				for _, c := range f.Containers {
					if fl.keep(c) {
						want = append(want, c.Name)
					}
				}
				got := s.shown(t)
				if !slices.Equal(got, want) {
					t.Errorf("filter %s=%s: rows %q, want %q", fl.control, fl.value, got, want)
				}
				reset := map[string]string{"unused": "false", "risk": "0", "cap": "", "q": ""}[fl.control]
				s.setControl(t, fl.control, reset)
			}
			if got := len(s.shown(t)); got != len(f.Containers) {
				t.Errorf("after clearing the filters: %d rows, want %d", got, len(f.Containers))
			}

			// Sorting by name.
			s.setControl(t, "sort", "name")
			var names []string
			for _, c := range f.Containers {
				names = append(names, c.Name)
			}
			slices.Sort(names)
			if got := s.shown(t); !slices.Equal(got, names) {
				t.Errorf("sorted by name: %q, want %q", got, names)
			}
			s.setControl(t, "sort", "risk")

			// The keyboard (see checkKeyboard).
			checkKeyboard(t, s, f)

			// Grouping: one heading per group, in the group's order.
			if dims := f.GroupedBy(); len(dims) > 0 {
				s.setControl(t, "group", dims[0])
				var heads []string
				s.eval(t, `Array.from(document.querySelectorAll('#vrows tr.grp th')).map(th => th.firstChild.textContent.trim())`, &heads)
				want := map[string]bool{}
				for _, c := range f.Containers {
					v := c.Group.Get(dims[0])
					if v == "" {
						v = "(none)"
					}
					want[v] = true
				}
				if len(heads) != len(want) {
					t.Errorf("group by %s: headings %q, want one per value of %v", dims[0], heads, want)
				}
				s.setControl(t, "group", "")
			}
			// Printing (with the script) prints the static page: every row
			// and every container's details.
			if err := call(s.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"}); err != nil {
				t.Fatal(err)
			}
			var pr struct {
				Rows, Details int
				Shown, Matrix bool
			}
			s.eval(t, `window.dispatchEvent(new Event('beforeprint')), ({Rows: document.querySelectorAll('#print #rows tr').length,
				Details: document.querySelectorAll('#print article').length,
				Shown: getComputedStyle(document.getElementById('print')).display !== 'none',
				Matrix: getComputedStyle(document.getElementById('scroller')).display !== 'none'})`, &pr)
			if pr.Rows != len(f.Containers) || pr.Details != len(f.Containers) || !pr.Shown || pr.Matrix {
				t.Errorf("print: %+v, want %d rows and details shown, the scripted matrix hidden", pr, len(f.Containers))
			}
			s.eval(t, `window.dispatchEvent(new Event('afterprint')), true`, nil)
			if err := call(s.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{}); err != nil {
				t.Fatal(err)
			}
			s.check(t, url)
		})
	}
}

// TestBrowserNoScript: without JavaScript the page is complete and
// readable: the static matrix and every container's details are shown,
// the controls (which would not work) are not.
func TestBrowserNoScript(t *testing.T) {
	sc := scenarios[0]
	f := sc.fleet(t)
	s := newSession(t, false)
	url := s.load(t, f, false)
	var st struct {
		Rows     int  `json:"rows"`
		Shown    bool `json:"shown"`
		Details  int  `json:"details"`
		Visible  bool `json:"visible"`
		Controls bool `json:"controls"`
	}
	// Evaluate runs even with page scripts disabled.
	s.eval(t, `({rows: document.querySelectorAll('#rows tr').length,
		shown: getComputedStyle(document.getElementById('rows')).display !== 'none',
		details: document.querySelectorAll('#details article').length,
		visible: getComputedStyle(document.getElementById('details')).display !== 'none',
		controls: getComputedStyle(document.getElementById('controls')).display !== 'none'})`, &st)
	if st.Rows != len(f.Containers) || !st.Shown || st.Details != len(f.Containers) || !st.Visible || st.Controls {
		t.Errorf("without script: %+v, want %d rows and details shown, no controls", st, len(f.Containers))
	}
	s.check(t, url)
}

// checkKeyboard drives the matrix from the keyboard alone, the rows
// ungrouped in the model's order: Tab's focus lands on the first row's
// name, arrows, Home and End (Ctrl for the first and last row), Page Down
// move the active cell, which is always the one the screen reader is told
// of (aria-activedescendant) and says the model's cell; Enter and Space
// open the active row's details, Escape closes them and gives the focus
// back to the matrix, "/" goes to the search.
func checkKeyboard(t *testing.T, s *session, f *fleet.Fleet) {
	t.Helper()
	type active struct {
		Pos     int    `json:"pos"`
		Key     string `json:"key"`
		Col     int    `json:"col"`
		Text    string `json:"text"`
		Label   string `json:"label"`
		Desc    string `json:"desc"`
		Focused string `json:"focused"`
	}
	last, lastCol := len(f.Containers)-1, len(f.Columns)-1
	step := func(what string, keys []chromedp.Action[chromedp.Void], row, col int) active {
		t.Helper()
		if err := chromedp.Do(s.ctx, keys...); err != nil {
			t.Fatalf("keyboard %s: %v", what, err)
		}
		var a active
		s.eval(t, `(() => { const a = document.getElementById('act'), tr = a && a.closest('tr');
			return {pos: tr ? +tr.dataset.p : -1, key: tr ? tr.dataset.k : '', col: a ? (a.tagName === 'TH' ? -1 : a.cellIndex - 1) : -2,
				text: a ? a.textContent : '', label: a ? (a.getAttribute('aria-label') || '') : '',
				desc: document.getElementById('scroller').getAttribute('aria-activedescendant') || '',
				focused: document.activeElement.id}; })()`, &a)
		if row >= 0 && (a.Pos != row || a.Key != f.Containers[row].Key || a.Col != col) {
			t.Errorf("keyboard %s: active cell row %d %s column %d, want row %d %s column %d", what, a.Pos, a.Key, a.Col, row, f.Containers[row].Key, col)
		}
		if a.Desc != "act" || a.Focused != "scroller" {
			t.Errorf("keyboard %s: aria-activedescendant %q, focus on %q; want act, scroller", what, a.Desc, a.Focused)
		}
		if a.Col >= 0 && a.Pos >= 0 && a.Pos <= last {
			cp := f.Columns[a.Col]
			st := f.Containers[a.Pos].Cell(cp).State
			if a.Text != Symbol(st) || !strings.HasPrefix(a.Label, cp.Short()+": ") {
				t.Errorf("keyboard %s: the active cell says %q (%q), want %q for %s", what, a.Text, a.Label, Symbol(st), cp.Short())
			}
		}
		return a
	}
	key := func(k string, m ...chromedp.Modifier) chromedp.Action[chromedp.Void] {
		if len(m) > 0 {
			return chromedp.KeyEvent(k, chromedp.KeyModifiers(m...))
		}
		return chromedp.KeyEvent(k)
	}
	step("focus", []chromedp.Action[chromedp.Void]{chromedp.Focus(chromedp.CSS("#scroller"))}, 0, -1)
	step("down, right", []chromedp.Action[chromedp.Void]{key(kb.ArrowDown), key(kb.ArrowRight)}, min(1, last), 0)
	step("End", []chromedp.Action[chromedp.Void]{key(kb.End)}, min(1, last), lastCol)
	step("left", []chromedp.Action[chromedp.Void]{key(kb.ArrowLeft)}, min(1, last), max(lastCol-1, 0))
	step("Home", []chromedp.Action[chromedp.Void]{key(kb.Home)}, min(1, last), -1)
	step("Ctrl+End", []chromedp.Action[chromedp.Void]{key(kb.End, chromedp.ModifierCtrl)}, last, lastCol)
	step("Ctrl+Home", []chromedp.Action[chromedp.Void]{key(kb.Home, chromedp.ModifierCtrl)}, 0, -1)
	if a := step("Page Down", []chromedp.Action[chromedp.Void]{key(kb.PageDown)}, -1, 0); a.Pos < min(1, last) || a.Col != -1 || a.Key != f.Containers[max(a.Pos, 0)].Key {
		t.Errorf("Page Down: active row %d %s column %d", a.Pos, a.Key, a.Col)
	}
	step("Page Up", []chromedp.Action[chromedp.Void]{key(kb.PageUp)}, 0, -1)

	openWith := func(what string, k string, want *fleet.Container) {
		t.Helper()
		if err := chromedp.Do(s.ctx, key(k)); err != nil {
			t.Fatal(err)
		}
		var panel string
		s.eval(t, `(document.querySelector('#panel.open h3') || {}).textContent || ''`, &panel)
		if panel != want.Name {
			t.Errorf("%s opened %q, want %q", what, panel, want.Name)
		}
		step("Escape after "+what, []chromedp.Action[chromedp.Void]{key(kb.Escape)}, -1, 0)
		var open bool
		s.eval(t, `document.getElementById('panel').classList.contains('open')`, &open)
		if open {
			t.Errorf("Escape left the details open")
		}
	}
	openWith("Space on the first row", " ", f.Containers[0])
	step("down", []chromedp.Action[chromedp.Void]{key(kb.ArrowDown)}, min(1, last), -1)
	openWith("Enter on the second row", kb.Enter, f.Containers[min(1, last)])

	var focused string
	if err := chromedp.Do(s.ctx, key("/")); err != nil {
		t.Fatal(err)
	}
	s.eval(t, `document.activeElement.id`, &focused)
	if focused != "q" {
		t.Errorf(`"/" focused %q, want the search`, focused)
	}
	// (The protocol's key event types the "/" in the search too, which a
	// browser does not after the page's preventDefault: clear it.)
	s.eval(t, `document.activeElement.blur(), true`, nil)
	s.setControl(t, "q", "")
}

// changeRows counts, from the model's cells, the grants (and those of a
// critical or high capability) before the change, now, and after the
// recommendations: the rows the before/after table must show.
func changeRows(f *fleet.Fleet) [][]string {
	var before, now, after [2]int
	known := false
	for _, c := range f.Containers {
		rec, ok := c.Recommended()
		known = known || ok
		for _, cp := range f.Columns {
			risky := 0
			if fleet.Risk(cp) >= knowledge.High {
				risky = 1
			}
			if c.Before != nil && c.Before.Has(cp) {
				before[0]++
				before[1] += risky
			}
			if !c.Cell(cp).State.Holds() {
				continue
			}
			now[0]++
			now[1] += risky
			if !ok || rec.Has(cp) {
				after[0]++
				after[1] += risky
			}
		}
	}
	row := func(label string, n [2]int) []string {
		return []string{label, fmt.Sprint(n[0]), fmt.Sprint(n[1])}
	}
	var out [][]string
	if f.HasBefore {
		out = append(out, row("before the change", before))
	}
	if known && after != now {
		out = append(out, row("now", now), row("after the recommendations", after))
	} else if f.HasBefore {
		out = append(out, row("now", now))
	}
	return out
}

func countState(f *fleet.Fleet, c *fleet.Container, st fleet.State) int {
	n := 0
	for _, cp := range f.Columns {
		if c.Cell(cp).State == st {
			n++
		}
	}
	return n
}

func maxHeld(f *fleet.Fleet, c *fleet.Container) knowledge.Risk {
	r := knowledge.RiskUnset
	for _, cp := range f.Columns {
		if c.Cell(cp).State.Holds() {
			r = max(r, fleet.Risk(cp))
		}
	}
	return r
}

func groupValues(f *fleet.Fleet, c *fleet.Container) []string {
	var out []string
	for _, d := range f.GroupedBy() {
		out = append(out, c.Group.Get(d))
	}
	return out
}

// screenshot compares the viewport with testdata/NAME.png: at most 1% of
// the pixels may differ noticeably (font rasterisation varies a little
// between builds). -update rewrites it.
func screenshot(t *testing.T, s *session, name, path string) {
	t.Helper()
	s.eval(t, `window.scrollTo(0, 0), true`, nil)
	shot, err := chromedp.Run(s.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if path == "" {
		path = filepath.Join("testdata", name+".png")
	}
	if *update {
		if err := os.WriteFile(path, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	wantData, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./picture -run TestBrowser -update writes it)", err)
	}
	got, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	want, err := png.Decode(bytes.NewReader(wantData))
	if err != nil {
		t.Fatal(err)
	}
	if diff := pixelDiff(got, want); diff > 0.01 {
		out := filepath.Join(t.TempDir(), name+".png")
		os.WriteFile(out, shot, 0o644)
		t.Errorf("screenshot differs from %s in %.2f%% of its pixels (now: %s; -update to accept)", path, 100*diff, out)
	}
}

// pixelDiff is the fraction of pixels whose colour differs by more than a
// small amount in any channel; 1 when the sizes differ.
func pixelDiff(a, b image.Image) float64 {
	if a.Bounds() != b.Bounds() {
		return 1
	}
	r := a.Bounds()
	differ := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			r1, g1, b1, _ := a.At(x, y).RGBA()
			r2, g2, b2, _ := b.At(x, y).RGBA()
			if absDiff(r1, r2) > 0x1800 || absDiff(g1, g2) > 0x1800 || absDiff(b1, b2) > 0x1800 {
				differ++
			}
		}
	}
	return float64(differ) / float64(r.Dx()*r.Dy())
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}
