package sim

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
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
			var t tags
			switch {
			case e.w.instances[id] != nil:
				t = e.w.instances[id].Tags
			case e.w.volumes[id] != nil:
				t = e.w.volumes[id].Tags
			case e.w.enis[id] != nil:
				t = e.w.enis[id].Tags
			case e.w.subnets[id] != nil:
				t = e.w.subnets[id].Tags
			case e.w.vpcs[id] != nil:
				t = e.w.vpcs[id].Tags
			case e.w.templates[id] != nil:
				t = e.w.templates[id].Tags
			default:
				prefix, _, _ := strings.Cut(id, "-")
				code := map[string]string{"i": "InvalidInstanceID.NotFound", "vol": "InvalidVolume.NotFound", "eni": "InvalidNetworkInterfaceID.NotFound",
					"subnet": "InvalidSubnetID.NotFound", "vpc": "InvalidVpcID.NotFound", "lt": "InvalidLaunchTemplateId.NotFound"}[prefix]
				if code == "" {
					return nil, apiErr("InvalidID", "The ID '%s' is not valid", id)
				}
				return nil, apiErr(code, "The ID '%s' does not exist", id)
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
