package inventory

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/stateful-aws/stateful/internal/cluster"
	"github.com/stateful-aws/stateful/internal/diagnosis"
)

// diagnosisActivities is how many of a group's newest activities a
// diagnosis reads: enough to see past a run of routine ENI retries (one
// every 10 s or so while an old instance shuts down) to the launch before.
const diagnosisActivities = 20

// DiagnosisInput reads what diagnosis.Diagnose needs beyond the node
// itself: its group's newest scaling activities and its lifecycle hooks
// (two calls), and the agent's failure summaries: from the node's
// instances as read, and from the instance of an abandoned launch (a
// third call, only then).
func (v *Inventory) DiagnosisInput(ctx context.Context, n cluster.Node) (diagnosis.Input, error) {
	in := diagnosis.Input{Node: n, Now: v.cfg.Clock.Now()}
	if err := v.wait(ctx); err != nil {
		return in, err
	}
	acts, err := v.cfg.AutoScaling.DescribeScalingActivities(ctx, &autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: aws.String(n.Group), MaxRecords: aws.Int32(diagnosisActivities)})
	if err != nil {
		return in, fmt.Errorf("describing the scaling activities of group %s: %w", n.Group, err)
	}
	in.History = true
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
	for _, i := range n.Instances {
		if !strings.HasPrefix(i.Lifecycle, "Terminat") && i.Report != "" {
			in.AgentReport, in.AgentClass = i.Report, i.ReportClass
		}
	}
	// The instance of the newest abandoned launch, gone from the group but
	// listed by EC2 for about an hour, may carry the agent's summary.
	if id := abandonedInstance(in.Activities); id != "" {
		if err := v.wait(ctx); err != nil {
			return in, err
		}
		out, err := v.cfg.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{
			Filters: []ec2types.Filter{{Name: aws.String("instance-id"), Values: []string{id}}}})
		if err != nil {
			return in, fmt.Errorf("describing instance %s of group %s: %w", id, n.Group, err)
		}
		for _, r := range out.Reservations {
			for _, i := range r.Instances {
				in.AbandonedReport = tagValue(i.Tags, cluster.TagBootstrapFailure)
			}
		}
	}
	return in, nil
}

// abandonedInstance is the instance of the newest launch completed with
// ABANDON since the newest successful launch, "" when none.
func abandonedInstance(acts []cluster.Activity) string {
	for _, a := range acts {
		rest, ok := strings.CutPrefix(a.Description, "Launching a new EC2 instance: ")
		switch {
		case ok && a.Status == "Successful":
			return ""
		case ok && a.Status == "Cancelled" && strings.HasSuffix(a.Message, "ABANDON Result"):
			id, _, _ := strings.Cut(rest, ".")
			return strings.TrimSpace(id)
		}
	}
	return ""
}
