package sim

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// EC2API is the engine seen through the EC2 API (awsapi.EC2).
type EC2API struct{ e *Engine }

// EC2 returns the engine's EC2 API.
func (e *Engine) EC2() *EC2API { return &EC2API{e} }

func (a *EC2API) CreateVpc(ctx context.Context, in *ec2.CreateVpcInput, _ ...func(*ec2.Options)) (*ec2.CreateVpcOutput, error) {
	return run(ctx, a.e, ServiceEC2, "CreateVpc", in, func(in *ec2.CreateVpcInput) (*ec2.CreateVpcOutput, error) {
		e := a.e
		if _, err := netip.ParsePrefix(deref(in.CidrBlock)); err != nil {
			return nil, apiErr("InvalidParameterValue", "Value (%s) for parameter cidrBlock is invalid. This is not a valid CIDR block.", deref(in.CidrBlock))
		}
		v := &vpc{ID: e.newID("vpc"), CIDR: *in.CidrBlock, Tags: specTags(in.TagSpecifications, "vpc")}
		e.w.vpcs[v.ID] = v
		return &ec2.CreateVpcOutput{Vpc: &ec2types.Vpc{VpcId: aws.String(v.ID), CidrBlock: aws.String(v.CIDR),
			State: ec2types.VpcStateAvailable, Tags: ec2Tags(v.Tags), OwnerId: aws.String(e.cfg.Account)}}, nil
	})
}

func (a *EC2API) CreateSubnet(ctx context.Context, in *ec2.CreateSubnetInput, _ ...func(*ec2.Options)) (*ec2.CreateSubnetOutput, error) {
	return run(ctx, a.e, ServiceEC2, "CreateSubnet", in, func(in *ec2.CreateSubnetInput) (*ec2.CreateSubnetOutput, error) {
		e := a.e
		v := e.w.vpcs[deref(in.VpcId)]
		if v == nil {
			return nil, apiErr("InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", deref(in.VpcId))
		}
		p, err := netip.ParsePrefix(deref(in.CidrBlock))
		vp, _ := netip.ParsePrefix(v.CIDR)
		if err != nil || !vp.Contains(p.Addr()) || p.Bits() < vp.Bits() {
			return nil, apiErr("InvalidSubnet.Range", "The CIDR '%s' is invalid.", deref(in.CidrBlock))
		}
		az := deref(in.AvailabilityZone)
		if az == "" {
			az = e.cfg.Region + "a"
		}
		s := &subnet{ID: e.newID("subnet"), VpcID: v.ID, AZ: az, CIDR: p.Masked().String(), Tags: specTags(in.TagSpecifications, "subnet")}
		e.w.subnets[s.ID] = s
		return &ec2.CreateSubnetOutput{Subnet: &ec2types.Subnet{SubnetId: aws.String(s.ID), VpcId: aws.String(s.VpcID),
			AvailabilityZone: aws.String(s.AZ), AvailabilityZoneId: aws.String(azID(s.AZ)), CidrBlock: aws.String(s.CIDR), State: ec2types.SubnetStateAvailable,
			AvailableIpAddressCount: aws.Int32(int32(1<<(32-p.Bits())) - 5), Tags: ec2Tags(s.Tags), OwnerId: aws.String(e.cfg.Account)}}, nil
	})
}

// azID names an AZ the way AWS's zone IDs look (us-east-1a -> use1-az1).
func azID(az string) string {
	if len(az) < 2 {
		return az
	}
	parts := strings.Split(az[:len(az)-1], "-")
	short := ""
	for _, p := range parts[:len(parts)-1] {
		short += p[:min(len(p), 2)]
	}
	short += parts[len(parts)-1]
	return fmt.Sprintf("%s-az%d", short, az[len(az)-1]-'a'+1)
}

// nextIP picks the lowest free address of the subnet past the five AWS
// reserves.
func (e *Engine) nextIP(s *subnet) string {
	p, _ := netip.ParsePrefix(s.CIDR)
	used := map[string]bool{}
	for _, n := range e.w.enis {
		used[n.IP] = true
	}
	for _, i := range e.w.instances {
		if i.State != ec2Terminated {
			used[i.IP] = true
		}
	}
	a := p.Addr()
	for range 4 {
		a = a.Next()
	}
	for a = a.Next(); p.Contains(a); a = a.Next() {
		if !used[a.String()] {
			return a.String()
		}
	}
	return ""
}

func (a *EC2API) CreateNetworkInterface(ctx context.Context, in *ec2.CreateNetworkInterfaceInput, _ ...func(*ec2.Options)) (*ec2.CreateNetworkInterfaceOutput, error) {
	return run(ctx, a.e, ServiceEC2, "CreateNetworkInterface", in, func(in *ec2.CreateNetworkInterfaceInput) (*ec2.CreateNetworkInterfaceOutput, error) {
		e := a.e
		s := e.w.subnets[deref(in.SubnetId)]
		if s == nil {
			return nil, apiErr("InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", deref(in.SubnetId))
		}
		ip := deref(in.PrivateIpAddress)
		if ip == "" {
			ip = e.nextIP(s)
		}
		addr, err := netip.ParseAddr(ip)
		p, _ := netip.ParsePrefix(s.CIDR)
		if err != nil || !p.Contains(addr) {
			return nil, apiErr("InvalidParameterValue", "Address %s does not fall within the subnet's address range", ip)
		}
		for _, n := range e.w.enis {
			if n.IP == ip && n.SubnetID == s.ID {
				return nil, apiErr("InvalidIPAddress.InUse", "The specified address is already in use.")
			}
		}
		n := &eni{ID: e.newID("eni"), SubnetID: s.ID, VpcID: s.VpcID, AZ: s.AZ, IP: ip, Description: deref(in.Description),
			Groups: slices.Clone(in.Groups), Status: "available", Tags: specTags(in.TagSpecifications, "network-interface")}
		b := addr.As4()
		n.MAC = fmt.Sprintf("02:%02x:%02x:%02x:%02x:%02x", e.rng.Intn(256), b[0]^b[1], b[1], b[2], b[3])
		e.w.enis[n.ID] = n
		return &ec2.CreateNetworkInterfaceOutput{NetworkInterface: e.eniOut(n)}, nil
	})
}

func (e *Engine) eniOut(n *eni) *ec2types.NetworkInterface {
	out := &ec2types.NetworkInterface{
		NetworkInterfaceId: aws.String(n.ID), SubnetId: aws.String(n.SubnetID), VpcId: aws.String(n.VpcID),
		AvailabilityZone: aws.String(n.AZ), PrivateIpAddress: aws.String(n.IP), MacAddress: aws.String(n.MAC),
		Description: aws.String(n.Description), Status: ec2types.NetworkInterfaceStatus(n.Status),
		InterfaceType: ec2types.NetworkInterfaceTypeInterface, OwnerId: aws.String(e.cfg.Account),
		SourceDestCheck: aws.Bool(true), RequesterManaged: aws.Bool(false), TagSet: ec2Tags(n.Tags),
		PrivateIpAddresses: []ec2types.NetworkInterfacePrivateIpAddress{{PrivateIpAddress: aws.String(n.IP), Primary: aws.Bool(true)}},
	}
	for _, g := range n.Groups {
		out.Groups = append(out.Groups, ec2types.GroupIdentifier{GroupId: aws.String(g)})
	}
	if n.InstanceID != "" {
		out.Attachment = &ec2types.NetworkInterfaceAttachment{AttachmentId: aws.String(n.AttachmentID), InstanceId: aws.String(n.InstanceID),
			DeviceIndex: aws.Int32(0), Status: ec2types.AttachmentStatusAttached, AttachTime: aws.Time(n.AttachTime),
			DeleteOnTermination: aws.Bool(false), InstanceOwnerId: aws.String(e.cfg.Account)}
	}
	return out
}

func (a *EC2API) DescribeNetworkInterfaces(ctx context.Context, in *ec2.DescribeNetworkInterfacesInput, _ ...func(*ec2.Options)) (*ec2.DescribeNetworkInterfacesOutput, error) {
	return run(ctx, a.e, ServiceEC2, "DescribeNetworkInterfaces", in, func(in *ec2.DescribeNetworkInterfacesInput) (*ec2.DescribeNetworkInterfacesOutput, error) {
		e := a.e
		w := e.readWorld()
		size, err := pageSize(in.NetworkInterfaceIds, in.MaxResults, 5, 1000)
		if err != nil {
			return nil, err
		}
		for _, id := range in.NetworkInterfaceIds {
			if w.enis[id] == nil {
				return nil, apiErr("InvalidNetworkInterfaceID.NotFound", "The networkInterface ID '%s' does not exist", id)
			}
		}
		fs := ec2Filters(in.Filters)
		var out []ec2types.NetworkInterface
		for _, id := range sortedKeys(w.enis) {
			n := w.enis[id]
			if len(in.NetworkInterfaceIds) > 0 && !slices.Contains(in.NetworkInterfaceIds, id) {
				continue
			}
			ok, ferr := fs.match(func(name string) ([]string, bool) {
				switch name {
				case "network-interface-id":
					return []string{n.ID}, true
				case "subnet-id":
					return []string{n.SubnetID}, true
				case "vpc-id":
					return []string{n.VpcID}, true
				case "availability-zone":
					return []string{n.AZ}, true
				case "status":
					return []string{n.Status}, true
				case "private-ip-address", "addresses.private-ip-address":
					return []string{n.IP}, true
				case "attachment.instance-id":
					return []string{n.InstanceID}, true
				}
				return tagFilter(name, n.Tags)
			})
			if ferr != nil {
				return nil, ferr
			}
			if ok {
				out = append(out, *e.eniOut(n))
			}
		}
		items, next, perr := page(out, in.NextToken, size)
		if perr != nil {
			return nil, perr
		}
		return &ec2.DescribeNetworkInterfacesOutput{NetworkInterfaces: items, NextToken: next}, nil
	})
}

func (a *EC2API) CreateVolume(ctx context.Context, in *ec2.CreateVolumeInput, _ ...func(*ec2.Options)) (*ec2.CreateVolumeOutput, error) {
	return run(ctx, a.e, ServiceEC2, "CreateVolume", in, func(in *ec2.CreateVolumeInput) (*ec2.CreateVolumeOutput, error) {
		e := a.e
		az := deref(in.AvailabilityZone)
		if az == "" {
			return nil, apiErr("MissingParameter", "The request must contain the parameter AvailabilityZone")
		}
		size := deref(in.Size)
		if size < 1 || size > 65536 {
			return nil, apiErr("InvalidParameterValue", "Volume size %d is out of range: sizes from 1 to 65536 GiB are allowed.", size)
		}
		typ := string(in.VolumeType)
		if typ == "" {
			typ = "gp2"
		}
		v := &volume{ID: e.newID("vol"), AZ: az, Type: typ, Size: size, Iops: deref(in.Iops), Throughput: deref(in.Throughput),
			Encrypted: deref(in.Encrypted), KmsKeyID: deref(in.KmsKeyId), State: "creating", CreateTime: e.now(),
			Tags: specTags(in.TagSpecifications, "volume")}
		e.w.volumes[v.ID] = v
		id := v.ID
		e.after(e.cfg.Timings.VolumeCreateDelay, func() {
			if v := e.w.volumes[id]; v != nil && v.State == "creating" {
				v.State = "available"
			}
		})
		vo := e.volumeOut(v)
		return &ec2.CreateVolumeOutput{VolumeId: vo.VolumeId, AvailabilityZone: vo.AvailabilityZone, Size: vo.Size,
			State: vo.State, VolumeType: vo.VolumeType, Encrypted: vo.Encrypted, CreateTime: vo.CreateTime, Tags: vo.Tags,
			Iops: vo.Iops, Throughput: vo.Throughput, KmsKeyId: vo.KmsKeyId, MultiAttachEnabled: aws.Bool(false)}, nil
	})
}

func (e *Engine) volumeOut(v *volume) ec2types.Volume {
	out := ec2types.Volume{VolumeId: aws.String(v.ID), AvailabilityZone: aws.String(v.AZ), Size: aws.Int32(v.Size),
		State: ec2types.VolumeState(v.State), VolumeType: ec2types.VolumeType(v.Type), Encrypted: aws.Bool(v.Encrypted),
		CreateTime: aws.Time(v.CreateTime), Tags: ec2Tags(v.Tags), MultiAttachEnabled: aws.Bool(false),
		Attachments: []ec2types.VolumeAttachment{}}
	if v.Iops > 0 {
		out.Iops = aws.Int32(v.Iops)
	}
	if v.Throughput > 0 {
		out.Throughput = aws.Int32(v.Throughput)
	}
	if v.KmsKeyID != "" {
		out.KmsKeyId = aws.String(v.KmsKeyID)
	}
	if v.Att != nil {
		out.Attachments = []ec2types.VolumeAttachment{attachmentOut(v, v.Att)}
	}
	return out
}

func attachmentOut(v *volume, at *attachment) ec2types.VolumeAttachment {
	return ec2types.VolumeAttachment{VolumeId: aws.String(v.ID), InstanceId: aws.String(at.InstanceID), Device: aws.String(at.Device),
		State: ec2types.VolumeAttachmentState(at.State), AttachTime: aws.Time(at.AttachTime), DeleteOnTermination: aws.Bool(at.DeleteOnTermination)}
}

func (a *EC2API) DescribeVolumes(ctx context.Context, in *ec2.DescribeVolumesInput, _ ...func(*ec2.Options)) (*ec2.DescribeVolumesOutput, error) {
	return run(ctx, a.e, ServiceEC2, "DescribeVolumes", in, func(in *ec2.DescribeVolumesInput) (*ec2.DescribeVolumesOutput, error) {
		e := a.e
		w := e.readWorld()
		size, err := pageSize(in.VolumeIds, in.MaxResults, 5, 500)
		if err != nil {
			return nil, err
		}
		for _, id := range in.VolumeIds {
			if w.volumes[id] == nil {
				return nil, apiErr("InvalidVolume.NotFound", "The volume '%s' does not exist.", id)
			}
		}
		fs := ec2Filters(in.Filters)
		var out []ec2types.Volume
		for _, id := range sortedKeys(w.volumes) {
			v := w.volumes[id]
			if len(in.VolumeIds) > 0 && !slices.Contains(in.VolumeIds, id) {
				continue
			}
			ok, ferr := fs.match(func(name string) ([]string, bool) {
				switch name {
				case "volume-id":
					return []string{v.ID}, true
				case "status":
					return []string{v.State}, true
				case "availability-zone":
					return []string{v.AZ}, true
				case "volume-type":
					return []string{v.Type}, true
				case "attachment.instance-id", "attachment.status", "attachment.device":
					if v.Att == nil {
						return nil, true
					}
					return []string{map[string]string{"attachment.instance-id": v.Att.InstanceID, "attachment.status": v.Att.State, "attachment.device": v.Att.Device}[name]}, true
				}
				return tagFilter(name, v.Tags)
			})
			if ferr != nil {
				return nil, ferr
			}
			if ok {
				out = append(out, e.volumeOut(v))
			}
		}
		items, next, perr := page(out, in.NextToken, size)
		if perr != nil {
			return nil, perr
		}
		return &ec2.DescribeVolumesOutput{Volumes: items, NextToken: next}, nil
	})
}

func (a *EC2API) AttachVolume(ctx context.Context, in *ec2.AttachVolumeInput, _ ...func(*ec2.Options)) (*ec2.AttachVolumeOutput, error) {
	return run(ctx, a.e, ServiceEC2, "AttachVolume", in, func(in *ec2.AttachVolumeInput) (*ec2.AttachVolumeOutput, error) {
		e := a.e
		volID, instID, dev := deref(in.VolumeId), deref(in.InstanceId), deref(in.Device)
		v := e.w.volumes[volID]
		if v == nil {
			return nil, apiErr("InvalidVolume.NotFound", "The volume '%s' does not exist.", volID)
		}
		i := e.w.instances[instID]
		if i == nil {
			return nil, apiErr("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", instID)
		}
		if dev == "" {
			return nil, apiErr("MissingParameter", "The request must contain the parameter device")
		}
		if i.State != ec2Running {
			return nil, apiErr("IncorrectState", "Instance '%s' is not 'running'.", instID)
		}
		if v.Att != nil {
			return nil, apiErr("VolumeInUse", "%s is already attached to an instance", volID)
		}
		if v.State != "available" {
			return nil, apiErr("IncorrectState", "%s is not 'available'.", volID)
		}
		if v.AZ != i.AZ {
			return nil, apiErr("InvalidVolume.ZoneMismatch", "The volume '%s' is not in the same availability zone as instance '%s'", volID, instID)
		}
		for _, o := range e.w.volumes {
			if o.Att != nil && o.Att.InstanceID == instID && o.Att.Device == dev {
				return nil, apiErr("InvalidParameterValue", "Invalid value '%s' for unixDevice. Attachment point %s is already in use", dev, dev)
			}
		}
		v.State = "in-use"
		v.Att = &attachment{InstanceID: instID, Device: dev, State: "attaching", AttachTime: e.now()}
		at := v.Att
		e.after(e.cfg.Timings.VolumeAttachDelay, func() {
			if at.State == "attaching" {
				at.State = "attached"
				e.notify(Change{Instance: instID, Volume: volID, Attachment: "attached"})
			}
		})
		o := attachmentOut(v, at)
		return &ec2.AttachVolumeOutput{VolumeId: o.VolumeId, InstanceId: o.InstanceId, Device: o.Device, State: o.State,
			AttachTime: o.AttachTime, DeleteOnTermination: o.DeleteOnTermination}, nil
	})
}

func (a *EC2API) DetachVolume(ctx context.Context, in *ec2.DetachVolumeInput, _ ...func(*ec2.Options)) (*ec2.DetachVolumeOutput, error) {
	return run(ctx, a.e, ServiceEC2, "DetachVolume", in, func(in *ec2.DetachVolumeInput) (*ec2.DetachVolumeOutput, error) {
		e := a.e
		volID := deref(in.VolumeId)
		v := e.w.volumes[volID]
		if v == nil {
			return nil, apiErr("InvalidVolume.NotFound", "The volume '%s' does not exist.", volID)
		}
		if v.Att == nil {
			return nil, apiErr("IncorrectState", "Volume '%s' is in the '%s' state.", volID, v.State)
		}
		if id := deref(in.InstanceId); id != "" && id != v.Att.InstanceID {
			return nil, apiErr("InvalidAttachment.NotFound", "Volume '%s' is not attached to instance '%s'.", volID, id)
		}
		if v.Att.State == "detaching" {
			return nil, apiErr("IncorrectState", "Volume '%s' is in the 'detaching' state.", volID)
		}
		at := v.Att
		at.State = "detaching"
		e.after(e.cfg.Timings.VolumeDetachDelay, func() {
			if v := e.w.volumes[volID]; v != nil && v.Att == at {
				v.Att, v.State = nil, "available"
				e.notify(Change{Instance: at.InstanceID, Volume: volID, Attachment: "detached"})
			}
		})
		o := attachmentOut(v, at)
		return &ec2.DetachVolumeOutput{VolumeId: o.VolumeId, InstanceId: o.InstanceId, Device: o.Device, State: o.State,
			AttachTime: o.AttachTime, DeleteOnTermination: o.DeleteOnTermination}, nil
	})
}

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

var stateCodes = map[string]int32{ec2Pending: 0, ec2Running: 16, ec2ShuttingDown: 32, ec2Terminated: 48}

func (e *Engine) instanceOut(w *world, i *instance) ec2types.Instance {
	out := ec2types.Instance{InstanceId: aws.String(i.ID), ImageId: aws.String(i.ImageID), InstanceType: ec2types.InstanceType(i.Type),
		State:      &ec2types.InstanceState{Code: aws.Int32(stateCodes[i.State]), Name: ec2types.InstanceStateName(i.State)},
		LaunchTime: aws.Time(i.LaunchTime), Placement: &ec2types.Placement{AvailabilityZone: aws.String(i.AZ), Tenancy: ec2types.TenancyDefault},
		Tags: ec2Tags(i.Tags), Architecture: ec2types.ArchitectureValuesX8664, RootDeviceType: ec2types.DeviceTypeEbs,
		RootDeviceName: aws.String("/dev/xvda"), VirtualizationType: ec2types.VirtualizationTypeHvm, Hypervisor: ec2types.HypervisorTypeXen,
		AmiLaunchIndex: aws.Int32(0), EbsOptimized: aws.Bool(false), StateTransitionReason: aws.String(""),
		Monitoring: &ec2types.Monitoring{State: ec2types.MonitoringStateDisabled}}
	if i.KeyName != "" {
		out.KeyName = aws.String(i.KeyName)
	}
	if i.State == ec2Terminated || i.State == ec2ShuttingDown {
		out.StateTransitionReason = aws.String(i.StateReason)
		out.StateReason = &ec2types.StateReason{Code: aws.String("Client.UserInitiatedShutdown"), Message: aws.String("Client.UserInitiatedShutdown: User initiated shutdown")}
	}
	if i.State != ec2Terminated {
		out.SubnetId, out.VpcId = aws.String(i.SubnetID), aws.String(i.VpcID)
		if i.IP != "" {
			out.PrivateIpAddress = aws.String(i.IP)
		}
		if n := w.enis[i.ENI]; n != nil && n.InstanceID == i.ID {
			out.NetworkInterfaces = []ec2types.InstanceNetworkInterface{{NetworkInterfaceId: aws.String(n.ID), SubnetId: aws.String(n.SubnetID),
				VpcId: aws.String(n.VpcID), PrivateIpAddress: aws.String(n.IP), MacAddress: aws.String(n.MAC), Status: ec2types.NetworkInterfaceStatusInUse,
				PrivateIpAddresses: []ec2types.InstancePrivateIpAddress{{PrivateIpAddress: aws.String(n.IP), Primary: aws.Bool(true)}},
				Attachment: &ec2types.InstanceNetworkInterfaceAttachment{AttachmentId: aws.String(n.AttachmentID), DeviceIndex: aws.Int32(0),
					Status: ec2types.AttachmentStatusAttached, AttachTime: aws.Time(n.AttachTime), DeleteOnTermination: aws.Bool(false)}}}
		}
		for _, v := range sortedValues(w.volumes) {
			if v.Att != nil && v.Att.InstanceID == i.ID {
				out.BlockDeviceMappings = append(out.BlockDeviceMappings, ec2types.InstanceBlockDeviceMapping{DeviceName: aws.String(v.Att.Device),
					Ebs: &ec2types.EbsInstanceBlockDevice{VolumeId: aws.String(v.ID), Status: ec2types.AttachmentStatus(v.Att.State),
						AttachTime: aws.Time(v.Att.AttachTime), DeleteOnTermination: aws.Bool(false)}})
			}
		}
	}
	out.MetadataOptions = &ec2types.InstanceMetadataOptionsResponse{HttpTokens: ec2types.HttpTokensStateRequired,
		HttpPutResponseHopLimit: aws.Int32(i.HopLimit), HttpEndpoint: ec2types.InstanceMetadataEndpointStateEnabled,
		State: ec2types.InstanceMetadataOptionsStateApplied}
	return out
}

func (a *EC2API) DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	return run(ctx, a.e, ServiceEC2, "DescribeInstances", in, func(in *ec2.DescribeInstancesInput) (*ec2.DescribeInstancesOutput, error) {
		e := a.e
		w := e.readWorld()
		size, err := pageSize(in.InstanceIds, in.MaxResults, 5, 1000)
		if err != nil {
			return nil, err
		}
		for _, id := range in.InstanceIds {
			if w.instances[id] == nil {
				return nil, apiErr("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
			}
		}
		fs := ec2Filters(in.Filters)
		var out []ec2types.Reservation
		for _, id := range w.order {
			i := w.instances[id]
			if len(in.InstanceIds) > 0 && !slices.Contains(in.InstanceIds, id) {
				continue
			}
			ok, ferr := fs.match(func(name string) ([]string, bool) {
				switch name {
				case "instance-id":
					return []string{i.ID}, true
				case "instance-state-name":
					return []string{i.State}, true
				case "availability-zone":
					return []string{i.AZ}, true
				case "private-ip-address":
					return []string{i.IP}, true
				case "network-interface.network-interface-id":
					return []string{i.ENI}, true
				case "subnet-id":
					return []string{i.SubnetID}, true
				}
				return tagFilter(name, i.Tags)
			})
			if ferr != nil {
				return nil, ferr
			}
			if ok {
				out = append(out, ec2types.Reservation{ReservationId: aws.String("r-" + i.ID[2:]), OwnerId: aws.String(e.cfg.Account),
					Instances: []ec2types.Instance{e.instanceOut(w, i)}})
			}
		}
		items, next, perr := page(out, in.NextToken, size)
		if perr != nil {
			return nil, perr
		}
		return &ec2.DescribeInstancesOutput{Reservations: items, NextToken: next}, nil
	})
}

func (a *EC2API) TerminateInstances(ctx context.Context, in *ec2.TerminateInstancesInput, _ ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error) {
	return run(ctx, a.e, ServiceEC2, "TerminateInstances", in, func(in *ec2.TerminateInstancesInput) (*ec2.TerminateInstancesOutput, error) {
		e := a.e
		for _, id := range in.InstanceIds {
			if e.w.instances[id] == nil {
				return nil, apiErr("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
			}
		}
		out := &ec2.TerminateInstancesOutput{}
		for _, id := range in.InstanceIds {
			i := e.w.instances[id]
			prev := i.State
			if i.State == ec2Pending || i.State == ec2Running {
				e.shutdown(i, "User initiated")
			}
			out.TerminatingInstances = append(out.TerminatingInstances, ec2types.InstanceStateChange{InstanceId: aws.String(id),
				PreviousState: &ec2types.InstanceState{Code: aws.Int32(stateCodes[prev]), Name: ec2types.InstanceStateName(prev)},
				CurrentState:  &ec2types.InstanceState{Code: aws.Int32(stateCodes[i.State]), Name: ec2types.InstanceStateName(i.State)}})
		}
		return out, nil
	})
}

// pageSize applies EC2's rules: IDs and MaxResults do not mix, and
// MaxResults has a range.
func pageSize(ids []string, max *int32, lo, hi int32) (int, *APIError) {
	if max == nil {
		return 1 << 30, nil
	}
	if len(ids) > 0 {
		return 0, apiErr("InvalidParameterCombination", "The parameter ids cannot be used with the parameter maxResults")
	}
	if *max < lo || *max > hi {
		return 0, apiErr("InvalidParameterValue", "Value ( %d ) for parameter maxResults is invalid. Expecting a value between %d and %d.", *max, lo, hi)
	}
	return int(*max), nil
}

func ec2Filters(in []ec2types.Filter) filterSet {
	var fs filterSet
	for _, f := range in {
		fs = append(fs, struct {
			name   string
			values []string
		}{deref(f.Name), f.Values})
	}
	return fs
}

func specTags(specs []ec2types.TagSpecification, resource string) tags {
	t := tags{}
	for _, s := range specs {
		if string(s.ResourceType) == resource {
			for _, tg := range s.Tags {
				t[deref(tg.Key)] = deref(tg.Value)
			}
		}
	}
	return t
}

func ec2Tags(t tags) []ec2types.Tag {
	var out []ec2types.Tag
	for _, k := range sortedKeys(t) {
		out = append(out, ec2types.Tag{Key: aws.String(k), Value: aws.String(t[k])})
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sortedValues[V any](m map[string]*V) []*V {
	var out []*V
	for _, k := range sortedKeys(m) {
		out = append(out, m[k])
	}
	return out
}
