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

// ResumeStranded resumes the Launch process of every stranded node's group
// and returns the nodes it resumed. status and recover call it, so a roll
// killed mid-replacement is repaired by whichever command runs next.
func ResumeStranded(ctx context.Context, as awsapi.AutoScaling, s cluster.Snapshot) ([]string, error) {
	var done []string
	for _, n := range Stranded(s) {
		if _, err := as.ResumeProcesses(ctx, &autoscaling.ResumeProcessesInput{AutoScalingGroupName: aws.String(n.Group), ScalingProcesses: []string{"Launch"}}); err != nil {
			return done, fmt.Errorf("resuming the Launch process of group %s (node %s): %w", n.Group, n.ID, err)
		}
		done = append(done, n.ID)
	}
	return done, nil
}
