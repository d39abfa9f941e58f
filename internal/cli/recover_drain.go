package cli

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/cluster"
	"github.com/stateful-aws/stateful/internal/inventory"
	"github.com/stateful-aws/stateful/internal/recovery"
	"github.com/stateful-aws/stateful/internal/rollout"
)

// completeOldDrain completes, after recover --replace terminated it, the
// drain hook of an instance no agent drains (launched by the original
// v0.8.0 module), as the roll does (rollout.NeedsDrainCompletion decides):
// otherwise its termination would wait out the hook's timeout holding the
// node's ENI. AWS moves a terminated instance to Terminating:Wait at once,
// so one fresh look after the terminate call finds it there.
func completeOldDrain(ctx context.Context, as awsapi.AutoScaling, inv *inventory.Inventory, sel inventory.Selector, nodeID, instance string,
	hooks []recovery.Hook, say func(string)) error {
	sel, err := inv.Resolve(ctx, sel)
	if err != nil {
		return err
	}
	g := rollout.GroupHooks{Cluster: sel.Cluster, Read: true}
	for _, h := range hooks {
		if h.Transition == "autoscaling:EC2_INSTANCE_TERMINATING" {
			g.Termination = append(g.Termination, h.Name)
		}
	}
	if !slices.Contains(g.Termination, cluster.DrainHookName(sel.Cluster)) {
		return nil // no drain hook: nothing waits
	}
	now, err := inv.Observe(ctx, sel, inventory.Full, nil)
	if err != nil {
		return fmt.Errorf("node %s: %s was terminated, but looking at it again to complete its drain hook failed: %w", nodeID, instance, err)
	}
	n, _ := now.Node(nodeID)
	k := slices.IndexFunc(n.Instances, func(i cluster.Instance) bool { return i.ID == instance })
	if k < 0 {
		return nil // already gone
	}
	step, hook := rollout.NeedsDrainCompletion(n.Instances[k], g)
	if step != rollout.DrainComplete {
		return nil
	}
	_, err = as.CompleteLifecycleAction(ctx, &autoscaling.CompleteLifecycleActionInput{AutoScalingGroupName: aws.String(n.Group),
		LifecycleHookName: aws.String(hook), InstanceId: aws.String(instance), LifecycleActionResult: aws.String("CONTINUE")})
	if awsapi.Classify(err) == awsapi.KindNoActiveLifecycleAction {
		return nil // completed or timed out meanwhile
	}
	if err != nil {
		return fmt.Errorf("node %s: %s was terminated, but completing its drain hook %s failed, so its termination waits out the hook's timeout: %w", nodeID, instance, hook, err)
	}
	say(fmt.Sprintf("node %s: completed drain hook %s with CONTINUE for %s, which has no %s tag (launched by the original v0.8.0 module, no agent drains it)",
		nodeID, hook, instance, cluster.TagCluster))
	return nil
}
