package sim

import (
	"context"
	"reflect"
	"slices"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func (a *EC2API) CreateLaunchTemplate(ctx context.Context, in *ec2.CreateLaunchTemplateInput, _ ...func(*ec2.Options)) (*ec2.CreateLaunchTemplateOutput, error) {
	return run(ctx, a.e, ServiceEC2, "CreateLaunchTemplate", in, func(in *ec2.CreateLaunchTemplateInput) (*ec2.CreateLaunchTemplateOutput, error) {
		e := a.e
		name := deref(in.LaunchTemplateName)
		if len(name) < 3 || len(name) > 128 {
			return nil, apiErr("InvalidLaunchTemplateName.MalformedException", "A launch template name must be between 3 and 128 characters, and may contain letters, numbers, and the following characters: - ( ) . / _.'")
		}
		if in.LaunchTemplateData == nil {
			return nil, apiErr("MissingParameter", "The request must contain the parameter LaunchTemplateData")
		}
		for _, t := range e.w.templates {
			if t.Name == name {
				return nil, apiErr("InvalidLaunchTemplateName.AlreadyExistsException", "Launch template name already in use.")
			}
		}
		lt := &launchTemplate{ID: e.newID("lt"), Name: name, DefaultVersion: 1, LatestVersion: 1, CreateTime: e.now(),
			Tags: specTags(in.TagSpecifications, "launch-template"), CreatedBy: "arn:aws:iam::" + e.cfg.Account + ":root",
			Versions: map[int64]*templateVersion{1: {Number: 1, Description: deref(in.VersionDescription), Data: *in.LaunchTemplateData, CreateTime: e.now()}}}
		e.w.templates[lt.ID] = lt
		return &ec2.CreateLaunchTemplateOutput{LaunchTemplate: e.templateOut(lt)}, nil
	})
}

func (e *Engine) templateOut(lt *launchTemplate) *ec2types.LaunchTemplate {
	return &ec2types.LaunchTemplate{LaunchTemplateId: aws.String(lt.ID), LaunchTemplateName: aws.String(lt.Name),
		DefaultVersionNumber: aws.Int64(lt.DefaultVersion), LatestVersionNumber: aws.Int64(lt.LatestVersion),
		CreateTime: aws.Time(lt.CreateTime), CreatedBy: aws.String(lt.CreatedBy), Tags: ec2Tags(lt.Tags)}
}

// findTemplate looks a template up by ID or name, with EC2's errors.
func (e *Engine) findTemplate(w *world, id, name string) (*launchTemplate, *APIError) {
	switch {
	case id != "":
		if lt := w.templates[id]; lt != nil {
			return lt, nil
		}
		return nil, apiErr("InvalidLaunchTemplateId.NotFound", "The specified launch template, with template ID %s, does not exist.", id)
	case name != "":
		for _, lt := range w.templates {
			if lt.Name == name {
				return lt, nil
			}
		}
		return nil, apiErr("InvalidLaunchTemplateName.NotFoundException", "The specified launch template, with template name %s, does not exist.", name)
	}
	return nil, apiErr("MissingParameter", "The request must contain the parameter launchTemplateName or launchTemplateId")
}

func (a *EC2API) CreateLaunchTemplateVersion(ctx context.Context, in *ec2.CreateLaunchTemplateVersionInput, _ ...func(*ec2.Options)) (*ec2.CreateLaunchTemplateVersionOutput, error) {
	return run(ctx, a.e, ServiceEC2, "CreateLaunchTemplateVersion", in, func(in *ec2.CreateLaunchTemplateVersionInput) (*ec2.CreateLaunchTemplateVersionOutput, error) {
		e := a.e
		lt, err := e.findTemplate(e.w, deref(in.LaunchTemplateId), deref(in.LaunchTemplateName))
		if err != nil {
			return nil, err
		}
		if in.LaunchTemplateData == nil {
			return nil, apiErr("MissingParameter", "The request must contain the parameter LaunchTemplateData")
		}
		if lt.LatestVersion >= 10000 {
			return nil, apiErr("VersionLimitExceeded", "You've reached the maximum number of versions (10000) for launch template %s.", lt.ID)
		}
		data := *in.LaunchTemplateData
		if in.SourceVersion != nil {
			src, verr := resolveVersion(lt, *in.SourceVersion)
			if verr != nil {
				return nil, verr
			}
			data = mergeData(src.Data, data)
		}
		lt.LatestVersion++
		v := &templateVersion{Number: lt.LatestVersion, Description: deref(in.VersionDescription), Data: data, CreateTime: e.now()}
		lt.Versions[v.Number] = v
		return &ec2.CreateLaunchTemplateVersionOutput{LaunchTemplateVersion: e.versionOut(lt, v)}, nil
	})
}

// mergeData overlays the fields set in over on base, as a new version made
// from a source version does.
func mergeData(base, over ec2types.RequestLaunchTemplateData) ec2types.RequestLaunchTemplateData {
	b, o := reflect.ValueOf(&base).Elem(), reflect.ValueOf(over)
	for i := range o.NumField() {
		if !o.Field(i).IsZero() {
			b.Field(i).Set(o.Field(i))
		}
	}
	return base
}

func (a *EC2API) ModifyLaunchTemplate(ctx context.Context, in *ec2.ModifyLaunchTemplateInput, _ ...func(*ec2.Options)) (*ec2.ModifyLaunchTemplateOutput, error) {
	return run(ctx, a.e, ServiceEC2, "ModifyLaunchTemplate", in, func(in *ec2.ModifyLaunchTemplateInput) (*ec2.ModifyLaunchTemplateOutput, error) {
		e := a.e
		lt, err := e.findTemplate(e.w, deref(in.LaunchTemplateId), deref(in.LaunchTemplateName))
		if err != nil {
			return nil, err
		}
		if in.DefaultVersion != nil {
			v, verr := resolveVersion(lt, *in.DefaultVersion)
			if verr != nil {
				return nil, verr
			}
			lt.DefaultVersion = v.Number
		}
		return &ec2.ModifyLaunchTemplateOutput{LaunchTemplate: e.templateOut(lt)}, nil
	})
}

func (a *EC2API) DescribeLaunchTemplates(ctx context.Context, in *ec2.DescribeLaunchTemplatesInput, _ ...func(*ec2.Options)) (*ec2.DescribeLaunchTemplatesOutput, error) {
	return run(ctx, a.e, ServiceEC2, "DescribeLaunchTemplates", in, func(in *ec2.DescribeLaunchTemplatesInput) (*ec2.DescribeLaunchTemplatesOutput, error) {
		e := a.e
		w := e.readWorld()
		ids := append(slices.Clone(in.LaunchTemplateIds), in.LaunchTemplateNames...)
		size, err := pageSize(ids, in.MaxResults, 1, 200)
		if err != nil {
			return nil, err
		}
		for _, id := range in.LaunchTemplateIds {
			if _, ferr := e.findTemplate(w, id, ""); ferr != nil {
				return nil, ferr
			}
		}
		for _, name := range in.LaunchTemplateNames {
			if _, ferr := e.findTemplate(w, "", name); ferr != nil {
				return nil, ferr
			}
		}
		fs := ec2Filters(in.Filters)
		var matched []*launchTemplate
		for _, id := range sortedKeys(w.templates) {
			lt := w.templates[id]
			if len(ids) > 0 && !slices.Contains(in.LaunchTemplateIds, lt.ID) && !slices.Contains(in.LaunchTemplateNames, lt.Name) {
				continue
			}
			ok, ferr := fs.match(func(name string) ([]string, bool) {
				switch name {
				case "launch-template-name":
					return []string{lt.Name}, true
				}
				return tagFilter(name, lt.Tags)
			})
			if ferr != nil {
				return nil, ferr
			}
			if ok {
				matched = append(matched, lt)
			}
		}
		items, next, perr := page(matched, in.NextToken, size)
		if perr != nil {
			return nil, perr
		}
		out := &ec2.DescribeLaunchTemplatesOutput{NextToken: next}
		for _, lt := range items {
			out.LaunchTemplates = append(out.LaunchTemplates, *e.templateOut(lt))
		}
		return out, nil
	})
}

func (a *EC2API) DescribeLaunchTemplateVersions(ctx context.Context, in *ec2.DescribeLaunchTemplateVersionsInput, _ ...func(*ec2.Options)) (*ec2.DescribeLaunchTemplateVersionsOutput, error) {
	return run(ctx, a.e, ServiceEC2, "DescribeLaunchTemplateVersions", in, func(in *ec2.DescribeLaunchTemplateVersionsInput) (*ec2.DescribeLaunchTemplateVersionsOutput, error) {
		e := a.e
		lt, err := e.findTemplate(e.readWorld(), deref(in.LaunchTemplateId), deref(in.LaunchTemplateName))
		if err != nil {
			return nil, err
		}
		var picked []*templateVersion
		if len(in.Versions) > 0 {
			for _, spec := range in.Versions {
				v, verr := resolveVersion(lt, spec)
				if verr != nil {
					return nil, verr
				}
				if !slices.Contains(picked, v) {
					picked = append(picked, v)
				}
			}
		} else {
			for n := int64(1); n <= lt.LatestVersion; n++ {
				if v := lt.Versions[n]; v != nil {
					if lo, err := strconv.ParseInt(deref(in.MinVersion), 10, 64); err == nil && n < lo {
						continue
					}
					if hi, err := strconv.ParseInt(deref(in.MaxVersion), 10, 64); err == nil && n > hi {
						continue
					}
					picked = append(picked, v)
				}
			}
		}
		size := 1000
		if in.MaxResults != nil {
			size = int(*in.MaxResults)
		}
		var out []ec2types.LaunchTemplateVersion
		for _, v := range picked {
			out = append(out, *e.versionOut(lt, v))
		}
		items, next, perr := page(out, in.NextToken, size)
		if perr != nil {
			return nil, perr
		}
		return &ec2.DescribeLaunchTemplateVersionsOutput{LaunchTemplateVersions: items, NextToken: next}, nil
	})
}

func (e *Engine) versionOut(lt *launchTemplate, v *templateVersion) *ec2types.LaunchTemplateVersion {
	return &ec2types.LaunchTemplateVersion{LaunchTemplateId: aws.String(lt.ID), LaunchTemplateName: aws.String(lt.Name),
		VersionNumber: aws.Int64(v.Number), VersionDescription: aws.String(v.Description), DefaultVersion: aws.Bool(lt.DefaultVersion == v.Number),
		CreateTime: aws.Time(v.CreateTime), CreatedBy: aws.String(lt.CreatedBy), LaunchTemplateData: responseData(v.Data)}
}

// responseData converts the stored request form of launch-template data to
// the response form, for the fields the product uses.
func responseData(d ec2types.RequestLaunchTemplateData) *ec2types.ResponseLaunchTemplateData {
	out := &ec2types.ResponseLaunchTemplateData{ImageId: d.ImageId, InstanceType: d.InstanceType, KeyName: d.KeyName,
		UserData: d.UserData, SecurityGroupIds: d.SecurityGroupIds, SecurityGroups: d.SecurityGroups, EbsOptimized: d.EbsOptimized}
	if p := d.IamInstanceProfile; p != nil {
		out.IamInstanceProfile = &ec2types.LaunchTemplateIamInstanceProfileSpecification{Arn: p.Arn, Name: p.Name}
	}
	if m := d.MetadataOptions; m != nil {
		out.MetadataOptions = &ec2types.LaunchTemplateInstanceMetadataOptions{HttpTokens: ec2types.LaunchTemplateHttpTokensState(m.HttpTokens),
			HttpPutResponseHopLimit: m.HttpPutResponseHopLimit, HttpEndpoint: ec2types.LaunchTemplateInstanceMetadataEndpointState(m.HttpEndpoint),
			InstanceMetadataTags: ec2types.LaunchTemplateInstanceMetadataTagsState(m.InstanceMetadataTags), State: ec2types.LaunchTemplateInstanceMetadataOptionsStateApplied}
	}
	for _, n := range d.NetworkInterfaces {
		out.NetworkInterfaces = append(out.NetworkInterfaces, ec2types.LaunchTemplateInstanceNetworkInterfaceSpecification{
			DeviceIndex: n.DeviceIndex, NetworkInterfaceId: n.NetworkInterfaceId, DeleteOnTermination: n.DeleteOnTermination,
			SubnetId: n.SubnetId, Groups: n.Groups, Description: n.Description, AssociatePublicIpAddress: n.AssociatePublicIpAddress})
	}
	for _, b := range d.BlockDeviceMappings {
		m := ec2types.LaunchTemplateBlockDeviceMapping{DeviceName: b.DeviceName, NoDevice: b.NoDevice, VirtualName: b.VirtualName}
		if eb := b.Ebs; eb != nil {
			m.Ebs = &ec2types.LaunchTemplateEbsBlockDevice{DeleteOnTermination: eb.DeleteOnTermination, Encrypted: eb.Encrypted, Iops: eb.Iops,
				KmsKeyId: eb.KmsKeyId, SnapshotId: eb.SnapshotId, Throughput: eb.Throughput, VolumeSize: eb.VolumeSize, VolumeType: eb.VolumeType}
		}
		out.BlockDeviceMappings = append(out.BlockDeviceMappings, m)
	}
	for _, t := range d.TagSpecifications {
		out.TagSpecifications = append(out.TagSpecifications, ec2types.LaunchTemplateTagSpecification{ResourceType: t.ResourceType, Tags: t.Tags})
	}
	return out
}
