package lock

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/stateful-aws/stateful/internal/clock"
)

// LegacyTagKey is the group tag that held the lock before it moved to
// Parameter Store: the value "<token> <expiry> <holder>" on the cluster's
// first group, renewed every 200 s (a third of its 10-minute TTL).
const LegacyTagKey = "stateful:lock"

// LegacyWatch is how long a leftover tag must stay unchanged to be judged
// left over rather than renewed by an older stateful's running command:
// its renewal interval (200 s) plus a minute for reads that lag.
const LegacyWatch = 200*time.Second + time.Minute

// LegacyAPI is what the upgrade check calls: the group's tags.
type LegacyAPI interface {
	DescribeAutoScalingGroups(context.Context, *autoscaling.DescribeAutoScalingGroupsInput, ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error)
	DeleteTags(context.Context, *autoscaling.DeleteTagsInput, ...func(*autoscaling.Options)) (*autoscaling.DeleteTagsOutput, error)
}

// ClearLegacy deals with a lock tag that an older stateful left on the
// cluster's first group, once the command holds the new lock. No tag:
// nothing to do. A tag whose value stays the same for LegacyWatch (on this
// command's clock: no expiry written by another machine is compared) is
// left over, from a command that died or a version that never removed it:
// it is deleted, by value, so that a renewal landing meanwhile is kept. A
// tag that changes is renewed by an older stateful's running command: the
// caller refuses (*LegacyHeld). With force the tag is deleted at once.
func ClearLegacy(ctx context.Context, api LegacyAPI, clk clock.Clock, group string, force bool) error {
	first, ok, err := legacyTag(ctx, api, group)
	if err != nil || !ok {
		return err
	}
	if !force {
		start := clk.Now()
		for clk.Now().Sub(start) < LegacyWatch {
			if err := clock.Sleep(ctx, clk, 10*time.Second); err != nil {
				return err
			}
			v, ok, err := legacyTag(ctx, api, group)
			switch {
			case err != nil:
				return err
			case !ok:
				return nil // removed meanwhile (released, or an apply)
			case v != first:
				return &Held{Name: "tag " + LegacyTagKey + " on group " + group, Holder: "an older stateful's command (" + v + ")", Legacy: true, Seen: clk.Now()}
			}
		}
	}
	_, err = api.DeleteTags(ctx, &autoscaling.DeleteTagsInput{Tags: []astypes.Tag{{ResourceId: aws.String(group),
		ResourceType: aws.String("auto-scaling-group"), Key: aws.String(LegacyTagKey), Value: aws.String(first)}}})
	if err != nil {
		return fmt.Errorf("removing the older stateful's lock tag %s from group %s: %w", LegacyTagKey, group, err)
	}
	return nil
}

func legacyTag(ctx context.Context, api LegacyAPI, group string) (string, bool, error) {
	out, err := api.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{group}})
	if err != nil {
		return "", false, fmt.Errorf("reading group %s for an older stateful's lock tag: %w", group, err)
	}
	for _, g := range out.AutoScalingGroups {
		for _, t := range g.Tags {
			if aws.ToString(t.Key) == LegacyTagKey {
				return aws.ToString(t.Value), true, nil
			}
		}
	}
	return "", false, nil
}
