package sim

import (
	"context"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// CreateTags tags EC2 resources: instances, volumes, ENIs, subnets, VPCs
// and launch templates, by ID. Keys up to 128 characters, values up to 256,
// no "aws:" prefix, at most 50 tags a resource, as EC2 enforces. The node
// agent leaves its failure summary on its instance this way.
func (a *EC2API) CreateTags(ctx context.Context, in *ec2.CreateTagsInput, _ ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error) {
	return run(ctx, a.e, ServiceEC2, "CreateTags", in, func(in *ec2.CreateTagsInput) (*ec2.CreateTagsOutput, error) {
		e := a.e
		if len(in.Resources) == 0 {
			return nil, apiErr("MissingParameter", "The request must contain the parameter resourceIdSet")
		}
		if len(in.Tags) == 0 {
			return nil, apiErr("MissingParameter", "The request must contain the parameter tagSet")
		}
		for _, t := range in.Tags {
			k, v := deref(t.Key), deref(t.Value)
			switch {
			case k == "" || len(k) > 128:
				return nil, apiErr("InvalidParameterValue", "Tag key must be between 1 and 128 characters, got %d", len(k))
			case len(v) > 256:
				return nil, apiErr("InvalidParameterValue", "Tag value exceeds the maximum length of 256 characters")
			case strings.HasPrefix(strings.ToLower(k), "aws:"):
				return nil, apiErr("InvalidParameterValue", "Tag keys starting with 'aws:' are reserved for internal use")
			}
		}
		var targets []tags
		for _, id := range in.Resources {
			t, err := e.taggable(id)
			if err != nil {
				return nil, err
			}
			n := len(t)
			for _, tg := range in.Tags {
				if _, ok := t[deref(tg.Key)]; !ok {
					n++
				}
			}
			if n > 50 {
				return nil, apiErr("TagLimitExceeded", "The maximum number of Tags for a resource has been reached.")
			}
			targets = append(targets, t)
		}
		for _, t := range targets {
			for _, tg := range in.Tags {
				t[deref(tg.Key)] = deref(tg.Value)
			}
		}
		return &ec2.CreateTagsOutput{}, nil
	})
}

// DeleteTags removes tags from EC2 resources by ID, as EC2 does: a tag
// given with a key only goes whatever its value; with a value (even
// empty), only when the value matches; no tags at all removes every tag
// (but "aws:" ones). An upgrade from the original module leaves instances
// without the module's tags; tests make them this way.
func (a *EC2API) DeleteTags(ctx context.Context, in *ec2.DeleteTagsInput, _ ...func(*ec2.Options)) (*ec2.DeleteTagsOutput, error) {
	return run(ctx, a.e, ServiceEC2, "DeleteTags", in, func(in *ec2.DeleteTagsInput) (*ec2.DeleteTagsOutput, error) {
		if len(in.Resources) == 0 {
			return nil, apiErr("MissingParameter", "The request must contain the parameter resourceIdSet")
		}
		var targets []tags
		for _, id := range in.Resources {
			t, err := a.e.taggable(id)
			if err != nil {
				return nil, err
			}
			targets = append(targets, t)
		}
		for _, t := range targets {
			for k, v := range t {
				if strings.HasPrefix(strings.ToLower(k), "aws:") {
					continue
				}
				if len(in.Tags) == 0 || slices.ContainsFunc(in.Tags, func(tg ec2types.Tag) bool {
					return deref(tg.Key) == k && (tg.Value == nil || *tg.Value == v)
				}) {
					delete(t, k)
				}
			}
		}
		return &ec2.DeleteTagsOutput{}, nil
	})
}

// taggable is the tag set of the EC2 resource with this ID, or EC2's error
// for an ID it does not know.
func (e *Engine) taggable(id string) (tags, *APIError) {
	switch {
	case e.w.instances[id] != nil:
		return e.w.instances[id].Tags, nil
	case e.w.volumes[id] != nil:
		return e.w.volumes[id].Tags, nil
	case e.w.enis[id] != nil:
		return e.w.enis[id].Tags, nil
	case e.w.subnets[id] != nil:
		return e.w.subnets[id].Tags, nil
	case e.w.vpcs[id] != nil:
		return e.w.vpcs[id].Tags, nil
	case e.w.templates[id] != nil:
		return e.w.templates[id].Tags, nil
	}
	prefix, _, _ := strings.Cut(id, "-")
	code := map[string]string{"i": "InvalidInstanceID.NotFound", "vol": "InvalidVolume.NotFound", "eni": "InvalidNetworkInterfaceID.NotFound",
		"subnet": "InvalidSubnetID.NotFound", "vpc": "InvalidVpcID.NotFound", "lt": "InvalidLaunchTemplateId.NotFound"}[prefix]
	if code == "" {
		return nil, apiErr("InvalidID", "The ID '%s' is not valid", id)
	}
	return nil, apiErr(code, "The ID '%s' does not exist", id)
}
