package sim

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
)

// CreateOrUpdateTags sets tags of groups (ResourceType auto-scaling-group,
// ResourceId the group's name): a key already there gets the new value.
func (a *AutoScalingAPI) CreateOrUpdateTags(ctx context.Context, in *autoscaling.CreateOrUpdateTagsInput, _ ...func(*autoscaling.Options)) (*autoscaling.CreateOrUpdateTagsOutput, error) {
	return run(ctx, a.e, ServiceAutoScaling, "CreateOrUpdateTags", in, func(in *autoscaling.CreateOrUpdateTagsInput) (*autoscaling.CreateOrUpdateTagsOutput, error) {
		groups, err := a.e.taggedGroups(in.Tags)
		if err != nil {
			return nil, err
		}
		for i, t := range in.Tags {
			g, tag := groups[i], groupTag{Key: deref(t.Key), Value: deref(t.Value), PropagateAtLaunch: deref(t.PropagateAtLaunch)}
			found := false
			for j := range g.Tags {
				if g.Tags[j].Key == tag.Key {
					g.Tags[j], found = tag, true
				}
			}
			if !found {
				g.Tags = append(g.Tags, tag)
			}
		}
		return &autoscaling.CreateOrUpdateTagsOutput{}, nil
	})
}

// DeleteTags removes tags of groups by key (and value, when given).
func (a *AutoScalingAPI) DeleteTags(ctx context.Context, in *autoscaling.DeleteTagsInput, _ ...func(*autoscaling.Options)) (*autoscaling.DeleteTagsOutput, error) {
	return run(ctx, a.e, ServiceAutoScaling, "DeleteTags", in, func(in *autoscaling.DeleteTagsInput) (*autoscaling.DeleteTagsOutput, error) {
		groups, err := a.e.taggedGroups(in.Tags)
		if err != nil {
			return nil, err
		}
		for i, t := range in.Tags {
			g := groups[i]
			kept := g.Tags[:0]
			for _, have := range g.Tags {
				if have.Key != deref(t.Key) || (t.Value != nil && have.Value != deref(t.Value)) {
					kept = append(kept, have)
				}
			}
			g.Tags = kept
		}
		return &autoscaling.DeleteTagsOutput{}, nil
	})
}

// taggedGroups checks every tag's resource before any is changed: a call
// with one bad tag changes nothing.
func (e *Engine) taggedGroups(tags []astypes.Tag) ([]*group, *APIError) {
	if len(tags) == 0 {
		return nil, validation("1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null")
	}
	out := make([]*group, len(tags))
	for i, t := range tags {
		if rt := deref(t.ResourceType); rt != "auto-scaling-group" {
			return nil, validation("Invalid resource type %q: only auto-scaling-group is supported", rt)
		}
		if deref(t.Key) == "" {
			return nil, validation("Tag key must not be empty")
		}
		g, err := e.group(deref(t.ResourceId))
		if err != nil {
			return nil, err
		}
		out[i] = g
	}
	return out, nil
}
