package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"

	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/inventory"
	"github.com/stateful-aws/stateful/internal/lock"
)

// withClusterLock runs f holding the cluster's lock (internal/lock says
// what it guarantees): it refuses with a *lock.Held when another command
// holds it, renews it while f runs, ends f's context when the lock is lost,
// and releases it afterwards.
func withClusterLock(ctx context.Context, d deps, as awsapi.AutoScaling, inv *inventory.Inventory, sel inventory.Selector,
	command string, breakLock bool, f func(context.Context) error) error {
	snap, err := inv.Observe(ctx, sel, inventory.Groups, nil)
	if err != nil {
		return err
	}
	if len(snap.Nodes) == 0 {
		return f(ctx) // nothing to lock; f says the cluster is empty
	}
	l, err := lock.Acquire(ctx, lock.Config{API: as, Clock: d.clock, Group: snap.Nodes[0].Group, Holder: holder(command)}, breakLock)
	if err != nil {
		return err
	}
	lctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go l.Hold(lctx, func(err error) { cancel(err) })
	defer func() { _ = l.Release(context.WithoutCancel(ctx)) }()
	err = f(lctx)
	var held *lock.Held
	if cause := context.Cause(lctx); errors.As(cause, &held) {
		return fmt.Errorf("stopped: %w", cause)
	}
	return err
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
