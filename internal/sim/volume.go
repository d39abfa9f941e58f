package sim

import (
	"context"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

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
		if v.Att.State == "detaching" || v.Att.State == "busy" {
			return nil, apiErr("IncorrectState", "Volume '%s' is in the '%s' state.", volID, v.Att.State)
		}
		at := v.Att
		e.detachWhenUnmounted(volID, at)
		o := attachmentOut(v, at)
		o.State = "detaching"
		return &ec2.DetachVolumeOutput{VolumeId: o.VolumeId, InstanceId: o.InstanceId, Device: o.Device, State: o.State,
			AttachTime: o.AttachTime, DeleteOnTermination: o.DeleteOnTermination}, nil
	})
}

// detachWhenUnmounted finishes a detach: at once when the volume is not
// mounted on its instance, else the attachment sticks in busy (EC2 leaves
// it so "indefinitely" until the volume is unmounted, force-detached or the
// instance goes) and is looked at again every second.
func (e *Engine) detachWhenUnmounted(volID string, at *attachment) {
	if e.cfg.VolumeMounted != nil && e.cfg.VolumeMounted(volID) {
		at.State = "busy"
		e.after(time.Second, func() {
			if v := e.w.volumes[volID]; v != nil && v.Att == at && at.State == "busy" {
				e.detachWhenUnmounted(volID, at)
			}
		})
		return
	}
	at.State = "detaching"
	e.after(e.cfg.Timings.VolumeDetachDelay, func() {
		if v := e.w.volumes[volID]; v != nil && v.Att == at {
			v.Att, v.State = nil, "available"
			e.notify(Change{Instance: at.InstanceID, Volume: volID, Attachment: "detached"})
		}
	})
}
