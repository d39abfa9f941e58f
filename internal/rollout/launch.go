package rollout

// Taking a node out and giving its group Launch back: the preflight and
// repair, suspend, terminate, resume.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/cluster"
	"github.com/stateful-aws/stateful/internal/inventory"
)

// preflight waits up to the timeout for every node to serve, then refuses.
// It first gives back the Launch process of groups a killed roll left
// suspended, as soon as their old instance has released the ENI.
func (r *roller) preflight(ctx context.Context) error {
	deadline := r.now().Add(r.cfg.Timeout)
	r.started = r.now()
	waited := false
	depth := inventory.Full // then groups only: the rest carries over
	for {
		if err := r.retry(ctx, deadline, func() error {
			s, err := r.observeAll(ctx, depth)
			if err == nil {
				r.snap = s
			}
			return err
		}); err != nil {
			return err
		}
		depth = inventory.Groups
		if err := r.checkNodeSet(); err != nil {
			return err
		}
		// A node named by --only, --last or --partition that the cluster
		// does not have is refused at once, not after waiting.
		if err := CheckScope(r.snap, r.cfg.Options); err != nil {
			return err
		}
		if r.cfg.DryRun {
			// A dry run looks once and changes nothing: run says what it
			// would wait for after printing the plan.
			r.notReady = r.snap.NotServing()
			return nil
		}
		if err := r.repair(ctx, deadline); err != nil {
			return err
		}
		out := r.snap.NotServing()
		if len(out) == 0 {
			if waited {
				r.emit(Event{Kind: EventReady, Message: "every node is in service"})
			}
			return nil
		}
		if !r.now().Before(deadline) {
			return &Failure{Kind: Refused, Node: out[0].ID, Detail: fmt.Sprintf("%d of %d nodes are not in service after waiting %s; nothing was terminated", len(out), len(r.snap.Nodes), r.cfg.Timeout),
				Recover: r.cfg.RecoverCommand(out[0].ID), Nodes: out}
		}
		if !waited {
			r.emit(Event{Kind: EventWaiting, Nodes: ids(out), Message: fmt.Sprintf("waiting up to %s for %d node(s) to be in service before starting: %s", r.cfg.Timeout, len(out), strings.Join(ids(out), ", "))})
			waited = true
		}
		if err := clock.Sleep(ctx, r.cfg.Clock, r.cfg.Poll.Fast); err != nil {
			return err
		}
	}
}

// repair resumes Launch on every group whose node is ready for a launch:
// its instance serves, or it has none left and its ENI is free.
func (r *roller) repair(ctx context.Context, deadline time.Time) error {
	var suspended []cluster.Node
	var enis []string
	for _, n := range r.snap.Nodes {
		if n.LaunchSuspended {
			suspended = append(suspended, n)
			if len(n.Instances) == 0 && n.ENI != "" {
				enis = append(enis, n.ENI)
			}
		}
	}
	if len(suspended) == 0 {
		return nil
	}
	status := map[string]string{}
	if len(enis) > 0 {
		if err := r.retry(ctx, deadline, func() (err error) {
			status, err = r.cfg.Inventory.ENIStatus(ctx, enis)
			return err
		}); err != nil {
			return err
		}
	}
	for _, n := range suspended {
		_, serving := n.Serving()
		if !serving && (len(n.Instances) > 0 || (n.ENI != "" && status[n.ENI] != "available")) {
			continue // the old instance still holds the ENI: next look
		}
		if err := r.resumeLaunch(ctx, n, deadline); err != nil {
			return err
		}
		r.emit(Event{Kind: EventRepaired, Node: n.ID, Message: fmt.Sprintf("resumed the Launch process of node %s's group %s, left suspended by an interrupted roll", n.ID, n.Group)})
	}
	return nil
}

func (r *roller) suspendLaunch(ctx context.Context, n cluster.Node, deadline time.Time) error {
	return r.retry(ctx, deadline, func() error {
		if err := r.cfg.Pace.Wait(ctx); err != nil {
			return err
		}
		_, err := r.cfg.AutoScaling.SuspendProcesses(ctx, &autoscaling.SuspendProcessesInput{AutoScalingGroupName: aws.String(n.Group), ScalingProcesses: []string{"Launch"}})
		if err != nil {
			return fmt.Errorf("suspending the Launch process of group %s (node %s): %w", n.Group, n.ID, err)
		}
		return nil
	})
}

func (r *roller) resumeLaunch(ctx context.Context, n cluster.Node, deadline time.Time) error {
	return r.retry(ctx, deadline, func() error {
		if err := r.cfg.Pace.Wait(ctx); err != nil {
			return err
		}
		_, err := r.cfg.AutoScaling.ResumeProcesses(ctx, &autoscaling.ResumeProcessesInput{AutoScalingGroupName: aws.String(n.Group), ScalingProcesses: []string{"Launch"}})
		if err != nil {
			return fmt.Errorf("resuming the Launch process of group %s (node %s): %w", n.Group, n.ID, err)
		}
		return nil
	})
}

// errNotNow says a replacement was not started because the look it was
// decided on grew old (calls were throttled): decide again on a new one.
var errNotNow = errors.New("decision out of date")

// startAll starts the replacement of each node, in order, and returns how
// many it started. It stops early, to decide again on a fresh look, when
// the look the decision was made on grew old (throttled calls) or after a
// pre-check found the picture changed.
func (r *roller) startAll(ctx context.Context, nodes []cluster.Node) (int, error) {
	for k, n := range nodes {
		if !r.fresh() && r.cfg.PreCheck == nil {
			return k, nil
		}
		if r.replaced[n.ID] {
			// A node replaced once that is outdated again means its group's
			// version moved during the roll: stop rather than loop.
			return k, &Failure{Kind: WrongVersion, Node: n.ID, Detail: fmt.Sprintf("already replaced in this roll, yet it runs version %d and its group wants %d", n.Instances[0].Version, n.Target)}
		}
		old, _ := n.Serving()
		if r.cfg.PreCheck != nil {
			if err := r.preCheck(ctx, n); err != nil {
				return k, err
			}
			// The pre-check may have taken a while: look again before acting.
			if err := r.sweep(ctx, r.now().Add(r.cfg.Timeout)); err != nil {
				return k, err
			}
			for _, o := range r.snap.NotServing() {
				if r.flights[o.ID] == nil {
					return k, r.lost(ctx, o, "left service while node "+n.ID+"'s pre-check ran")
				}
			}
			if cur, _ := r.snap.Node(n.ID); !stillServing(cur, old.ID) {
				return k, &Failure{Kind: NodeLost, Node: n.ID, Instance: old.ID, Detail: "its instance changed while the pre-check ran; nothing was terminated", Recover: r.cfg.RecoverCommand(n.ID)}
			}
		}
		if err := r.start(ctx, n, old); errors.Is(err, errNotNow) {
			return k, nil
		} else if err != nil {
			return k, err
		}
	}
	return len(nodes), nil
}

// start takes one node out: suspend its group's Launch (so the group does
// not try, fail on the ENI the old instance still holds and back off),
// then terminate the instance keeping desired capacity.
func (r *roller) start(ctx context.Context, n cluster.Node, old cluster.Instance) error {
	deadline := r.now().Add(r.cfg.Timeout)
	if err := r.suspendLaunch(ctx, n, deadline); err != nil {
		// The suspend may have taken effect though it failed (its answer
		// lost, the roll stopped mid-call): give the group its Launch back,
		// best effort and even when stopped, rather than leave a serving
		// node unable to replace a lost instance.
		_ = r.resumeLaunch(context.WithoutCancel(ctx), n, r.now())
		return err
	}
	if !r.fresh() {
		// The suspend call was throttled long enough for the picture to
		// change: terminate only if a fresh look still says so.
		if err := r.refresh(ctx, deadline); err != nil {
			return err
		}
		d := Decide(r.snap, r.cfg.Options, Progress{InFlight: r.inFlight, Limit: -1})
		if cur, _ := r.snap.Node(n.ID); d.Action != Replace || !slices.ContainsFunc(d.Start, func(s cluster.Node) bool { return s.ID == n.ID }) || !stillServing(cur, old.ID) {
			if err := r.resumeLaunch(ctx, n, deadline); err != nil {
				return err
			}
			return errNotNow
		}
	}
	f := &flight{node: n, old: old.ID, start: r.now(), hooks: GroupHooks{Cluster: r.cfg.Selector.Cluster}}
	// Registered before the terminate call: a failure from here on must
	// give the group its Launch back.
	r.flights[n.ID] = f
	r.inFlight = append(r.inFlight, n.ID)
	r.started = f.start
	r.emit(Event{Kind: EventTerminate, Node: n.ID, Instance: old.ID, Message: fmt.Sprintf("replacing node %s (%s): terminating %s (v%d), keeping desired capacity", n.ID, n.AZ, old.ID, old.Version)})
	return r.terminate(ctx, n, old.ID, deadline)
}

// terminate asks the group to replace the instance. A retried call that
// finds the instance already leaving counts as done.
func (r *roller) terminate(ctx context.Context, n cluster.Node, instance string, deadline time.Time) error {
	for {
		if err := r.cfg.Pace.Wait(ctx); err != nil {
			return err
		}
		_, err := r.cfg.AutoScaling.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
			InstanceId: aws.String(instance), ShouldDecrementDesiredCapacity: aws.Bool(false)})
		if err == nil {
			return nil
		}
		if !awsapi.Transient(err) && awsapi.Classify(err) != awsapi.KindValidation {
			return fmt.Errorf("terminating instance %s of node %s: %w", instance, n.ID, err)
		}
		// The call may have landed even though we saw an error, and the
		// cluster may have changed while it failed: look at all of it.
		if oerr := r.sweep(ctx, deadline); oerr != nil {
			return oerr
		}
		if cur, _ := r.snap.Node(n.ID); !stillServing(cur, instance) {
			return nil
		}
		// Not terminated yet: retry only while no node the roll did not
		// take out is out of service (Decide would hold for it too).
		var others []cluster.Node
		for _, o := range r.snap.NotServing() {
			if r.flights[o.ID] == nil {
				others = append(others, o)
			}
		}
		if len(others) > 0 {
			return r.lost(ctx, others[0], fmt.Sprintf("left service while the termination of node %s's instance %s was retried, so %s was not terminated",
				n.ID, instance, instance))
		}
		if !awsapi.Transient(err) {
			return fmt.Errorf("terminating instance %s of node %s: %w", instance, n.ID, err)
		}
		if !r.now().Before(deadline) {
			return &Failure{Kind: Timeout, Node: n.ID, Instance: instance, Detail: fmt.Sprintf("could not terminate within %s: %v", r.cfg.Timeout, err)}
		}
		if err := r.sleepBackoff(ctx); err != nil {
			return err
		}
	}
}

func stillServing(n cluster.Node, instance string) bool {
	for _, i := range n.Instances {
		if i.ID == instance && i.Ready() {
			return true
		}
	}
	return false
}
