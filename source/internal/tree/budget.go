package tree

import (
	"fmt"
	"sync/atomic"

	"go.yaml.in/yaml/v3"
)

// Budgets. Walking an honest document costs a bounded number of visits
// per node of its text; aliases and merges are what multiply it. So each
// document may spend PerNode visits for every node its text holds, then
// draw on a pool its file shares (FilePool visits) and then on one the
// whole run shares (DefaultAllowance). An alias bomb ends in a
// *BudgetError naming all three, and the documents after it are still
// read with their own budgets; a stream of small bombs, in one file or in
// many, costs no more than its size times PerNode plus the pools.
const (
	PerNode  = 64
	FilePool = 1 << 20
	// DefaultAllowance is a run's shared pool.
	DefaultAllowance = 4 << 20
)

// Allowance is a pool of visits, safe for concurrent use by the budgets
// of documents and files parsed in parallel.
type Allowance struct {
	left  atomic.Int64
	limit int64
}

// NewAllowance returns a pool of n visits (DefaultAllowance if n <= 0).
func NewAllowance(n int64) *Allowance {
	if n <= 0 {
		n = DefaultAllowance
	}
	a := &Allowance{limit: n}
	a.left.Store(n)
	return a
}

// draw takes n visits from the pool, all or none.
func (a *Allowance) draw(n int64) bool {
	if a.left.Add(-n) >= 0 {
		return true
	}
	a.left.Add(n)
	return false
}

// Budget is what the walks of one document may spend.
type Budget struct {
	left  int64
	nodes int64
	limit int64
	file  *Allowance
	run   *Allowance
	err   *BudgetError
}

// BudgetError says a document needed more work than its budget and the
// pools: almost always an alias or merge bomb. It wraps ErrBudget.
type BudgetError struct {
	// Limit is the document's own budget and Nodes the nodes of its
	// text; File and Run are the pools it drew on (0 when none).
	Limit, Nodes, File, Run int64
}

func (e *BudgetError) Error() string {
	s := fmt.Sprintf("document too complex: alias/merge expansion budget exceeded: it needs more than its budget of %d node visits (%d per node of its %d nodes)",
		e.Limit, PerNode, e.Nodes)
	if e.File > 0 {
		s += fmt.Sprintf(", the %d its file shares", e.File)
	}
	if e.Run > 0 {
		s += fmt.Sprintf(" and the %d the whole run shares", e.Run)
	}
	return s + ": an alias bomb?"
}

// Unwrap makes errors.Is(err, ErrBudget) true.
func (e *BudgetError) Unwrap() error { return ErrBudget }

// NewBudget returns a budget for a document whose text holds nodes nodes,
// drawing on file (which may be nil) when its own visits are spent.
func NewBudget(nodes int64, file *Allowance) *Budget {
	limit := PerNode * nodes
	return &Budget{left: limit, nodes: nodes, limit: limit, file: file}
}

// Err is the budget's error once it is spent, nil before.
func (b *Budget) Err() error {
	if b == nil || b.err == nil {
		return nil
	}
	return b.err
}

// Share makes the budget draw on run once its own visits and its file's
// pool are spent.
func (b *Budget) Share(run *Allowance) {
	if b != nil {
		b.run = run
	}
}

func (b *Budget) spend(n int) bool {
	if b.err != nil {
		return false
	}
	b.left -= int64(n)
	if b.left >= 0 {
		return true
	}
	need := -b.left
	for _, pool := range []*Allowance{b.file, b.run} {
		if pool != nil && pool.draw(need) {
			b.left = 0
			return true
		}
	}
	e := &BudgetError{Limit: b.limit, Nodes: b.nodes}
	if b.file != nil {
		e.File = b.file.limit
	}
	if b.run != nil {
		e.Run = b.run.limit
	}
	b.err = e
	return false
}

// Walker returns a walker that spends from b; b nil means a fresh
// budget of DefaultBudget visits.
func (b *Budget) Walker() *Walker {
	if b == nil {
		return NewWalker(0)
	}
	return &Walker{b: b}
}

// countNodes counts the nodes of a parsed text, aliases not followed (an
// alias names its anchor through Alias, never Content): what the text
// itself holds.
func countNodes(root *yaml.Node) int64 {
	var n int64
	stack := []*yaml.Node{root}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if x == nil {
			continue
		}
		n++
		if x.Kind != yaml.AliasNode {
			stack = append(stack, x.Content...)
		}
	}
	return n
}

// budgetFor gives every document of a file its budget, all drawing on one
// pool for the file.
func budgetFor(docs []Doc) {
	pool := NewAllowance(FilePool)
	for i := range docs {
		docs[i].Budget = NewBudget(countNodes(docs[i].Root), pool)
	}
}
