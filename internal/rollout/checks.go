package rollout

// The operator's checks: the pre-check before each termination and the
// canary's verify and soak, each attempt bounded.

import (
	"context"
	"fmt"
	"strings"

	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/cluster"
)

func (r *roller) preCheck(ctx context.Context, n cluster.Node) error {
	deadline := r.now().Add(r.cfg.Timeout)
	for {
		err := r.bounded(ctx, func(ctx context.Context) error { return r.cfg.PreCheck(ctx, n) })
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.emit(Event{Kind: EventPreCheck, Node: n.ID, Message: fmt.Sprintf("pre-check for node %s failed: %v", n.ID, err)})
		if !r.now().Before(deadline) {
			return &Failure{Kind: PreCheck, Node: n.ID, Detail: fmt.Sprintf("the pre-check did not pass within %s: %v; nothing was terminated", r.cfg.Timeout, err)}
		}
		if err := clock.Sleep(ctx, r.cfg.Clock, r.cfg.Poll.Slow); err != nil {
			return err
		}
	}
}

// bounded runs one attempt of a check with a context that ends after
// CheckTimeout on the roll's clock. A timed-out attempt is a failure; the
// check must return once its context ends (commands run with
// exec.CommandContext do).
func (r *roller) bounded(ctx context.Context, check func(context.Context) error) error {
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	t := r.cfg.Clock.NewTimer(r.cfg.CheckTimeout)
	defer t.Stop()
	done := make(chan error, 1)
	go func() { done <- check(actx) }()
	select {
	case err := <-done:
		return err
	case <-t.C():
		cancel()
		<-done
		return fmt.Errorf("still running after %s: stopped", r.cfg.CheckTimeout)
	}
}

// canary runs Verify after the canary nodes are back (retried until the
// timeout), then soaks.
func (r *roller) canary(ctx context.Context, res *Result) error {
	var nodes []string
	for _, rep := range res.Replaced {
		nodes = append(nodes, rep.Node)
	}
	if r.cfg.Verify != nil {
		deadline := r.now().Add(r.cfg.Timeout)
		for {
			err := r.bounded(ctx, func(ctx context.Context) error { return r.cfg.Verify(ctx, nodes) })
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.emit(Event{Kind: EventVerify, Nodes: nodes, Message: fmt.Sprintf("verify after the canary (%s) failed: %v", strings.Join(nodes, ", "), err)})
			if !r.now().Before(deadline) {
				return &Failure{Kind: Verify, Node: nodes[0], Detail: fmt.Sprintf("the verify command did not pass within %s after the canary node(s) %s were replaced: %v; no other node was touched", r.cfg.Timeout, strings.Join(nodes, ", "), err)}
			}
			if err := clock.Sleep(ctx, r.cfg.Clock, r.cfg.Poll.Slow); err != nil {
				return err
			}
		}
		r.emit(Event{Kind: EventVerify, Nodes: nodes, Message: fmt.Sprintf("verify passed after the canary (%s)", strings.Join(nodes, ", "))})
	}
	if r.cfg.Soak > 0 {
		r.emit(Event{Kind: EventSoak, Nodes: nodes, Message: fmt.Sprintf("soaking the canary for %s", r.cfg.Soak)})
		if err := clock.Sleep(ctx, r.cfg.Clock, r.cfg.Soak); err != nil {
			return err
		}
		// The canary must still serve after the soak, and so must the rest.
		if err := r.sweep(ctx, r.now().Add(r.cfg.Timeout)); err != nil {
			return err
		}
		if out := r.snap.NotServing(); len(out) > 0 {
			return r.lost(ctx, out[0], "left service while the canary soaked")
		}
	}
	return nil
}
