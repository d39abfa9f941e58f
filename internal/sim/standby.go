package sim

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
)

// Standby and detaching, as AWS-FACTS §1.2 describes them: an operator's
// ways of taking an instance out of service by hand. Neither runs
// lifecycle hooks. A Standby instance stays a member but does not count
// toward capacity and is not health-checked; a detached one leaves the
// group and keeps running (and keeps the node's ENI). The time an instance
// spends in EnteringStandby and Detaching is not documented: it is
// Timings.ProceedToInService here, the simulator's other short
// Auto Scaling transition.

// standby reports whether the instance is in, or entering, Standby.
func (i *instance) standby() bool {
	return i.Lifecycle == "Standby" || i.Lifecycle == "EnteringStandby"
}

func (e *Engine) activityOut(g *group, a *activity) astypes.Activity {
	return astypes.Activity{ActivityId: aws.String(a.ID), AutoScalingGroupName: aws.String(g.Name), AutoScalingGroupARN: aws.String(g.ARN),
		Description: aws.String(a.Description), Cause: aws.String(a.Cause), StartTime: aws.Time(a.Start),
		StatusCode: astypes.ScalingActivityStatusCode(a.Status), Progress: aws.Int32(a.Progress), Details: aws.String(a.Details)}
}

// members checks that every id is a member of g in one of the states
// allowed, as AWS's ValidationError says it.
func (e *Engine) members(g *group, ids []string, allowed ...string) ([]*instance, *APIError) {
	if len(ids) == 0 {
		return nil, validation("The parameter InstanceIds must contain at least one instance ID.")
	}
	if len(ids) > 20 {
		return nil, validation("The parameter InstanceIds can have at most 20 instance IDs, got %d.", len(ids))
	}
	var out []*instance
	for _, id := range ids {
		i := e.w.instances[id]
		if i == nil || i.Group != g.Name || i.terminating() || i.Lifecycle == "" {
			return nil, validation("The instance %s is not part of Auto Scaling group %s.", id, g.Name)
		}
		ok := false
		for _, s := range allowed {
			ok = ok || i.Lifecycle == s
		}
		if !ok {
			return nil, validation("The instance %s is not in %s.", id, allowed[0])
		}
		out = append(out, i)
	}
	return out, nil
}

func (a *AutoScalingAPI) EnterStandby(ctx context.Context, in *autoscaling.EnterStandbyInput, _ ...func(*autoscaling.Options)) (*autoscaling.EnterStandbyOutput, error) {
	return run(ctx, a.e, ServiceAutoScaling, "EnterStandby", in, func(in *autoscaling.EnterStandbyInput) (*autoscaling.EnterStandbyOutput, error) {
		e := a.e
		g, err := e.group(deref(in.AutoScalingGroupName))
		if err != nil {
			return nil, err
		}
		if in.ShouldDecrementDesiredCapacity == nil {
			return nil, validation("1 validation error detected: Value null at 'shouldDecrementDesiredCapacity' failed to satisfy constraint: Member must not be null")
		}
		list, err := e.members(g, in.InstanceIds, InService)
		if err != nil {
			return nil, err
		}
		dec := *in.ShouldDecrementDesiredCapacity
		if dec && g.Desired-int32(len(list)) < g.Min {
			return nil, validation("AutoScalingGroup %s has min-size=%d, max-size=%d, and desired-size=%d. To place into standby %d instances, please update the AutoScalingGroup sizes appropriately.",
				g.Name, g.Min, g.Max, g.Desired, len(list))
		}
		out := &autoscaling.EnterStandbyOutput{}
		for _, i := range list {
			cause := fmt.Sprintf("At %s instance %s was moved to standby in response to a user request", e.now().Format(isoSeconds), i.ID)
			if dec {
				cause += fmt.Sprintf(", shrinking the capacity from %d to %d.", g.Desired, g.Desired-1)
				g.Desired--
			} else {
				cause += "."
			}
			act := e.addActivity(g.Name, "Moving EC2 instance to Standby: "+i.ID, cause)
			act.Status, act.Progress = "InProgress", 50
			i.Lifecycle, i.Target = "EnteringStandby", "Standby"
			id, actID := i.ID, act.ID
			e.after(e.cfg.Timings.ProceedToInService, func() {
				if i := e.w.instances[id]; i != nil && i.Lifecycle == "EnteringStandby" {
					i.Lifecycle = "Standby"
				}
				if a := e.activity(g.Name, actID); a != nil {
					a.Status, a.Progress, a.End = "Successful", 100, e.now()
				}
			})
			out.Activities = append(out.Activities, e.activityOut(g, act))
		}
		// Without the decrement the group launches replacements.
		e.scheduleReconcile(g)
		return out, nil
	})
}

func (a *AutoScalingAPI) ExitStandby(ctx context.Context, in *autoscaling.ExitStandbyInput, _ ...func(*autoscaling.Options)) (*autoscaling.ExitStandbyOutput, error) {
	return run(ctx, a.e, ServiceAutoScaling, "ExitStandby", in, func(in *autoscaling.ExitStandbyInput) (*autoscaling.ExitStandbyOutput, error) {
		e := a.e
		g, err := e.group(deref(in.AutoScalingGroupName))
		if err != nil {
			return nil, err
		}
		list, err := e.members(g, in.InstanceIds, "Standby")
		if err != nil {
			return nil, err
		}
		if g.Desired+int32(len(list)) > g.Max {
			return nil, validation("AutoScalingGroup %s has min-size=%d, max-size=%d, and desired-size=%d. To remove from standby %d instances, please update the AutoScalingGroup sizes appropriately.",
				g.Name, g.Min, g.Max, g.Desired, len(list))
		}
		out := &autoscaling.ExitStandbyOutput{}
		for _, i := range list {
			cause := fmt.Sprintf("At %s instance %s was moved out of standby in response to a user request, increasing the capacity from %d to %d.",
				e.now().Format(isoSeconds), i.ID, g.Desired, g.Desired+1)
			g.Desired++
			act := e.addActivity(g.Name, "Moving EC2 instance out of Standby: "+i.ID, cause)
			act.Status, act.Progress = "PreInService", 30
			// Back through Pending to InService; hooks do not run.
			i.Lifecycle, i.Target = "Pending", InService
			id, actID := i.ID, act.ID
			e.after(e.cfg.Timings.ProceedToInService, func() {
				if i := e.w.instances[id]; i != nil && i.Lifecycle == "Pending" {
					i.Lifecycle, i.InServiceAt = InService, e.now()
					// Health-checked again: a Standby instance stopped or
					// terminated meanwhile is replaced now.
					e.scheduleHealthCheck(g)
				}
				if a := e.activity(g.Name, actID); a != nil {
					a.Status, a.Progress, a.End = "Successful", 100, e.now()
				}
			})
			out.Activities = append(out.Activities, e.activityOut(g, act))
		}
		return out, nil
	})
}

func (a *AutoScalingAPI) DetachInstances(ctx context.Context, in *autoscaling.DetachInstancesInput, _ ...func(*autoscaling.Options)) (*autoscaling.DetachInstancesOutput, error) {
	return run(ctx, a.e, ServiceAutoScaling, "DetachInstances", in, func(in *autoscaling.DetachInstancesInput) (*autoscaling.DetachInstancesOutput, error) {
		e := a.e
		g, err := e.group(deref(in.AutoScalingGroupName))
		if err != nil {
			return nil, err
		}
		if in.ShouldDecrementDesiredCapacity == nil {
			return nil, validation("1 validation error detected: Value null at 'shouldDecrementDesiredCapacity' failed to satisfy constraint: Member must not be null")
		}
		list, err := e.members(g, in.InstanceIds, InService, "Standby")
		if err != nil {
			return nil, err
		}
		dec := *in.ShouldDecrementDesiredCapacity
		if dec && g.Desired-int32(len(list)) < g.Min {
			return nil, validation("Currently, desired capacity is %d and min size is %d. Detaching %d instances without replacement will violate group's min size constraint. Either set shouldDecrementDesiredCapacity flag to false or lower group's min size.",
				g.Desired, g.Min, len(list))
		}
		out := &autoscaling.DetachInstancesOutput{}
		for _, i := range list {
			cause := fmt.Sprintf("At %s instance %s was detached in response to a user request", e.now().Format(isoSeconds), i.ID)
			// A Standby instance never counted toward capacity: detaching
			// it changes nothing there.
			if dec && !i.standby() {
				cause += fmt.Sprintf(", shrinking the capacity from %d to %d.", g.Desired, g.Desired-1)
				g.Desired--
			} else {
				cause += "."
			}
			act := e.addActivity(g.Name, "Detaching EC2 instance: "+i.ID, cause)
			act.Status, act.Progress = "InProgress", 50
			i.Lifecycle, i.Target = "Detaching", "Detached"
			id, actID := i.ID, act.ID
			e.after(e.cfg.Timings.ProceedToInService, func() {
				if i := e.w.instances[id]; i != nil && i.Lifecycle == "Detaching" {
					// Out of the group, still running, still holding its ENI.
					i.Lifecycle, i.Group = "", ""
					g.Instances = deleteID(g.Instances, id)
				}
				if a := e.activity(g.Name, actID); a != nil {
					a.Status, a.Progress, a.End = "Successful", 100, e.now()
				}
				e.scheduleReconcile(g)
			})
			out.Activities = append(out.Activities, e.activityOut(g, act))
		}
		return out, nil
	})
}

func deleteID(ids []string, id string) []string {
	out := ids[:0]
	for _, s := range ids {
		if s != id {
			out = append(out, s)
		}
	}
	return out
}
