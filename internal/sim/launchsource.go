package sim

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// What a group launches from: a launch template (the module's way), a
// launch configuration (the legacy way, still met in accounts upgraded
// from older modules), or a mixed instances policy (a launch template plus
// instance-type overrides). The roll refuses the last two, since it cannot
// tell which version an instance runs; the simulator models them so that
// refusal is tested against what AWS answers.

// launchConfig is a launch configuration (CreateLaunchConfiguration).
type launchConfig struct {
	Name, ImageID, InstanceType, UserData, KeyName string
	Created                                        time.Time
}

// source is what a group launches from; exactly one of Template and
// Config is set. Mixed holds a mixed instances policy's instance types
// (its template is Template).
type source struct {
	Template templateRef
	Config   string
	Mixed    []string
	IsMixed  bool
}

const sourceMissing = "Valid requests must contain either LaunchTemplate, LaunchConfigurationName, InstanceId or MixedInstancesPolicy parameter."

// launchSource checks what a Create or UpdateAutoScalingGroup call names
// as the group's source; required says whether one must be named.
func (e *Engine) launchSource(lt *astypes.LaunchTemplateSpecification, lc *string, mip *astypes.MixedInstancesPolicy, required bool) (*source, *APIError) {
	named := 0
	for _, set := range []bool{lt != nil, deref(lc) != "", mip != nil} {
		if set {
			named++
		}
	}
	switch {
	case named == 0 && required:
		return nil, validation(sourceMissing)
	case named == 0:
		return nil, nil
	case named > 1:
		// AWS-FACTS documents only this message; that AWS gives it for two
		// sources as well as for none is our inference.
		return nil, validation(sourceMissing)
	case deref(lc) != "":
		if e.w.launchConfigs[*lc] == nil {
			return nil, validation("Launch configuration name not found - Launch configuration %s not found", *lc)
		}
		return &source{Config: *lc}, nil
	case mip != nil:
		if mip.LaunchTemplate == nil || mip.LaunchTemplate.LaunchTemplateSpecification == nil {
			return nil, validation(sourceMissing) // inferred, as above
		}
		ref, err := e.templateSource(mip.LaunchTemplate.LaunchTemplateSpecification)
		if err != nil {
			return nil, err
		}
		s := &source{Template: ref, IsMixed: true}
		for _, o := range mip.LaunchTemplate.Overrides {
			if t := deref(o.InstanceType); t != "" {
				s.Mixed = append(s.Mixed, t)
			}
		}
		return s, nil
	}
	ref, err := e.templateSource(lt)
	if err != nil {
		return nil, err
	}
	return &source{Template: ref}, nil
}

func (e *Engine) templateSource(s *astypes.LaunchTemplateSpecification) (templateRef, *APIError) {
	lt, err := e.findTemplate(e.w, deref(s.LaunchTemplateId), deref(s.LaunchTemplateName))
	if err != nil {
		return templateRef{}, validation("You must use a valid fully-formed launch template. %s", err.Message)
	}
	ref := templateRef{ID: lt.ID, Name: lt.Name, Version: deref(s.Version)}
	if _, verr := resolveVersion(lt, ref.Version); verr != nil {
		return templateRef{}, validation("You must use a valid fully-formed launch template. %s", verr.Message)
	}
	return ref, nil
}

// setSource makes s the group's source.
func (g *group) setSource(s *source) {
	g.Template, g.LaunchConfig, g.MixedTypes, g.Mixed = s.Template, s.Config, s.Mixed, s.IsMixed
}

// sourceOut fills in the group's source as DescribeAutoScalingGroups
// gives it: one of LaunchTemplate, LaunchConfigurationName and
// MixedInstancesPolicy.
func (g *group) sourceOut(out *astypes.AutoScalingGroup) {
	if g.LaunchConfig != "" {
		out.LaunchConfigurationName = aws.String(g.LaunchConfig)
		return
	}
	spec := &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(g.Template.ID),
		LaunchTemplateName: aws.String(g.Template.Name), Version: aws.String(g.Template.Version)}
	if g.Template.Version == "" {
		spec.Version = aws.String("$Default")
	}
	if !g.Mixed {
		out.LaunchTemplate = spec
		return
	}
	p := &astypes.MixedInstancesPolicy{LaunchTemplate: &astypes.LaunchTemplate{LaunchTemplateSpecification: spec},
		InstancesDistribution: &astypes.InstancesDistribution{OnDemandAllocationStrategy: aws.String("prioritized"),
			OnDemandBaseCapacity: aws.Int32(0), OnDemandPercentageAboveBaseCapacity: aws.Int32(100),
			SpotAllocationStrategy: aws.String("lowest-price"), SpotInstancePools: aws.Int32(2)}}
	for _, t := range g.MixedTypes {
		p.LaunchTemplate.Overrides = append(p.LaunchTemplate.Overrides, astypes.LaunchTemplateOverrides{InstanceType: aws.String(t)})
	}
	out.MixedInstancesPolicy = p
}

// instanceSource is what a group member says it was launched from: its
// launch configuration, or its template with the resolved version.
func instanceSource(i *instance) (*astypes.LaunchTemplateSpecification, *string) {
	if i.LaunchConfig != "" {
		return nil, aws.String(i.LaunchConfig)
	}
	return &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(i.TemplateID),
		LaunchTemplateName: aws.String(i.TemplateName), Version: aws.String(strconv.FormatInt(i.TemplateVersion, 10))}, nil
}

// launchData is what the group's next instance is made from. A launch
// configuration has no network interfaces: its instance gets a new one in
// the group's subnet. A mixed instances policy launches its first
// override's instance type.
func (e *Engine) launchData(g *group) (data ec2types.RequestLaunchTemplateData, lt *launchTemplate, v *templateVersion, code, msg string) {
	if g.LaunchConfig != "" {
		c := e.w.launchConfigs[g.LaunchConfig]
		if c == nil {
			return data, nil, nil, "ValidationError", "Launch configuration " + g.LaunchConfig + " not found"
		}
		data = ec2types.RequestLaunchTemplateData{ImageId: aws.String(c.ImageID), InstanceType: ec2types.InstanceType(c.InstanceType),
			UserData: aws.String(c.UserData), KeyName: aws.String(c.KeyName)}
		return data, nil, nil, "", ""
	}
	lt = e.w.templates[g.Template.ID]
	if lt == nil {
		return data, nil, nil, "InvalidLaunchTemplateId.NotFound", "The specified launch template, with template ID " + g.Template.ID + ", does not exist"
	}
	v, err := resolveVersion(lt, g.Template.Version)
	if err != nil {
		return data, nil, nil, err.Code, err.Message
	}
	data = v.Data
	if g.Mixed && len(g.MixedTypes) > 0 {
		data.InstanceType = ec2types.InstanceType(g.MixedTypes[0])
	}
	return data, lt, v, "", ""
}

// CreateLaunchConfiguration creates a launch configuration.
func (a *AutoScalingAPI) CreateLaunchConfiguration(ctx context.Context, in *autoscaling.CreateLaunchConfigurationInput, _ ...func(*autoscaling.Options)) (*autoscaling.CreateLaunchConfigurationOutput, error) {
	return run(ctx, a.e, ServiceAutoScaling, "CreateLaunchConfiguration", in, func(in *autoscaling.CreateLaunchConfigurationInput) (*autoscaling.CreateLaunchConfigurationOutput, error) {
		e := a.e
		name := deref(in.LaunchConfigurationName)
		if name == "" || len(name) > 255 {
			return nil, validation("1 validation error detected: Value at 'launchConfigurationName' failed to satisfy constraint: Member must have length between 1 and 255")
		}
		if e.w.launchConfigs[name] != nil {
			return nil, apiErr("AlreadyExists", "Launch Configuration by this name already exists - A launch configuration already exists with the name %s", name)
		}
		if deref(in.ImageId) == "" || deref(in.InstanceType) == "" {
			return nil, validation("ImageId and InstanceType are required when no InstanceId is given.")
		}
		e.w.launchConfigs[name] = &launchConfig{Name: name, ImageID: *in.ImageId, InstanceType: *in.InstanceType,
			UserData: deref(in.UserData), KeyName: deref(in.KeyName), Created: e.now()}
		return &autoscaling.CreateLaunchConfigurationOutput{}, nil
	})
}

// DescribeLaunchConfigurations lists launch configurations by name (all
// when none are named).
func (a *AutoScalingAPI) DescribeLaunchConfigurations(ctx context.Context, in *autoscaling.DescribeLaunchConfigurationsInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribeLaunchConfigurationsOutput, error) {
	return run(ctx, a.e, ServiceAutoScaling, "DescribeLaunchConfigurations", in, func(in *autoscaling.DescribeLaunchConfigurationsInput) (*autoscaling.DescribeLaunchConfigurationsOutput, error) {
		w := a.e.readWorld()
		size, err := maxRecords(in.MaxRecords, 50, 100)
		if err != nil {
			return nil, err
		}
		var matched []*launchConfig
		for _, name := range sortedKeys(w.launchConfigs) {
			if len(in.LaunchConfigurationNames) == 0 || slices.Contains(in.LaunchConfigurationNames, name) {
				matched = append(matched, w.launchConfigs[name])
			}
		}
		items, next, perr := page(matched, in.NextToken, size)
		if perr != nil {
			return nil, perr
		}
		out := &autoscaling.DescribeLaunchConfigurationsOutput{LaunchConfigurations: []astypes.LaunchConfiguration{}, NextToken: next}
		for _, c := range items {
			out.LaunchConfigurations = append(out.LaunchConfigurations, astypes.LaunchConfiguration{LaunchConfigurationName: aws.String(c.Name),
				LaunchConfigurationARN: aws.String("arn:aws:autoscaling:" + a.e.cfg.Region + ":" + a.e.cfg.Account + ":launchConfiguration:" + c.Name),
				ImageId:                aws.String(c.ImageID), InstanceType: aws.String(c.InstanceType), UserData: aws.String(c.UserData), CreatedTime: aws.Time(c.Created)})
		}
		return out, nil
	})
}
