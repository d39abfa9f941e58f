package rollout

// Completing the drain hook of an instance no agent drains. A cluster
// upgraded from the original v0.8.0 module keeps v0.8.0's instances until
// they are replaced; they run no agent of this module (no stateful:cluster
// tag), so none of them ever completes the drain hook drain_on_termination
// adds. Left alone, each of their terminations would wait out the hook's
// timeout (up to hours) holding the node's ENI, and the roll would time
// out. The roll completes the hook for them with CONTINUE: nothing on them
// would drain, and waiting gains nothing. An instance of this module is
// never touched this way: its own agent drains it.

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/cluster"
)

// terminatingWait is the Auto Scaling state of an instance whose
// termination waits on a termination lifecycle hook.
const terminatingWait = "Terminating:Wait"

// GroupHooks is what the roll knows of a node's group's termination hooks.
type GroupHooks struct {
	// Cluster is the cluster the group belongs to ("" when unknown): the
	// drain hook's name derives from it (cluster.DrainHookName).
	Cluster string
	// Read: Termination was read from the group. Unread, a decision that
	// needs it asks for the read.
	Read bool
	// Termination names the group's termination (EC2_INSTANCE_TERMINATING)
	// lifecycle hooks.
	Termination []string
}

// DrainStep is what an old instance's termination calls for.
type DrainStep int

const (
	DrainLeave     DrainStep = iota // nothing: its agent drains it, or no drain hook waits on it
	DrainReadHooks                  // read the group's termination hooks, then decide again
	DrainComplete                   // complete the drain hook with CONTINUE
)

// NeedsDrainCompletion decides, pure, whether the roll completes the drain
// hook of a terminating instance itself, and names the hook. It does only
// for an instance EC2 lists without the cluster tag (launched by the
// original v0.8.0 module: it has no agent that drains), now in
// Terminating:Wait, whose group has the cluster's drain hook. Tagged is
// trusted only when EC2 listed the instance (EC2State set): an instance a
// lagging read missed carries no tags, which says nothing.
func NeedsDrainCompletion(i cluster.Instance, g GroupHooks) (DrainStep, string) {
	if i.Tagged || i.EC2State == "" || i.Lifecycle != terminatingWait || g.Cluster == "" {
		return DrainLeave, ""
	}
	if !g.Read {
		return DrainReadHooks, ""
	}
	hook := cluster.DrainHookName(g.Cluster)
	if !slices.Contains(g.Termination, hook) {
		return DrainLeave, ""
	}
	return DrainComplete, hook
}

// drain completes, at most once per replacement, the drain hook of the old
// instance of a node in flight when NeedsDrainCompletion says so. It never
// fails the roll: on an error it cannot ride out on a later look, the
// termination waits out the hook's timeout as it would have without it.
func (r *roller) drain(ctx context.Context, f *flight, n cluster.Node) {
	if f.drainDone {
		return
	}
	k := slices.IndexFunc(n.Instances, func(i cluster.Instance) bool { return i.ID == f.old })
	if k < 0 {
		return
	}
	old := n.Instances[k]
	step, hook := NeedsDrainCompletion(old, f.hooks)
	if step == DrainReadHooks {
		if err := r.readDrainHooks(ctx, f, n); err != nil {
			r.drainGaveUp(ctx, f, n, err)
			return
		}
		step, hook = NeedsDrainCompletion(old, f.hooks)
	}
	if step != DrainComplete {
		return
	}
	if err := r.cfg.Pace.Wait(ctx); err != nil {
		return
	}
	_, err := r.cfg.AutoScaling.CompleteLifecycleAction(ctx, &autoscaling.CompleteLifecycleActionInput{AutoScalingGroupName: aws.String(n.Group),
		LifecycleHookName: aws.String(hook), InstanceId: aws.String(old.ID), LifecycleActionResult: aws.String("CONTINUE")})
	switch {
	case err == nil:
		f.drainDone = true
		r.emit(Event{Kind: EventDrainCompleted, Node: n.ID, Instance: old.ID, Message: fmt.Sprintf(
			"node %s: completed drain hook %s with CONTINUE for %s, which has no %s tag (launched by the original v0.8.0 module, no agent drains it), so its replacement proceeds now instead of after the hook's timeout",
			n.ID, hook, old.ID, cluster.TagCluster)})
	case awsapi.Classify(err) == awsapi.KindNoActiveLifecycleAction || awsapi.Classify(err) == awsapi.KindValidation:
		// No action waits any more (its timeout ended it, or someone
		// completed it): the termination proceeds by itself.
		f.drainDone = true
	default:
		r.drainGaveUp(ctx, f, n, err)
	}
}

// readDrainHooks reads the termination hooks of the node's group once.
func (r *roller) readDrainHooks(ctx context.Context, f *flight, n cluster.Node) error {
	if err := r.cfg.Pace.Wait(ctx); err != nil {
		return err
	}
	out, err := r.cfg.AutoScaling.DescribeLifecycleHooks(ctx, &autoscaling.DescribeLifecycleHooksInput{AutoScalingGroupName: aws.String(n.Group)})
	if err != nil {
		return fmt.Errorf("reading the lifecycle hooks of group %s (node %s): %w", n.Group, n.ID, err)
	}
	f.hooks.Read, f.hooks.Termination = true, nil
	for _, h := range out.LifecycleHooks {
		if aws.ToString(h.LifecycleTransition) == "autoscaling:EC2_INSTANCE_TERMINATING" {
			f.hooks.Termination = append(f.hooks.Termination, aws.ToString(h.LifecycleHookName))
		}
	}
	return nil
}

// drainGaveUp tries again on the next look after a transient error, and
// otherwise leaves the hook to its timeout, saying so once.
func (r *roller) drainGaveUp(ctx context.Context, f *flight, n cluster.Node, err error) {
	if awsapi.Transient(err) || ctx.Err() != nil {
		return
	}
	f.drainDone = true
	r.log.Warn("could not complete the drain hook of an instance no agent drains; its termination waits out the hook's timeout",
		"node_id", n.ID, "asg_name", n.Group, "instance_id", f.old, "error", err)
}
