package rollout

// Pacing: how often the roll looks, its backoff, and the pace of its
// own writes.

import (
	"context"
	"time"

	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/clock"
)

// Poll sets how often the roll looks. It polls every Fast while it has no
// idea how long a replacement takes; once one replacement has finished it
// sleeps through most of the expected time (halving the remainder, never
// longer than Slow) and polls every Fast around the expected end. Under
// throttling it backs off from Fast up to Slow.
//
// Between looks at the whole cluster it reads only the nodes it is
// replacing. It reads the whole cluster (every group, joined with EC2's
// instances and volumes) right before it starts a replacement and at least
// every Check.
type Poll struct {
	Fast, Slow, Check time.Duration
}

// DefaultPace lets the roll write to Auto Scaling in bursts of 100, then
// 20 calls a second: EC2's documented bucket for Describe calls, the
// nearest published figure (AWS publishes none for Auto Scaling).
func DefaultPace(c clock.Clock) *awsapi.Bucket {
	return &awsapi.Bucket{Clock: c, Rate: 20, Burst: 100}
}

// DefaultPoll detects a replacement within a second.
func DefaultPoll() Poll {
	return Poll{Fast: time.Second, Slow: 15 * time.Second, Check: time.Minute}
}

func (r *roller) sleepBackoff(ctx context.Context) error {
	r.backoff = max(r.cfg.Poll.Fast, min(2*r.backoff, r.cfg.Poll.Slow))
	return clock.Sleep(ctx, r.cfg.Clock, r.backoff)
}

// interval is the next poll's delay. Until a replacement (or an ENI
// release) has been timed it polls every Fast. After that it sleeps
// straight to the expected end (the shortest seen, as detected, so never
// earlier than a poll would have found it; at most Check, when the whole
// cluster is looked at anyway), then polls every Fast, backing off by half
// the overrun up to Slow: a replacement costs a few looks, however long it
// takes.
func (r *roller) interval() time.Duration {
	p := r.cfg.Poll
	if len(r.inFlight) == 0 {
		return p.Fast
	}
	next := p.Check
	for _, id := range r.inFlight {
		f := r.flights[id]
		expected := r.expected
		if !f.resumed {
			expected = r.expectedRelease
		}
		if expected == 0 {
			return p.Fast
		}
		elapsed := r.now().Sub(f.start)
		if wait := expected - elapsed; wait > 0 {
			next = min(next, wait)
		} else {
			next = min(next, max(p.Fast, min((elapsed-expected)/2, p.Slow)))
		}
	}
	return max(p.Fast, next)
}
