package rollout

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/cluster"
)

// Stranded lists the nodes a roll interrupted between its terminate and
// resume calls left down: the group's Launch process is suspended, no
// instance is left, and the ENI is free. Nothing will ever launch for
// them until Launch is resumed. s must be a full read (ENI status known).
func Stranded(s cluster.Snapshot) []cluster.Node {
	var out []cluster.Node
	for _, n := range s.Nodes {
		if n.LaunchSuspended && len(n.Instances) == 0 && n.ENIStatus == "available" {
			out = append(out, n)
		}
	}
	return out
}

// CannotLaunch lists the nodes that serve while their group's Launch
// process is suspended (a roll stopped between its suspend and its
// terminate): nothing would replace their instance if it were lost.
func CannotLaunch(s cluster.Snapshot) []cluster.Node {
	var out []cluster.Node
	for _, n := range s.Nodes {
		if _, ok := n.Serving(); ok && n.LaunchSuspended {
			out = append(out, n)
		}
	}
	return out
}

// ResumeStranded resumes the Launch process of every stranded node's group,
// and of every serving node's that cannot launch, and returns the nodes it
// resumed. recover calls it, so a roll killed mid-replacement is repaired
// by whichever command runs next.
func ResumeStranded(ctx context.Context, as awsapi.AutoScaling, s cluster.Snapshot) ([]string, error) {
	var done []string
	for _, n := range append(Stranded(s), CannotLaunch(s)...) {
		if _, err := as.ResumeProcesses(ctx, &autoscaling.ResumeProcessesInput{AutoScalingGroupName: aws.String(n.Group), ScalingProcesses: []string{"Launch"}}); err != nil {
			return done, fmt.Errorf("resuming the Launch process of group %s (node %s): %w", n.Group, n.ID, err)
		}
		done = append(done, n.ID)
	}
	return done, nil
}
