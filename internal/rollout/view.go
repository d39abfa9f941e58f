package rollout

// The roll's view of the cluster: how it reads (inventory.Observe, the
// one view), how fresh a view must be to act on, and retries of reads.

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/cluster"
	"github.com/stateful-aws/stateful/internal/inventory"
)

// sweep reads the whole cluster (the one view), riding out throttling and transient errors
// with backoff until the deadline.
func (r *roller) sweep(ctx context.Context, deadline time.Time) error {
	if err := r.retry(ctx, deadline, func() error {
		start := r.now()
		s, err := r.observeAll(ctx, inventory.Groups)
		r.sweepTook = r.now().Sub(start)
		if err == nil {
			r.snap = s
		}
		return err
	}); err != nil {
		return err
	}
	return r.checkNodeSet()
}

// checkNodeSet stops the roll when the cluster it sees is not the one it
// started with, or not one it can manage: a node gone from the look (its
// group deleted, or its cluster tag removed), a node id claimed by two
// groups, a group with a launch configuration or a mixed instances policy.
func (r *roller) checkNodeSet() error {
	if p := r.snap.Problems(); len(p) > 0 {
		return &Failure{Kind: Refused, Detail: strings.Join(p, "; ") + "; the roll stops (nothing further is terminated)"}
	}
	if r.pinned == nil {
		r.pinned = map[string]string{}
		r.app.first = r.snap
		for _, n := range r.snap.Nodes {
			r.pinned[n.ID] = n.Group
		}
		return nil
	}
	for _, id := range slices.Sorted(maps.Keys(r.pinned)) {
		if _, ok := r.snap.Node(id); !ok {
			return &Failure{Kind: NodeLost, Node: id, Detail: fmt.Sprintf("its group %s left the cluster during the roll (deleted, or its %s tag removed); the roll stops (nothing further is terminated)",
				r.pinned[id], cluster.TagCluster)}
		}
	}
	return nil
}

// observeAll reads the one view: every group of the cluster joined with
// EC2's view of its instances and volumes (inventory.Observe).
func (r *roller) observeAll(ctx context.Context, depth inventory.Depth) (cluster.Snapshot, error) {
	prev := r.snap
	return r.cfg.Inventory.Observe(ctx, r.cfg.Selector, depth, &prev)
}

// refresh brings the roll's view of the whole cluster up to now by reading
// all of it. There is no cheaper proof that nothing changed: the account's
// scaling activities carry AWS's timestamps, which cannot be compared with
// the runner's clock, and lag like every other read.
func (r *roller) refresh(ctx context.Context, deadline time.Time) error {
	return r.sweep(ctx, deadline)
}

// retry runs f until it succeeds, a non-transient error, or the deadline,
// backing off on throttling without losing the roll's place.
func (r *roller) retry(ctx context.Context, deadline time.Time, f func() error) error {
	for {
		err := f()
		if err == nil {
			r.backoff = 0
			return nil
		}
		if !awsapi.Transient(err) || !r.now().Before(deadline) {
			return err
		}
		if err := r.sleepBackoff(ctx); err != nil {
			return err
		}
	}
}

// look reads what the roll is waiting for as cheaply as it can: the ENIs
// of nodes whose old instance may still hold them, the groups of nodes
// coming back, and the whole cluster when the view's oldest fact is older
// than Poll.Check (or that costs no more than the partial read).
func (r *roller) look(ctx context.Context) error {
	deadline := r.now().Add(r.cfg.Timeout)
	var enis, groups []string
	for _, id := range r.inFlight {
		f := r.flights[id]
		if !f.resumed && f.node.ENI != "" {
			enis = append(enis, f.node.ENI)
		} else {
			groups = append(groups, f.node.Group)
		}
	}
	if len(enis) > 0 {
		var status map[string]string
		if err := r.retry(ctx, deadline, func() (err error) {
			status, err = r.cfg.Inventory.ENIStatus(ctx, enis)
			return err
		}); err != nil {
			return err
		}
		at := r.now()
		for i := range r.snap.Nodes {
			if st, ok := status[r.snap.Nodes[i].ENI]; ok {
				r.snap.Nodes[i].ENIStatus, r.snap.Nodes[i].ENISeen = st, at
			}
		}
	}
	pages := (len(r.snap.Nodes) + 99) / 100
	if pages == 1 || (len(groups)+49)/50 >= pages || len(groups) == 0 && len(enis) == 0 || r.now().Sub(r.snap.ReadAt()) >= r.cfg.Poll.Check {
		// Reading every group costs one call (up to 100 nodes) or no more
		// than reading those in flight, or nothing is in flight (waiting
		// for nodes the roll did not take out): read them all, and notice
		// at once a node lost elsewhere.
		return r.sweep(ctx, deadline)
	}
	if len(groups) > 0 {
		if err := r.retry(ctx, deadline, func() error {
			s, err := r.cfg.Inventory.ObserveGroups(ctx, groups, r.snap)
			if err == nil {
				r.snap = s
			}
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}

// fresh reports whether every fact of the view was read less than a poll
// interval ago, on the runner's own clock: the only view a termination may
// be decided on.
//
// A whole-cluster read is several calls (groups, instances, volumes) that
// may take longer than a poll on a slow link: the window is a poll plus
// what the last whole read took, so a slow read cannot keep every view
// "old" for ever.
func (r *roller) fresh() bool {
	at := r.snap.ReadAt()
	return !at.IsZero() && r.now().Sub(at) < r.cfg.Poll.Fast+r.sweepTook
}
