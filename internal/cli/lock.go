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
	BreakLock bool
	Settle    time.Duration
}

func (lf *lockFlags) registerLock(f *pflag.FlagSet, breakHelp string) {
	f.BoolVar(&lf.BreakLock, "break-lock", false, breakHelp)
	f.DurationVar(&lf.Settle, "lock-settle", lock.DefaultSettle, "how long after writing the cluster's lock it is read back: at least four times the longest lag of Auto Scaling's reads (AWS does not publish it)")
}

// withClusterLock runs f holding the cluster's lock (internal/lock says
// what it guarantees): it refuses with a *lock.Held when another command
// holds it, renews it while f runs, ends f's context when the lock is lost,
// and releases it afterwards.
func withClusterLock(ctx context.Context, d deps, io IO, as awsapi.AutoScaling, inv *inventory.Inventory, sel inventory.Selector,
	command string, lf lockFlags, f func(context.Context) error) error {
	group, err := lockGroup(ctx, as, inv, sel)
	if err != nil || group == "" {
		if err != nil {
			return err
		}
		return f(ctx) // nothing to lock; f says the cluster is empty
	}
	l, err := lock.Acquire(ctx, lock.Config{API: as, Clock: d.clock, Group: group, Holder: holder(command), Settle: lf.Settle}, lf.BreakLock)
	if nr := (*lock.NotReleased)(nil); errors.As(err, &nr) {
		fmt.Fprintf(io.Err, "stateful: could not take back the cluster's lock this command may have written (it lapses on its own): %v\n", nr.Release)
		return &lockLeft{err: nr.Err}
	}
	if err != nil {
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
		fmt.Fprintf(io.Err, "stateful: could not release the cluster's lock (it lapses on its own): %v\n", rerr)
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

// lockGroup is the group that holds the lock of the cluster sel belongs
// to: the first group in node-id order of the whole cluster (found by the
// cluster tag of the selected groups), so that a command naming a few
// groups with --asg takes the same lock as one naming the cluster.
func lockGroup(ctx context.Context, as awsapi.AutoScaling, inv *inventory.Inventory, sel inventory.Selector) (string, error) {
	if sel.Cluster == "" && len(sel.Groups) > 0 {
		out, err := as.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: sel.Groups[:1]})
		if err != nil {
			return "", fmt.Errorf("reading group %s for the cluster's lock: %w", sel.Groups[0], err)
		}
		for _, g := range out.AutoScalingGroups {
			for _, t := range g.Tags {
				if aws.ToString(t.Key) == cluster.TagCluster {
					sel = inventory.Selector{Cluster: aws.ToString(t.Value)}
				}
			}
		}
	}
	snap, err := inv.Observe(ctx, sel, inventory.Groups, nil)
	if err != nil || len(snap.Nodes) == 0 {
		return "", err
	}
	return snap.Nodes[0].Group, nil
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
