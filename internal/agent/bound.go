package agent

import (
	"context"
	"fmt"
	"time"
)

// bounded runs f under a deadline on the agent's clock. Heartbeats keep the
// launch hook alive while bootstrap runs, so a step that never returns (a
// device that stops answering under mkfs or mount, an SSM call that hangs)
// would otherwise hold the instance in Pending:Wait for ever; bounded, it
// fails, and the failure path abandons the launch.
func (a *Agent) bounded(d time.Duration, f func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		t := a.d.Clock.NewTimer(d)
		defer t.Stop()
		done := make(chan error, 1)
		go func() { done <- f(ctx) }()
		select {
		case err := <-done:
			return err
		case <-t.C():
			cancel() // commands started with ctx are killed
			return fmt.Errorf("did not finish within %s", d)
		}
	}
}
