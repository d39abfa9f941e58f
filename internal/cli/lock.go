package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/spf13/pflag"

	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/cluster"
	"github.com/stateful-aws/stateful/internal/inventory"
	"github.com/stateful-aws/stateful/internal/lock"
)

// lockFlags are the lock's flags of the commands that take it.
type lockFlags struct {
	BreakLock      bool
	ForceBreakLock bool
	LockWait       time.Duration
	LockLag        time.Duration
}

func (lf *lockFlags) registerLock(f *pflag.FlagSet, breakHelp string) {
	f.BoolVar(&lf.BreakLock, "break-lock", false, breakHelp+": it first watches for the holder's renewal and refuses, naming the holder, if one comes")
	f.BoolVar(&lf.ForceBreakLock, "force-break-lock", false, "with --break-lock: take the cluster's lock even from a holder that is renewing it (two commands may then act at once)")
	f.DurationVar(&lf.LockWait, "lock-wait", 0, "how long to wait for another command's lock: for its release, or until it has gone a lease (10m) unrenewed; 0 refuses at once")
	f.DurationVar(&lf.LockLag, "lock-read-lag", lock.DefaultLag, "the longest AWS's reads (Parameter Store's, Auto Scaling's, EC2's) may lag its writes (AWS does not publish it): the lock is held this long before the command acts, and it is added to every wait that judges a holder dead")
}

// checkLock refuses bad lock flags before anything is done.
func (lf *lockFlags) checkLock() error {
	switch {
	case lf.ForceBreakLock && !lf.BreakLock:
		return usageError("--force-break-lock goes with --break-lock: give both to take a lock whose holder still renews it")
	case lf.LockWait < 0:
		return usageError("--lock-wait must not be negative, got %s", lf.LockWait)
	case lf.LockLag < 0 || lf.LockLag > 5*time.Minute:
		return usageError("--lock-read-lag must be between 0 (the default, %s) and 5m, got %s", lock.DefaultLag, lf.LockLag)
	}
	return nil
}

func (lf *lockFlags) mode() lock.Mode {
	switch {
	case lf.ForceBreakLock:
		return lock.ForceBreak
	case lf.BreakLock:
		return lock.Break
	}
	return lock.Wait
}

// withClusterLock runs f holding the cluster's lock (internal/lock says
// what it guarantees): it refuses with a *lock.Held when another command
// holds it, renews it while f runs, ends f's context when the lock is lost,
// and releases it afterwards.
func withClusterLock(ctx context.Context, d deps, io IO, af *awsFlags, as awsapi.AutoScaling, inv *inventory.Inventory, sel inventory.Selector,
	command string, lf lockFlags, f func(context.Context) error) error {
	if err := lf.checkLock(); err != nil {
		return err
	}
	name, group, err := lockTarget(ctx, as, inv, sel)
	if err != nil || group == "" {
		if err != nil {
			return err
		}
		return f(ctx) // nothing to lock; f says the cluster is empty
	}
	params, err := d.parameters(ctx, af)
	if err != nil {
		return err
	}
	l, err := lock.Acquire(ctx, lock.Config{API: params, Clock: d.clock, Name: lock.Name(name), Holder: holder(command),
		Lag: lf.LockLag, Wait: lf.LockWait}, lf.mode())
	if nr := (*lock.NotReleased)(nil); errors.As(err, &nr) {
		fmt.Fprintf(io.Err, "stateful: could not take back the cluster's lock this command may have written (the next command judges it dead after a lease): %v\n", nr.Release)
		return &lockLeft{err: nr.Err}
	}
	if err != nil {
		return err
	}
	if t := l.TookFrom; t != nil {
		fmt.Fprintf(io.Err, "stateful: took the cluster's lock (SSM parameter %s) from %s, taken %s, last renewed %s by its clock (version %d; no renewal seen since %s)\n",
			t.Name, t.Holder, t.Taken, t.Renewed, t.Version, t.Seen.UTC().Format(time.RFC3339))
	}
	// The lock of older versions, a tag, is honoured until it is gone.
	if err := lock.ClearLegacy(ctx, as, d.clock, group, lf.ForceBreakLock); err != nil {
		if rerr := l.Release(context.WithoutCancel(ctx)); rerr != nil {
			fmt.Fprintf(io.Err, "stateful: could not release the cluster's lock: %v\n", rerr)
		}
		return err
	}
	lctx, cancel := context.WithCancelCause(ctx)
	held := make(chan struct{})
	go func() { defer close(held); l.Hold(lctx, func(err error) { cancel(err) }) }()
	err = f(lctx)
	cause := context.Cause(lctx)
	cancel(nil)
	<-held // no renewal may race the release
	rerr := l.Release(context.WithoutCancel(ctx))
	if rerr != nil {
		fmt.Fprintf(io.Err, "stateful: could not release the cluster's lock (the next command judges it dead after a lease unrenewed): %v\n", rerr)
	}
	if cause != nil && !errors.Is(cause, context.Canceled) {
		err = fmt.Errorf("stopped: %w", cause)
	}
	if rerr != nil && err != nil {
		return &lockLeft{err: err}
	}
	return err
}

// lockLeft is f's error when the lock could not be released afterwards
// (AWS lost): the message of an interruption says so.
type lockLeft struct{ err error }

func (e *lockLeft) Error() string { return e.err.Error() }
func (e *lockLeft) Unwrap() error { return e.err }

// lockTarget names the cluster whose lock a command takes and the
// cluster's first group in node-id order (where older versions kept their
// lock tag): the cluster of the selected groups, found by their cluster
// tag, so that a command naming a few groups with --asg takes the same
// lock as one naming the cluster. Groups without the tag (not yet
// upgraded) lock by their first group's name.
func lockTarget(ctx context.Context, as awsapi.AutoScaling, inv *inventory.Inventory, sel inventory.Selector) (name, group string, err error) {
	name = sel.Cluster
	if sel.Cluster == "" && len(sel.Groups) > 0 {
		out, err := as.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: sel.Groups[:1]})
		if err != nil {
			return "", "", fmt.Errorf("reading group %s for the cluster's lock: %w", sel.Groups[0], err)
		}
		for _, g := range out.AutoScalingGroups {
			for _, t := range g.Tags {
				if aws.ToString(t.Key) == cluster.TagCluster {
					sel = inventory.Selector{Cluster: aws.ToString(t.Value)}
					name = sel.Cluster
				}
			}
		}
	}
	snap, err := inv.Observe(ctx, sel, inventory.Groups, nil)
	if err != nil || len(snap.Nodes) == 0 {
		return "", "", err
	}
	group = snap.Nodes[0].Group
	if name == "" {
		name = "asg-" + group
	}
	return name, group, nil
}

// holder says who holds the lock, for the refusal another command prints.
func holder(command string) string {
	who := "someone"
	if u, err := user.Current(); err == nil {
		who = u.Username
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s by %s@%s, pid %d", command, who, host, os.Getpid())
}
