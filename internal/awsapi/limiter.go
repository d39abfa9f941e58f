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

// Bucket is a token bucket on an injected clock: up to Burst calls at
// once, then Rate calls a second. A nil Bucket or a Rate of 0 never waits.
type Bucket struct {
	Clock clock.Clock
	Rate  float64 // calls a second
	Burst int

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// Wait blocks until the next call may go. Callers queue in arrival order:
// each takes a token, possibly ahead of its refill, and waits for it.
func (b *Bucket) Wait(ctx context.Context) error {
	if b == nil || b.Rate <= 0 {
		return ctx.Err()
	}
	b.mu.Lock()
	now := b.Clock.Now()
	if b.last.IsZero() {
		b.tokens = float64(max(1, b.Burst))
	} else {
		b.tokens = min(float64(max(1, b.Burst)), b.tokens+now.Sub(b.last).Seconds()*b.Rate)
	}
	b.last = now
	b.tokens--
	wait := time.Duration(0)
	if b.tokens < 0 {
		wait = time.Duration(-b.tokens / b.Rate * float64(time.Second))
	}
	b.mu.Unlock()
	return clock.Sleep(ctx, b.Clock, wait)
}
