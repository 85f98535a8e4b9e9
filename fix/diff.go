package fix

import (
	"bytes"
	"fmt"
	"strings"
)

// Unified returns a unified diff (the format of `diff -u`, which patch and
// git apply read) turning a into b, with three lines of context; "" when
// they are equal. Lines keep their own line breaks, so CRLF files diff as
// CRLF, and a last line without a break is marked the way diff marks it.
func Unified(aName, bName string, a, b []byte) string {
	if bytes.Equal(a, b) {
		return ""
	}
	al, bl := splitLines(a), splitLines(b)
	ops := myers(al, bl)
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", aName, bName)
	const context = 3
	for i := 0; i < len(ops); {
		// Find the next change.
		for i < len(ops) && ops[i].kind == ' ' {
			i++
		}
		if i == len(ops) {
			break
		}
		start := max(i-context, 0)
		// Extend the hunk while the next change is within 2*context lines.
		end := i
		for j := i; j < len(ops); j++ {
			if ops[j].kind != ' ' {
				end = j + 1
				continue
			}
			if j-end >= 2*context {
				break
			}
		}
		stop := min(end+context, len(ops))
		writeHunk(&out, ops[start:stop], al, bl)
		i = stop
	}
	return out.String()
}

// op is one step of an edit script: ' ' keeps a[a] (= b[b]), '-' deletes
// a[a], '+' inserts b[b].
type op struct {
	kind byte
	a, b int
}

func writeHunk(out *strings.Builder, ops []op, a, b []string) {
	// Line numbers of the hunk's first line in a and in b.
	as, bs := -1, -1
	an, bn := 0, 0
	for _, o := range ops {
		if o.kind != '+' {
			if as < 0 {
				as = o.a
			}
			an++
		}
		if o.kind != '-' {
			if bs < 0 {
				bs = o.b
			}
			bn++
		}
	}
	// An empty side is numbered by the line before it.
	if as < 0 {
		as = ops[0].a
	} else {
		as++
	}
	if bs < 0 {
		bs = ops[0].b
	} else {
		bs++
	}
	fmt.Fprintf(out, "@@ -%s +%s @@\n", hunkRange(as, an), hunkRange(bs, bn))
	for _, o := range ops {
		var line string
		switch o.kind {
		case '+':
			line = b[o.b]
		default:
			line = a[o.a]
		}
		out.WriteByte(o.kind)
		out.WriteString(line)
		if !strings.HasSuffix(line, "\n") {
			out.WriteString("\n\\ No newline at end of file\n")
		}
	}
}

func hunkRange(start, n int) string {
	if n == 1 {
		return fmt.Sprint(start)
	}
	return fmt.Sprintf("%d,%d", start, n)
}

// splitLines splits after each "\n", keeping it.
func splitLines(b []byte) []string {
	var lines []string
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			lines = append(lines, string(b))
			break
		}
		lines = append(lines, string(b[:i+1]))
		b = b[i+1:]
	}
	return lines
}

// myers returns a shortest edit script from a to b (E. Myers, "An O(ND)
// difference algorithm and its variations", 1986), with deletions before
// insertions within a change. Each round keeps only the diagonals it
// reached, so memory grows with the square of the number of differences,
// not of the file.
func myers(a, b []string) []op {
	n, m := len(a), len(b)
	// Common prefix and suffix need no search.
	pre := 0
	for pre < n && pre < m && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < n-pre && suf < m-pre && a[n-1-suf] == b[m-1-suf] {
		suf++
	}
	var ops []op
	for i := 0; i < pre; i++ {
		ops = append(ops, op{' ', i, i})
	}
	ops = append(ops, myersMiddle(a[pre:n-suf], b[pre:m-suf], pre)...)
	for i := suf; i > 0; i-- {
		ops = append(ops, op{' ', n - i, m - i})
	}
	return ops
}

func myersMiddle(a, b []string, off int) []op {
	n, m := len(a), len(b)
	maxD := n + m
	if maxD == 0 {
		return nil
	}
	// v[k+maxD] is the furthest x on diagonal k; trace[d] keeps v's
	// diagonals -d..d as they were before round d.
	v := make([]int, 2*maxD+2)
	var trace [][]int
	var final int
	for d := 0; d <= maxD; d++ {
		lo, hi := maxD-d, maxD+d
		snap := make([]int, hi-lo+3)
		copy(snap, v[max(lo-1, 0):])
		trace = append(trace, snap)
		done := false
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || k != d && v[maxD+k-1] < v[maxD+k+1] {
				x = v[maxD+k+1]
			} else {
				x = v[maxD+k-1] + 1
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x++
				y++
			}
			v[maxD+k] = x
			if x >= n && y >= m {
				done = true
				break
			}
		}
		if done {
			final = d
			break
		}
	}
	// Walk back from (n, m).
	var rev []op
	x, y := n, m
	for d := final; d >= 0; d-- {
		snap := trace[d]
		base := max(maxD-d-1, 0) // v index of snap[0]
		get := func(k int) int { return snap[maxD+k-base] }
		k := x - y
		var pk int
		if k == -d || k != d && get(k-1) < get(k+1) {
			pk = k + 1
		} else {
			pk = k - 1
		}
		px, py := 0, 0
		if d > 0 {
			px = get(pk)
			py = px - pk
		}
		for x > px && y > py {
			rev = append(rev, op{' ', x - 1 + off, y - 1 + off})
			x--
			y--
		}
		if d > 0 {
			if x == px {
				rev = append(rev, op{'+', x + off, y - 1 + off})
			} else {
				rev = append(rev, op{'-', x - 1 + off, y + off})
			}
		}
		x, y = px, py
	}
	ops := make([]op, len(rev))
	for i := range rev {
		ops[i] = rev[len(rev)-1-i]
	}
	return sortChanges(ops)
}

// sortChanges puts the deletions of each run of changes before its
// insertions, as diff -u prints them.
func sortChanges(ops []op) []op {
	for i := 0; i < len(ops); {
		if ops[i].kind == ' ' {
			i++
			continue
		}
		j := i
		for j < len(ops) && ops[j].kind != ' ' {
			j++
		}
		var dels, ins []op
		for _, o := range ops[i:j] {
			if o.kind == '-' {
				dels = append(dels, o)
			} else {
				ins = append(ins, o)
			}
		}
		copy(ops[i:], append(dels, ins...))
		i = j
	}
	return ops
}
