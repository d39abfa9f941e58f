package sim

import (
	"context"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
)

// Scaling processes a group can suspend (SuspendProcesses). The simulator
// acts on two of them: a suspended Launch makes the group launch nothing
// (a shortfall stays until ResumeProcesses, which reconciles at once), a
// suspended Terminate makes it terminate nothing to shrink to desired
// capacity. The others are recorded and reported, with no effect here.
const (
	ProcessLaunch    = "Launch"
	ProcessTerminate = "Terminate"
)

// scalingProcesses are AWS's process names, in AWS's documented order.
var scalingProcesses = []string{ProcessLaunch, ProcessTerminate, "AddToLoadBalancer", "AlarmNotification", "AZRebalance",
	"HealthCheck", "InstanceRefresh", "ReplaceUnhealthy", "ScheduledActions"}

func (g *group) suspended(process string) bool {
	return slices.ContainsFunc(g.Suspended, func(s suspension) bool { return s.Process == process })
}

// processList checks the names; none means every process, as in AWS.
func processList(names []string) ([]string, *APIError) {
	if len(names) == 0 {
		return scalingProcesses, nil
	}
	var bad []string
	for _, n := range names {
		if !slices.Contains(scalingProcesses, n) {
			bad = append(bad, n)
		}
	}
	if len(bad) > 0 {
		// AWS's exact text is undocumented; this one names the bad names
		// and the allowed ones.
		return nil, validation("Invalid processes: %s; allowed: %s", strings.Join(bad, ", "), strings.Join(scalingProcesses, ", "))
	}
	return names, nil
}

func (a *AutoScalingAPI) SuspendProcesses(ctx context.Context, in *autoscaling.SuspendProcessesInput, _ ...func(*autoscaling.Options)) (*autoscaling.SuspendProcessesOutput, error) {
	return run(ctx, a.e, ServiceAutoScaling, "SuspendProcesses", in, func(in *autoscaling.SuspendProcessesInput) (*autoscaling.SuspendProcessesOutput, error) {
		e := a.e
		g, err := e.group(deref(in.AutoScalingGroupName))
		if err != nil {
			return nil, err
		}
		names, err := processList(in.ScalingProcesses)
		if err != nil {
			return nil, err
		}
		for _, p := range names {
			if !g.suspended(p) { // suspending again keeps the first time
				g.Suspended = append(g.Suspended, suspension{Process: p, At: e.now()})
			}
		}
		return &autoscaling.SuspendProcessesOutput{}, nil
	})
}

func (a *AutoScalingAPI) ResumeProcesses(ctx context.Context, in *autoscaling.ResumeProcessesInput, _ ...func(*autoscaling.Options)) (*autoscaling.ResumeProcessesOutput, error) {
	return run(ctx, a.e, ServiceAutoScaling, "ResumeProcesses", in, func(in *autoscaling.ResumeProcessesInput) (*autoscaling.ResumeProcessesOutput, error) {
		e := a.e
		g, err := e.group(deref(in.AutoScalingGroupName))
		if err != nil {
			return nil, err
		}
		names, err := processList(in.ScalingProcesses)
		if err != nil {
			return nil, err
		}
		g.Suspended = slices.DeleteFunc(g.Suspended, func(s suspension) bool { return slices.Contains(names, s.Process) })
		// The group looks at its capacity again: a shortfall left while
		// Launch was suspended is launched after the usual delay.
		e.scheduleReconcile(g)
		return &autoscaling.ResumeProcessesOutput{}, nil
	})
}

func (g *group) suspendedOut() []astypes.SuspendedProcess {
	out := make([]astypes.SuspendedProcess, len(g.Suspended))
	for i, s := range g.Suspended {
		out[i] = astypes.SuspendedProcess{ProcessName: aws.String(s.Process), SuspensionReason: aws.String("User suspended at " + s.At.UTC().Format(isoSeconds))}
	}
	return out
}
