package inventory

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/stateful-aws/stateful/internal/cluster"
	"github.com/stateful-aws/stateful/internal/diagnosis"
)

// diagnosisActivities is how many of a group's newest activities a
// diagnosis reads: enough to see past a run of routine ENI retries (one
// every 10 s or so while an old instance shuts down) to the launch before.
const diagnosisActivities = 20

// DiagnosisInput reads what diagnosis.Diagnose needs beyond the node
// itself: its group's newest scaling activities and its lifecycle hooks
// (two calls).
func (v *Inventory) DiagnosisInput(ctx context.Context, n cluster.Node) (diagnosis.Input, error) {
	in := diagnosis.Input{Node: n, Now: v.cfg.Clock.Now()}
	if err := v.wait(ctx); err != nil {
		return in, err
	}
	acts, err := v.cfg.AutoScaling.DescribeScalingActivities(ctx, &autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: aws.String(n.Group), MaxRecords: aws.Int32(diagnosisActivities)})
	if err != nil {
		return in, fmt.Errorf("describing the scaling activities of group %s: %w", n.Group, err)
	}
	for _, a := range acts.Activities {
		in.Activities = append(in.Activities, cluster.Activity{Group: n.Group, Status: string(a.StatusCode), Description: aws.ToString(a.Description),
			Message: aws.ToString(a.StatusMessage), Start: aws.ToTime(a.StartTime), End: aws.ToTime(a.EndTime)})
	}
	if err := v.wait(ctx); err != nil {
		return in, err
	}
	hooks, err := v.cfg.AutoScaling.DescribeLifecycleHooks(ctx, &autoscaling.DescribeLifecycleHooksInput{AutoScalingGroupName: aws.String(n.Group)})
	if err != nil {
		return in, fmt.Errorf("describing the lifecycle hooks of group %s: %w", n.Group, err)
	}
	for _, h := range hooks.LifecycleHooks {
		in.Hooks = append(in.Hooks, diagnosis.Hook{Name: aws.ToString(h.LifecycleHookName), Transition: aws.ToString(h.LifecycleTransition),
			HeartbeatTimeout: time.Duration(aws.ToInt32(h.HeartbeatTimeout)) * time.Second,
			GlobalTimeout:    time.Duration(aws.ToInt32(h.GlobalTimeout)) * time.Second, DefaultResult: aws.ToString(h.DefaultResult)})
	}
	return in, nil
}
