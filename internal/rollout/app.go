package rollout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/cluster"
)

// App is the application's own view of the cluster, asked between nodes
// (internal/appcheck implements it for etcd, ZooKeeper and Kafka). Every
// call gets the cluster's nodes as last seen; each attempt is bounded by
// CheckTimeout.
type App interface {
	// Name names the application, for messages.
	Name() string
	// Check passes when node n may go now: the cluster is healthy by the
	// application's own measure and can lose n. Its error says what
	// blocks it. Retried until Timeout before each termination.
	Check(ctx context.Context, nodes []cluster.Node, n cluster.Node) error
	// CaughtUp passes once node n's replacement has rejoined and caught
	// up; retried until Timeout before the roll records n replaced.
	CaughtUp(ctx context.Context, nodes []cluster.Node, n cluster.Node) error
	// Leader is the id of the node that leads now (leader, controller).
	Leader(ctx context.Context, nodes []cluster.Node) (string, error)
	// MoveLeader hands leadership from node from to node to; an error
	// wrapping errors.ErrUnsupported says the application cannot.
	MoveLeader(ctx context.Context, nodes []cluster.Node, from, to cluster.Node) error
}

// appState is what the roll keeps for App and for rollback.
type appState struct {
	// userLast is Options.Last as given; the leader goes after it.
	userLast []string
	// askedAt is the look the leader was last asked on.
	askedAt time.Time
	// first is the roll's first look: each node's last good version.
	first cluster.Snapshot
}

// withApp makes the pre-check run the application's check (after the
// user's own pre-check) and hand leadership over before the leader goes.
func (r *roller) withApp() {
	r.app.userLast = slices.Clone(r.cfg.Last)
	if r.cfg.App == nil {
		return
	}
	user := r.cfg.PreCheck
	r.cfg.PreCheck = func(ctx context.Context, n cluster.Node) error {
		if user != nil {
			if err := user(ctx, n); err != nil {
				return err
			}
		}
		return r.appCheck(ctx, n)
	}
}

// appCheck runs the application's check for node n; when n leads and the
// application can hand leadership over, it does so to a node already on
// its target version and checks again, so that n's going starts no
// election.
func (r *roller) appCheck(ctx context.Context, n cluster.Node) error {
	app, nodes := r.cfg.App, r.snap.Nodes
	if err := app.Check(ctx, nodes, n); err != nil {
		return fmt.Errorf("%s: %w", app.Name(), err)
	}
	leader, err := app.Leader(ctx, nodes)
	if err != nil || leader != n.ID {
		return nil
	}
	to, ok := moveTarget(r.snap, n.ID)
	if !ok {
		return nil
	}
	if err := app.MoveLeader(ctx, nodes, n, to); errors.Is(err, errors.ErrUnsupported) {
		return nil
	} else if err != nil {
		return fmt.Errorf("%s: %w", app.Name(), err)
	}
	r.emit(Event{Kind: EventMoveLeader, Node: n.ID, Nodes: []string{to.ID}, Message: fmt.Sprintf("%s: handed the leadership from node %s to node %s before replacing %s", app.Name(), n.ID, to.ID, n.ID)})
	if err := app.Check(ctx, nodes, n); err != nil {
		return fmt.Errorf("%s, after handing the leadership to node %s: %w", app.Name(), to.ID, err)
	}
	return nil
}

// moveTarget picks the node to hand leadership to: serving, not from, on
// its target version when one is (replaced already: it will not go in
// this roll), in node-id order. Pure.
func moveTarget(s cluster.Snapshot, from string) (cluster.Node, bool) {
	var best cluster.Node
	found := false
	for _, n := range s.Nodes {
		if _, ok := n.Serving(); !ok || n.ID == from {
			continue
		}
		if !found || (n.Current() && !best.Current()) {
			best, found = n, true
		}
	}
	return best, found
}

// leaderLast asks the application which node leads (once per look) and
// moves it after the --last nodes; it reports whether the order changed,
// so the roll decides again.
func (r *roller) leaderLast(ctx context.Context) bool {
	if r.cfg.App == nil || r.app.askedAt.Equal(r.snap.At) {
		return false
	}
	r.app.askedAt = r.snap.At
	var leader string
	err := r.bounded(ctx, func(ctx context.Context) (err error) {
		leader, err = r.cfg.App.Leader(ctx, r.snap.Nodes)
		return err
	})
	if err != nil {
		// No leader known: the check before the termination says why.
		r.log.Warn("could not ask the application for its leader", "error", err)
		return false
	}
	last := slices.DeleteFunc(slices.Clone(r.app.userLast), func(id string) bool { return id == leader })
	last = append(last, leader)
	if slices.Equal(last, r.cfg.Last) {
		return false
	}
	r.cfg.Last = last
	r.emit(Event{Kind: EventLeader, Node: leader, Message: fmt.Sprintf("%s: node %s leads, so it goes last", r.cfg.App.Name(), leader)})
	return true
}

// caughtUp waits, up to Timeout, for node n's replacement (instance i) to
// pass the application's CaughtUp, before n counts as replaced.
func (r *roller) caughtUp(ctx context.Context, n cluster.Node, i cluster.Instance) error {
	if r.cfg.App == nil {
		return nil
	}
	deadline := r.now().Add(r.cfg.Timeout)
	for {
		err := r.bounded(ctx, func(ctx context.Context) error { return r.cfg.App.CaughtUp(ctx, r.snap.Nodes, n) })
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.emit(Event{Kind: EventCheck, Node: n.ID, Instance: i.ID, Message: fmt.Sprintf("%s: node %s is in service but not caught up yet: %v", r.cfg.App.Name(), n.ID, err)})
		if !r.now().Before(deadline) {
			return r.failNode(ctx, CheckFailed, n, i, fmt.Sprintf("the replacement came into service on v%d but the %s check did not pass within %s: %v", i.Version, r.cfg.App.Name(), r.cfg.Timeout, err))
		}
		if err := clock.Sleep(ctx, r.cfg.Clock, r.cfg.Poll.Fast); err != nil {
			return err
		}
	}
}
