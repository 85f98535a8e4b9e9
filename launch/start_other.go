//go:build !linux

package launch

// Prepare needs Linux.
func Prepare(req Request) (*Plan, error) { return nil, ErrUnsupported }

// Start needs Linux.
func (p *Plan) Start(o Options) (*Process, error) { return nil, ErrUnsupported }

// Init does nothing where launching is not possible; main calls it on
// every platform.
func Init() { hooked.Store(true) }
