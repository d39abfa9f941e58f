package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/blockdev"
	"github.com/stateful-aws/stateful/internal/clock"
)

// Deps are the agent's collaborators; tests replace the AWS clients with
// the simulator and the OS paths with temporary ones.
type Deps struct {
	EC2         EC2
	AutoScaling AutoScaling
	IMDS        awsapi.IMDS
	SSM         SSM // the secret node files (nil: the config may have none)
	Clock       clock.Clock
	Logger      *slog.Logger // JSON to stderr in production
	// Output receives the node script's output, line by line, as it runs.
	Output io.Writer

	Finder   blockdev.Finder
	Fstab    string // /etc/fstab
	StateDir string // /var/lib/stateful: the fetched node script
	// FetchS3 gets an s3:// object and checks it (nil: inline script only).
	FetchS3 func(ctx context.Context, o S3Object) ([]byte, error)
	// StartDrain starts `stateful node drain` in the background once the
	// node is in service, when the config names a termination hook.
	StartDrain func() error
	// Poll is how often the agent looks while it waits on AWS (default 1s).
	Poll time.Duration
	// Disk does the data-volume steps; nil means the real OS (blockdev).
	Disk Disk
	// Shell runs the node script; nil means Bash.
	Shell Shell
	// Lookup, Chown and Lchown resolve and apply owners (nil: the OS's,
	// blockdev.LookupID, blockdev.Chown and os.Lchown).
	Lookup func(name string, group bool) (int, error)
	Chown  func(root, owner, group string, recursive bool) (bool, error)
	Lchown func(path string, uid, gid int) error
}

// Disk is the OS side of the data volume: find the device and prepare it.
// The real one is blockdev; agent tests in virtual time use a fake.
type Disk interface {
	Find(volumeID, hint string, sizeBytes int64) (string, error)
	Prepare(ctx context.Context, dev string, want Stamp, v Volume) (formatted bool, err error)
	// Release stops the volume's users and unmounts it; nil only when the
	// device is proven free (mounted nowhere, in no namespace).
	Release(ctx context.Context, mountPath, device string) error
}

// Agent runs the node's steps.
type Agent struct {
	cfg *Config
	d   Deps
	log *slog.Logger

	instanceID, az string
	volumeBytes    int64 // the claimed volume's size, to check a Xen device by

	mu         sync.Mutex
	output     []string      // last lines of the node script, for the failure summary
	scriptTime time.Duration // how long the node script ran

	// Owners that did not exist before the node script (ownership.go).
	volumeOwnerLater, ownersApplied bool
	laterFiles                      []deferredFile
}

// New checks the collaborators.
func New(cfg *Config, d Deps) (*Agent, error) {
	if d.EC2 == nil || d.AutoScaling == nil || d.IMDS == nil || d.Clock == nil {
		return nil, fmt.Errorf("agent: EC2, AutoScaling, IMDS and Clock are required")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Output == nil {
		d.Output = io.Discard
	}
	if d.Poll == 0 {
		d.Poll = time.Second
	}
	if d.Fstab == "" {
		d.Fstab = "/etc/fstab"
	}
	if d.StateDir == "" {
		d.StateDir = "/var/lib/stateful"
	}
	if d.Shell == nil {
		d.Shell = Bash(d.Clock)
	}
	if d.Disk == nil {
		d.Disk = OSDisk{Finder: blockdev.DefaultFinder, Fstab: d.Fstab, Clock: d.Clock, Log: d.Logger}
	}
	return &Agent{cfg: cfg, d: d, log: d.Logger.With("node_id", cfg.NodeID, "asg_name", cfg.ASGName)}, nil
}

// StepError is a failed step.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return e.Step + ": " + e.Err.Error() }
func (e *StepError) Unwrap() error { return e.Err }

// step runs one step and logs it with its duration.
func (a *Agent) step(ctx context.Context, name string, f func(context.Context) error) error {
	start := a.d.Clock.Now()
	err := f(ctx)
	took := a.d.Clock.Now().Sub(start)
	if err != nil {
		a.log.Error("step failed", "step", name, "duration_ms", took.Milliseconds(), "error", err.Error())
		return &StepError{Step: name, Err: err}
	}
	a.log.Info("step done", "step", name, "duration_ms", took.Milliseconds())
	return nil
}

// identity reads who and where this instance is from IMDSv2.
func (a *Agent) identity(ctx context.Context) error {
	get := func(path string) (string, error) {
		var last error
		wait := 200 * time.Millisecond
		for range 8 {
			out, err := a.d.IMDS.GetMetadata(ctx, &imds.GetMetadataInput{Path: path})
			if err == nil {
				b, rerr := io.ReadAll(out.Content)
				out.Content.Close()
				if rerr == nil {
					return strings.TrimSpace(string(b)), nil
				}
				err = rerr
			}
			last = err
			if err := clock.Sleep(ctx, a.d.Clock, wait); err != nil {
				return "", err
			}
			wait = min(2*wait, 5*time.Second)
		}
		return "", fmt.Errorf("reading %s from instance metadata: %w", path, last)
	}
	var err error
	if a.instanceID, err = get("instance-id"); err != nil {
		return err
	}
	if a.az, err = get("placement/availability-zone"); err != nil {
		return err
	}
	region, err := get("placement/region")
	if err != nil {
		return err
	}
	if region != a.cfg.Region {
		return fmt.Errorf("this instance is in region %s, the config says %s", region, a.cfg.Region)
	}
	a.log = a.log.With("instance_id", a.instanceID)
	return nil
}

// heartbeat records lifecycle-action heartbeats for hook every interval
// (a third of that hook's own timeout) until ctx ends or AWS says the
// action is over.
func (a *Agent) heartbeat(ctx context.Context, hook string, every time.Duration) {
	for {
		if clock.Sleep(ctx, a.d.Clock, every) != nil {
			return
		}
		_, err := a.d.AutoScaling.RecordLifecycleActionHeartbeat(ctx, &autoscaling.RecordLifecycleActionHeartbeatInput{
			AutoScalingGroupName: aws.String(a.cfg.ASGName), LifecycleHookName: aws.String(hook), InstanceId: aws.String(a.instanceID)})
		switch {
		case err == nil:
			a.log.Debug("heartbeat", "lifecycle_hook", hook)
		case ctx.Err() != nil:
			return
		case awsapi.Classify(err) == awsapi.KindNoActiveLifecycleAction:
			if over, state, _ := a.actionOver(ctx, hook == a.cfg.LaunchHook); over {
				a.log.Info("lifecycle action no longer active; heartbeats stop", "lifecycle_hook", hook, "lifecycle_state", state)
				return
			}
		default:
			a.log.Warn("heartbeat failed", "lifecycle_hook", hook, "error", err.Error())
		}
	}
}

// complete ends the hook's wait. Transient failures (a network error,
// throttling) are retried for up to the command timeout, while the
// caller keeps heartbeating, so a healthy node is not abandoned for a lost
// connection. "No active Lifecycle Action" is success only when the
// instance's lifecycle state says the action is over (a re-run after a
// reboot, or completed by an operator); before the hook's wait has begun
// (Pending) it is retried.
func (a *Agent) complete(ctx context.Context, hook, result string) error {
	deadline := a.d.Clock.Now().Add(time.Duration(a.cfg.Timeouts.Command) * time.Second)
	wait := a.d.Poll
	for {
		_, err := a.d.AutoScaling.CompleteLifecycleAction(ctx, &autoscaling.CompleteLifecycleActionInput{
			AutoScalingGroupName: aws.String(a.cfg.ASGName), LifecycleHookName: aws.String(hook),
			InstanceId: aws.String(a.instanceID), LifecycleActionResult: aws.String(result)})
		retry := false
		switch {
		case err == nil:
			a.log.Info("lifecycle action completed", "lifecycle_hook", hook, "result", result)
			return nil
		case awsapi.Classify(err) == awsapi.KindNoActiveLifecycleAction:
			over, state, lerr := a.actionOver(ctx, hook == a.cfg.LaunchHook)
			if lerr == nil && over {
				a.log.Info("lifecycle action already over; nothing to complete", "lifecycle_hook", hook, "result", result, "lifecycle_state", state)
				return nil
			}
			a.log.Info("lifecycle action not active yet", "lifecycle_hook", hook, "lifecycle_state", state)
			retry = true
		case awsapi.Transient(err), awsapi.Classify(err) == awsapi.KindNetwork:
			retry = true
		}
		if !retry || !a.d.Clock.Now().Before(deadline) {
			return fmt.Errorf("completing lifecycle hook %s with %s: %w", hook, result, err)
		}
		if err := clock.Sleep(ctx, a.d.Clock, wait); err != nil {
			return err
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// actionOver reports whether this instance's lifecycle action of the
// launch hook (launching) or the termination hook can no longer be
// completed: the instance has left that transition's Pending (Terminating)
// and its wait state, or is gone. A failure to look is "not over".
func (a *Agent) actionOver(ctx context.Context, launching bool) (bool, string, error) {
	out, err := a.d.AutoScaling.DescribeAutoScalingInstances(ctx, &autoscaling.DescribeAutoScalingInstancesInput{InstanceIds: []string{a.instanceID}})
	if err != nil {
		return false, "", err
	}
	if len(out.AutoScalingInstances) == 0 {
		return true, "not in a group", nil
	}
	state := aws.ToString(out.AutoScalingInstances[0].LifecycleState)
	waiting := []string{"Terminating", "Terminating:Wait"}
	if launching {
		waiting = []string{"Pending", "Pending:Wait"}
	}
	return !slices.Contains(waiting, state), state, nil
}

// Stamp ties a filesystem to its node: its label is derived from it, and
// a file at the root of the volume spells it out.
type Stamp struct {
	Cluster     string `json:"cluster"`
	NodeID      string `json:"node_id"`
	VolumeID    string `json:"volume_id"`
	FormattedBy string `json:"formatted_by,omitempty"`
	FormattedAt string `json:"formatted_at,omitempty"`
}

// Label is the filesystem label of the node's volume: "st-" and nine hex
// digits of a hash of cluster and node, within xfs's 12 characters.
func (s Stamp) Label() string {
	h := sha256.Sum256([]byte(s.Cluster + "/" + s.NodeID))
	return "st-" + hex.EncodeToString(h[:])[:9]
}

// StampFile is the stamp's name at the root of the volume.
const StampFile = ".stateful-volume"

// ErrRefused marks a refusal to touch a volume that is not this node's or
// not safe to use; such failures are never retried.
var ErrRefused = errors.New("refused")

// tail keeps the last lines of the script's output.
func (a *Agent) keep(line string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.output = append(a.output, line)
	if len(a.output) > 30 {
		a.output = a.output[len(a.output)-30:]
	}
}

func (a *Agent) lastOutput() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.output...)
}
