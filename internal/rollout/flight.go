package rollout

// Nodes in flight: a replacement under way, moved along on each look,
// and given its Launch back when the roll stops.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/cluster"
)

// flight is one replacement under way.
type flight struct {
	node    cluster.Node // as when started
	old     string       // the terminated instance
	start   time.Time
	resumed bool // Launch resumed (or never suspended)
	release time.Duration
	// The old instance's drain hook, for an instance no agent drains
	// (drain.go).
	hooks     GroupHooks
	drainDone bool
}

// advance moves every replacement under way on the latest look: resume
// Launch once the old instance released the ENI, record a node back in
// service on its target version, and fail at once when a replacement's
// launch is abandoned, comes up on another version, or runs past the
// timeout.
func (r *roller) advance(ctx context.Context, res *Result) error {
	for _, id := range slices.Clone(r.inFlight) {
		f := r.flights[id]
		cur, _ := r.snap.Node(id)
		elapsed := r.now().Sub(f.start)
		r.drain(ctx, f, cur)
		t := Next(cur, FlightState{Old: f.old, Resumed: f.resumed, KnowsENI: f.node.ENI != ""}, elapsed, r.cfg.Timeout)
		if t.Resume {
			if err := r.resumeLaunch(ctx, cur, r.now().Add(r.cfg.Timeout)); err != nil {
				return err
			}
			f.resumed, f.release = true, elapsed
			if r.expectedRelease == 0 || elapsed < r.expectedRelease {
				r.expectedRelease = elapsed
			}
			r.emit(Event{Kind: EventResumeLaunch, Node: id, Message: fmt.Sprintf("node %s: the old instance released the ENI after %s; launching its replacement", id, elapsed.Round(time.Millisecond))})
		}
		r.emit(Event{Kind: EventProgress, Node: id, Message: progress(cur, f.old, elapsed)})
		i := t.Instance
		switch t.Outcome {
		case WrongVersionBack:
			return &Failure{Kind: WrongVersion, Node: id, Instance: i.ID, Lifecycle: i.Lifecycle,
				Detail: fmt.Sprintf("the replacement runs launch-template version %d, the group wants %d", i.Version, cur.Target)}
		case Back:
			if err := r.caughtUp(ctx, cur, i); err != nil {
				return err
			}
			if r.expected == 0 || elapsed < r.expected {
				r.expected = elapsed
			}
			r.emit(Event{Kind: EventReplaced, Node: id, Instance: i.ID, Took: elapsed, Message: fmt.Sprintf("node %s is back in service on %s (v%d) after %s", id, i.ID, i.Version, elapsed.Round(time.Millisecond))})
			res.Replaced = append(res.Replaced, Replacement{Node: id, Old: f.old, New: i.ID, AZ: cur.AZ, Took: elapsed, Released: f.release, Started: f.start, Detected: r.now()})
			r.replaced[id] = true
			delete(r.flights, id)
			r.inFlight = slices.DeleteFunc(r.inFlight, func(s string) bool { return s == id })
		case AbandonedLaunch:
			return r.failNode(ctx, Abandoned, cur, i, "the replacement instance was abandoned before it came into service")
		case TimedOut:
			detail := fmt.Sprintf("no new instance came into service within %s", r.cfg.Timeout)
			if i.ID == "" {
				detail = fmt.Sprintf("no replacement instance was launched within %s", r.cfg.Timeout)
			}
			return r.failNode(ctx, Timeout, cur, i, detail)
		}
	}
	return nil
}

// FlightState is what the roll knows of a replacement it started.
type FlightState struct {
	Old      string // the terminated instance
	Resumed  bool   // its group's Launch was given back
	KnowsENI bool   // the node's ENI was on record when it started
}

// Outcome is where a replacement stands after a look.
type Outcome int

const (
	Pending          Outcome = iota // still on its way
	Back                            // a new instance serves with its data on the target version
	WrongVersionBack                // a new instance serves on another version
	AbandonedLaunch                 // the new instance left before it served
	TimedOut                        // nothing served within the timeout
)

// Transition is what a look at a node in flight calls for.
type Transition struct {
	// Resume: give the group its Launch back now (the old instance has
	// released the ENI).
	Resume  bool
	Outcome Outcome
	// Instance is the new instance the outcome is about (empty when none
	// was launched).
	Instance cluster.Instance
}

// Next is the in-flight transition, pure: from the node as the latest view
// shows it, what the roll knew of the replacement, and how long it has
// run. The ENI free means the old instance is gone; without an ENI on
// record (groups not tagged with a cluster) the old instance leaving the
// group is the best sign there is.
func Next(n cluster.Node, f FlightState, elapsed, timeout time.Duration) Transition {
	var t Transition
	if !f.Resumed {
		gone := !slices.ContainsFunc(n.Instances, func(i cluster.Instance) bool { return i.ID == f.Old })
		t.Resume = n.ENIStatus == "available" || (!f.KnowsENI && gone)
	}
	if i, ok := n.Serving(); ok && i.ID != f.Old {
		t.Instance, t.Outcome = i, Back
		if i.Version != n.Target {
			t.Outcome = WrongVersionBack
		}
		return t
	}
	for _, i := range n.Instances {
		if i.ID != f.Old && (strings.HasPrefix(i.Lifecycle, "Terminating") || i.Lifecycle == "Terminated") {
			t.Instance, t.Outcome = i, AbandonedLaunch
			return t
		}
	}
	if elapsed >= timeout {
		for _, c := range n.Instances {
			if c.ID != f.Old {
				t.Instance = c
			}
		}
		t.Outcome = TimedOut
	}
	return t
}

// settle gives every group the roll suspended its Launch back, waiting (up
// to the timeout) for old instances to release their ENIs. A roll killed
// before this is repaired by the next roll, status or recover.
func (r *roller) settle(ctx context.Context) {
	deadline := r.now().Add(r.cfg.Timeout)
	for {
		pending := 0
		for _, id := range r.inFlight {
			f := r.flights[id]
			if f.resumed {
				continue
			}
			cur, _ := r.snap.Node(id)
			gone := !slices.ContainsFunc(cur.Instances, func(i cluster.Instance) bool { return i.ID == f.old })
			if cur.ENIStatus == "available" || (f.node.ENI == "" && gone) || stillServing(cur, f.old) {
				if err := r.resumeLaunch(ctx, cur, deadline); err != nil {
					r.log.Warn("could not resume launch", "node_id", id, "asg_name", cur.Group, "error", err)
					continue
				}
				f.resumed = true
				continue
			}
			pending++
		}
		if pending == 0 || !r.now().Before(deadline) {
			return
		}
		if clock.Sleep(ctx, r.cfg.Clock, r.cfg.Poll.Fast) != nil || r.look(ctx) != nil {
			return
		}
	}
}

// progress says where a replacement stands, for a live view.
func progress(n cluster.Node, old string, elapsed time.Duration) string {
	var parts []string
	for _, i := range n.Instances {
		who := "new " + i.ID
		if i.ID == old {
			who = "old " + i.ID
		}
		parts = append(parts, who+" "+i.Lifecycle)
	}
	if len(parts) == 0 {
		parts = append(parts, "no instance yet")
	}
	if n.ENIStatus != "" {
		parts = append(parts, "ENI "+n.ENIStatus)
	}
	return fmt.Sprintf("node %s: %s (%s)", n.ID, strings.Join(parts, ", "), elapsed.Round(time.Second))
}
