package agent

import "time"

// SetClock sets an agent's clock.
func SetClock(a *Agent, now func() time.Time) {
	a.mu.Lock()
	a.now = now
	a.mu.Unlock()
}
