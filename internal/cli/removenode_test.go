package cli

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
)

// remove-node, as the module's destroy-time provisioner runs it: the group
// goes to 0 and the command waits while the instance sits in
// Terminating:Wait on the drain hook (the agent's drain), and returns once
// the drain completed the hook and the instance is gone. Other nodes are
// untouched. A drain that never completes is reported at --timeout.
func TestRemoveNodeDrainsThroughTheHook(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newSimWorld(t, 3, nil)
		as := w.e.AutoScaling()
		group := w.nodes[2].Group
		if _, err := as.PutLifecycleHook(w.ctx, &autoscaling.PutLifecycleHookInput{AutoScalingGroupName: aws.String(group), LifecycleHookName: aws.String("demo-node-drain-hook"),
			LifecycleTransition: aws.String("autoscaling:EC2_INSTANCE_TERMINATING"), DefaultResult: aws.String("CONTINUE"), HeartbeatTimeout: aws.Int32(600)}); err != nil {
			t.Fatal(err)
		}
		type result struct {
			code     int
			out, err string
		}
		done := make(chan result, 1)
		go func() {
			code, out, errOut := w.run("", "remove-node", "--asg", group, "--timeout", "20m")
			done <- result{code, out, errOut}
		}()
		time.Sleep(2 * time.Minute)
		g, err := as.DescribeAutoScalingGroups(w.ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{group}})
		if err != nil || len(g.AutoScalingGroups[0].Instances) != 1 || g.AutoScalingGroups[0].Instances[0].LifecycleState != astypes.LifecycleStateTerminatingWait {
			t.Fatalf("after 2 minutes: %+v, %v; want the instance waiting on the drain hook", g, err)
		}
		select {
		case r := <-done:
			t.Fatalf("remove-node returned before the drain: %+v", r)
		default:
		}
		// The node agent's drain completes the hook.
		if _, err := as.CompleteLifecycleAction(w.ctx, &autoscaling.CompleteLifecycleActionInput{AutoScalingGroupName: aws.String(group), LifecycleHookName: aws.String("demo-node-drain-hook"),
			InstanceId: g.AutoScalingGroups[0].Instances[0].InstanceId, LifecycleActionResult: aws.String("CONTINUE")}); err != nil {
			t.Fatal(err)
		}
		r := <-done
		if r.code != ExitOK || !strings.Contains(r.out, "group "+group+" has no instance left") {
			t.Fatalf("remove-node: %+v", r)
		}
		// status sees the whole cluster (--asg resolves to it): the other
		// two serve; the removed node's group, empty until Terraform deletes
		// it, is flagged.
		if code, out, _ := w.run("", "status", "--asg", w.nodes[0].Group, "--asg", w.nodes[1].Group); code != ExitNotInService || !strings.Contains(out, "2 of 3 nodes in service") || !strings.Contains(out, "group "+group+" has desired 0") {
			t.Errorf("the other nodes after the removal: exit %d\n%s", code, out)
		}

		// A drain that never completes: reported at --timeout, naming the instance.
		group = w.nodes[1].Group
		if _, err := as.PutLifecycleHook(w.ctx, &autoscaling.PutLifecycleHookInput{AutoScalingGroupName: aws.String(group), LifecycleHookName: aws.String("demo-node-drain-hook"),
			LifecycleTransition: aws.String("autoscaling:EC2_INSTANCE_TERMINATING"), DefaultResult: aws.String("CONTINUE"), HeartbeatTimeout: aws.Int32(3600)}); err != nil {
			t.Fatal(err)
		}
		code, _, errOut := w.run("", "remove-node", "--asg", group, "--timeout", "5m")
		if code != ExitError || !strings.Contains(errOut, "still has i-") || !strings.Contains(errOut, "Terminating:Wait") {
			t.Errorf("a drain past --timeout: exit %d, stderr:\n%s", code, errOut)
		}
		if code, _, errOut := w.run("", "remove-node", "--cluster", "demo"); code != ExitUsage || !strings.Contains(errOut, "exactly one --asg") {
			t.Errorf("remove-node --cluster: exit %d, stderr:\n%s", code, errOut)
		}
	})
}
