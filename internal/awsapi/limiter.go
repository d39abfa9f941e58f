package awsapi

import (
	"context"
	"sync"
	"time"

	"github.com/stateful-aws/stateful/internal/clock"
)

// Limiter spaces API calls at least Every apart, on an injected clock, so a
// tool polling a large cluster never bursts at AWS's rate limits.
type Limiter struct {
	Clock clock.Clock
	Every time.Duration

	mu   sync.Mutex
	next time.Time
}

// Wait blocks until the next call may go.
func (l *Limiter) Wait(ctx context.Context) error {
	if l == nil || l.Every <= 0 {
		return ctx.Err()
	}
	l.mu.Lock()
	now := l.Clock.Now()
	at := l.next
	if at.Before(now) {
		at = now
	}
	l.next = at.Add(l.Every)
	l.mu.Unlock()
	return clock.Sleep(ctx, l.Clock, at.Sub(now))
}
