package agent

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/stateful-aws/stateful/internal/clock"
)

// drainRunner calls the script's optional drain_cluster_node.
const drainRunner = `. "$0" || exit $?
if declare -F drain_cluster_node >/dev/null; then
  drain_cluster_node "$1" "$2" || { s=$?; echo "drain_cluster_node exited with status $s" >&2; exit "$s"; }
fi
`

// Drain waits until Auto Scaling starts terminating this instance, then
// hands the volume over: drain_cluster_node, stop the volume's writers,
// sync, unmount, detach, and complete the termination hook, so the
// replacement attaches the volume without waiting for EC2 to release it.
func (a *Agent) Drain(ctx context.Context) error {
	if a.cfg.TerminateHook == "" {
		return fmt.Errorf("node config: terminate_hook is empty: the module adds it with drain_on_termination = true")
	}
	if err := a.step(ctx, "identity", a.identity); err != nil {
		return err
	}
	if err := a.step(ctx, "wait-for-termination", a.awaitTermination); err != nil {
		return err
	}
	hbCtx, stopHeartbeat := context.WithCancel(ctx)
	defer stopHeartbeat()
	go a.heartbeat(hbCtx, a.cfg.TerminateHook, time.Duration(a.cfg.Timeouts.DrainHeartbeat)*time.Second)
	// Every step is tried: a failed drain function must not keep the
	// volume from its successor.
	var failed []string
	run := func(name string, f func(context.Context) error) {
		if err := a.step(ctx, name, f); err != nil {
			failed = append(failed, err.Error())
		}
	}
	run("drain-script", func(ctx context.Context) error { return a.runFunctions(ctx, drainRunner, nil) })
	// A volume that is still mounted is never detached: taken from under
	// its filesystem it could lose writes, and the detach would stick in
	// busy. Left attached, EC2's own shutdown unmounts and frees it.
	if released := a.step(ctx, "release-volume", a.release); released != nil {
		failed = append(failed, released.Error())
		a.log.Warn("volume still mounted: left attached for EC2's shutdown to release", "mount_path", a.cfg.Volume.MountPath)
	} else {
		run("detach-volume", a.detach)
	}
	stopHeartbeat()
	if err := a.step(ctx, "complete-hook", func(ctx context.Context) error { return a.complete(ctx, a.cfg.TerminateHook, "CONTINUE") }); err != nil {
		failed = append(failed, err.Error())
	}
	if len(failed) > 0 {
		return fmt.Errorf("drain finished with errors: %s", strings.Join(failed, "; "))
	}
	return nil
}

// awaitTermination polls IMDS autoscaling/target-lifecycle-state until it
// says Terminated (404 while the item does not exist yet).
func (a *Agent) awaitTermination(ctx context.Context) error {
	every := max(a.d.Poll, time.Second)
	for {
		out, err := a.d.IMDS.GetMetadata(ctx, &imds.GetMetadataInput{Path: "autoscaling/target-lifecycle-state"})
		if err == nil {
			b, _ := io.ReadAll(out.Content)
			out.Content.Close()
			if strings.TrimSpace(string(b)) == "Terminated" {
				a.log.Info("termination started")
				return nil
			}
		}
		if err := clock.Sleep(ctx, a.d.Clock, every); err != nil {
			return err
		}
	}
}

// detach detaches the node's volume from this instance and waits until it
// is available for the successor.
func (a *Agent) detach(ctx context.Context) error {
	vol, err := a.findVolume(ctx)
	if err != nil {
		return err
	}
	id := aws.ToString(vol.VolumeId)
	deadline := a.d.Clock.Now().Add(time.Duration(a.cfg.Timeouts.Volume) * time.Second)
	requested := false
	for {
		attachedHere := len(vol.Attachments) > 0 && aws.ToString(vol.Attachments[0].InstanceId) == a.instanceID
		switch {
		case !attachedHere && vol.State == ec2types.VolumeStateAvailable:
			a.log.Info("volume released", "volume_id", id)
			return nil
		case !attachedHere:
			return nil // someone else's now, or on its way: not ours to wait for
		case !requested && vol.Attachments[0].State == ec2types.VolumeAttachmentStateAttached:
			if _, err := a.d.EC2.DetachVolume(ctx, &ec2.DetachVolumeInput{VolumeId: aws.String(id), InstanceId: aws.String(a.instanceID)}); err != nil {
				return fmt.Errorf("detaching volume %s: %w", id, err)
			}
			requested = true
		}
		if !a.d.Clock.Now().Before(deadline) {
			return fmt.Errorf("volume %s still attached after %ds", id, a.cfg.Timeouts.Volume)
		}
		if err := clock.Sleep(ctx, a.d.Clock, a.d.Poll); err != nil {
			return err
		}
		if vol, err = a.findVolume(ctx); err != nil {
			return err
		}
	}
}

// release finds the volume's device and has the disk release it.
func (a *Agent) release(ctx context.Context) error {
	vol, err := a.findVolume(ctx)
	if err != nil {
		return err
	}
	dev, err := a.d.Disk.Find(aws.ToString(vol.VolumeId), a.cfg.Volume.DeviceHint, int64(aws.ToInt32(vol.Size))<<30)
	if err != nil {
		return fmt.Errorf("finding the device of volume %s: %w", aws.ToString(vol.VolumeId), err)
	}
	return a.d.Disk.Release(ctx, a.cfg.Volume.MountPath, dev)
}
