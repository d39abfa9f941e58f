package evict

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/cluster"
)

// Replacement is what revoking after a node's replacement needs.
type Replacement struct {
	AutoScaling awsapi.AutoScaling
	EC2         awsapi.EC2
	IAM         IAM
	Clock       clock.Clock
	Region      string        // the node roles' names carry it (cluster.RoleName)
	Poll        time.Duration // between looks at the group
	Timeout     time.Duration // how long to wait for the old instance to go
}

// AfterReplacement waits until old (the replaced instance; "" when already
// gone) has left the node's group and a replacement is in it, then revokes
// the sessions of the node's role issued before the Cutoff. It returns the
// cutoff. Revoking earlier would cut off the old instance's drain (it
// detaches the volume and completes its hook with these credentials).
func (r Replacement) AfterReplacement(ctx context.Context, group, old string) (time.Time, error) {
	deadline := r.Clock.Now().Add(r.Timeout)
	for {
		launch, gone, err := r.look(ctx, group, old)
		if err != nil {
			return time.Time{}, err
		}
		if gone && !launch.IsZero() {
			cut := Cutoff(launch, r.Clock.Now())
			return cut, Revoke(ctx, r.IAM, cluster.RoleName(group, r.Region), cut)
		}
		if !r.Clock.Now().Before(deadline) {
			return time.Time{}, fmt.Errorf("node group %s: the old instance %s did not leave, or no replacement came, within %s; its role's older sessions are not revoked (stateful roll or recover --replace again revokes them)", group, old, r.Timeout)
		}
		if err := clock.Sleep(ctx, r.Clock, r.Poll); err != nil {
			return time.Time{}, err
		}
	}
}

// look reports the newest launch among the group's instances other than
// old, and whether old has left the group.
func (r Replacement) look(ctx context.Context, group, old string) (time.Time, bool, error) {
	out, err := r.AutoScaling.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{group}})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("describing node group %s: %w", group, err)
	}
	if len(out.AutoScalingGroups) != 1 {
		return time.Time{}, false, fmt.Errorf("node group %s not found", group)
	}
	gone := true
	var others []string
	for _, i := range out.AutoScalingGroups[0].Instances {
		id := aws.ToString(i.InstanceId)
		if id == old {
			gone = false
			continue
		}
		others = append(others, id)
	}
	if len(others) == 0 {
		return time.Time{}, gone, nil
	}
	d, err := r.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: others})
	if err != nil {
		return time.Time{}, gone, fmt.Errorf("describing node group %s's instances: %w", group, err)
	}
	var launch time.Time
	for _, res := range d.Reservations {
		for _, i := range res.Instances {
			if t := aws.ToTime(i.LaunchTime); t.After(launch) {
				launch = t
			}
		}
	}
	return launch, gone, nil
}

// AfterReplacedBy revokes the older sessions of the role of the node whose
// replacement is the instance replacement, once the old instance is gone
// (the roll's "replaced": the old instance released the node's ENI before
// the replacement launched). The cutoff is the replacement's launch.
func (r Replacement) AfterReplacedBy(ctx context.Context, replacement string) (string, time.Time, error) {
	as, err := r.AutoScaling.DescribeAutoScalingInstances(ctx, &autoscaling.DescribeAutoScalingInstancesInput{InstanceIds: []string{replacement}})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("describing instance %s: %w", replacement, err)
	}
	if len(as.AutoScalingInstances) != 1 {
		return "", time.Time{}, fmt.Errorf("instance %s is in no Auto Scaling group", replacement)
	}
	group := aws.ToString(as.AutoScalingInstances[0].AutoScalingGroupName)
	cut, err := r.AfterReplacement(ctx, group, "")
	return group, cut, err
}
