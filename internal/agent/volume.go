package agent

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/cluster"
)

// findVolume returns the node's volume: the configured ID, or the one
// volume tagged with this cluster and node.
func (a *Agent) findVolume(ctx context.Context) (ec2types.Volume, error) {
	in := &ec2.DescribeVolumesInput{}
	if a.cfg.Volume.ID != "" {
		in.VolumeIds = []string{a.cfg.Volume.ID}
	} else {
		in.Filters = []ec2types.Filter{
			{Name: aws.String("tag:" + cluster.TagCluster), Values: []string{a.cfg.Cluster}},
			{Name: aws.String("tag:" + cluster.TagNodeID), Values: []string{a.cfg.NodeID}},
		}
	}
	out, err := a.d.EC2.DescribeVolumes(ctx, in)
	if err != nil {
		return ec2types.Volume{}, fmt.Errorf("describing the node's volume: %w", err)
	}
	switch len(out.Volumes) {
	case 0:
		return ec2types.Volume{}, fmt.Errorf("%w: no volume tagged %s=%s and %s=%s", ErrRefused, cluster.TagCluster, a.cfg.Cluster, cluster.TagNodeID, a.cfg.NodeID)
	case 1:
		return out.Volumes[0], nil
	}
	var ids []string
	for _, v := range out.Volumes {
		ids = append(ids, aws.ToString(v.VolumeId))
	}
	return ec2types.Volume{}, fmt.Errorf("%w: %d volumes are tagged for node %s (%s); exactly one must be", ErrRefused, len(ids), a.cfg.NodeID, strings.Join(ids, ", "))
}

// claimVolume attaches the node's volume to this instance, waiting for a
// predecessor that is terminating (or being replaced by this node's group)
// to release it, and refusing to take it from any other running instance.
// It returns the volume ID once the attachment is "attached".
func (a *Agent) claimVolume(ctx context.Context) (string, error) {
	deadline := a.d.Clock.Now().Add(time.Duration(a.cfg.Timeouts.Volume) * time.Second)
	waitingFor := ""
	// Look again soon after a change (an attach takes seconds), then back
	// off to the poll interval.
	wait := minVolumeWait
	for {
		vol, err := a.findVolume(ctx)
		if err != nil && !awsapi.Transient(err) {
			return "", err
		}
		if err == nil {
			id := aws.ToString(vol.VolumeId)
			if az := aws.ToString(vol.AvailabilityZone); az != a.az {
				return "", fmt.Errorf("%w: volume %s is in %s, this instance in %s", ErrRefused, id, az, a.az)
			}
			done, why, err := a.claimStep(ctx, vol)
			if err != nil {
				return "", err
			}
			if done {
				a.volumeBytes = int64(aws.ToInt32(vol.Size)) << 30
				return id, nil
			}
			if why != waitingFor {
				a.log.Info("waiting for the volume", "volume_id", id, "reason", why)
				waitingFor = why
				wait = minVolumeWait
			}
		}
		if !a.d.Clock.Now().Before(deadline) {
			return "", fmt.Errorf("the volume was not attached within %ds: %s", a.cfg.Timeouts.Volume, waitingFor)
		}
		if err := clock.Sleep(ctx, a.d.Clock, wait); err != nil {
			return "", err
		}
		wait = nextVolumeWait(wait, a.d.Poll)
	}
}

// minVolumeWait is the first (and shortest) pause between looks at the
// volume: an attach takes seconds.
const minVolumeWait = 100 * time.Millisecond

// nextVolumeWait doubles the pause up to the poll interval (never below
// minVolumeWait): the doubling is capped before it can overflow, so a
// hand-off that takes minutes costs one look per poll, not a busy loop.
func nextVolumeWait(wait, poll time.Duration) time.Duration {
	ceiling := max(poll, minVolumeWait)
	if wait >= ceiling/2 {
		return ceiling
	}
	return max(2*wait, minVolumeWait)
}

// claimStep looks at the volume once and acts: it reports done when the
// volume is attached here, or why it waits.
func (a *Agent) claimStep(ctx context.Context, vol ec2types.Volume) (bool, string, error) {
	id := aws.ToString(vol.VolumeId)
	if len(vol.Attachments) > 0 {
		at := vol.Attachments[0]
		holder := aws.ToString(at.InstanceId)
		if holder == a.instanceID {
			if at.State == ec2types.VolumeAttachmentStateAttached {
				return true, "", nil
			}
			return false, "attachment to this instance is " + string(at.State), nil
		}
		return a.predecessor(ctx, id, holder, string(at.State))
	}
	if vol.State != ec2types.VolumeStateAvailable {
		return false, "volume is " + string(vol.State), nil
	}
	_, err := a.d.EC2.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: aws.String(id), InstanceId: aws.String(a.instanceID), Device: aws.String(a.cfg.Volume.DeviceHint)})
	switch awsapi.Classify(err) {
	case awsapi.KindNone:
		a.log.Info("volume attach requested", "volume_id", id, "device", a.cfg.Volume.DeviceHint)
		return false, "attaching", nil
	case awsapi.KindVolumeInUse, awsapi.KindIncorrectState, awsapi.KindThrottling, awsapi.KindServer:
		// Someone else's attach, or a state change, won the race: look again.
		return false, "attach raced: " + awsapi.Code(err), nil
	}
	return false, "", fmt.Errorf("attaching volume %s to %s: %w", id, a.instanceID, err)
}

// predecessor decides whether to wait for the instance holding the volume.
func (a *Agent) predecessor(ctx context.Context, vol, holder, attachState string) (bool, string, error) {
	out, err := a.d.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{holder}})
	switch {
	case awsapi.Classify(err) == awsapi.KindNotFound:
		return false, fmt.Sprintf("held by %s, which no longer exists (attachment %s)", holder, attachState), nil
	case err != nil:
		return false, "", fmt.Errorf("describing instance %s that holds volume %s: %w", holder, vol, err)
	}
	state := ""
	if len(out.Reservations) > 0 && len(out.Reservations[0].Instances) > 0 && out.Reservations[0].Instances[0].State != nil {
		state = string(out.Reservations[0].Instances[0].State.Name)
	}
	switch state {
	case "shutting-down", "terminated", "stopping", "stopped":
		return false, fmt.Sprintf("held by %s, which is %s (attachment %s)", holder, state, attachState), nil
	}
	if attachState == string(ec2types.VolumeAttachmentStateDetaching) {
		return false, fmt.Sprintf("being detached from %s", holder), nil
	}
	as, err := a.d.AutoScaling.DescribeAutoScalingInstances(ctx, &autoscaling.DescribeAutoScalingInstancesInput{InstanceIds: []string{holder}})
	if err != nil {
		return false, "", fmt.Errorf("describing instance %s that holds volume %s: %w", holder, vol, err)
	}
	if len(as.AutoScalingInstances) == 1 {
		i := as.AutoScalingInstances[0]
		if aws.ToString(i.AutoScalingGroupName) == a.cfg.ASGName && strings.HasPrefix(aws.ToString(i.LifecycleState), "Terminating") {
			return false, fmt.Sprintf("held by %s, which this node's group is replacing (%s)", holder, aws.ToString(i.LifecycleState)), nil
		}
	}
	return false, "", fmt.Errorf("%w: volume %s is attached to %s, a %s instance this node's group is not replacing; not taking it (never stolen, never force-detached)", ErrRefused, vol, holder, state)
}

// findDevice waits for the attached volume's block device to appear.
func (a *Agent) findDevice(ctx context.Context, vol string) (string, error) {
	deadline := a.d.Clock.Now().Add(time.Duration(a.cfg.Timeouts.Device) * time.Second)
	for {
		dev, err := a.d.Disk.Find(vol, a.cfg.Volume.DeviceHint, a.volumeBytes)
		if err == nil {
			a.log.Info("device found", "volume_id", vol, "device", dev)
			return dev, nil
		}
		if !a.d.Clock.Now().Before(deadline) {
			return "", fmt.Errorf("volume %s is attached but no device showed up within %ds (%v): looked for /dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_%s, the NVMe serials and %s", vol, a.cfg.Timeouts.Device, err, strings.ReplaceAll(vol, "-", ""), a.cfg.Volume.DeviceHint)
		}
		if err := clock.Sleep(ctx, a.d.Clock, min(a.d.Poll, 250*time.Millisecond)); err != nil {
			return "", err
		}
	}
}
