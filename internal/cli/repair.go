package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/cluster"
	"github.com/stateful-aws/stateful/internal/diagnosis"
	"github.com/stateful-aws/stateful/internal/inventory"
	"github.com/stateful-aws/stateful/internal/lock"
	"github.com/stateful-aws/stateful/internal/rollout"
)

// repairStranded gives back the Launch process of the groups a killed roll
// left suspended (no instance, the ENI free), holding the cluster's lock
// as a roll does: a roll that holds it is mid-replacement and resumes its
// own groups, so a held lock leaves them alone (said on stderr). It looks
// again once it holds the lock. status never repairs: it only reads.
func repairStranded(ctx context.Context, d deps, io IO, af *awsFlags, as awsapi.AutoScaling, inv *inventory.Inventory, sel inventory.Selector, lf lockFlags, dryRun bool, snap cluster.Snapshot) error {
	stranded := rollout.Stranded(snap)
	if len(stranded) == 0 {
		return nil
	}
	if dryRun {
		for _, n := range stranded {
			fmt.Fprintf(io.Err, "node %s: dry run: would resume its group's Launch process, left suspended by an interrupted roll\n", n.ID)
		}
		return nil
	}
	lf.BreakLock = false // a repair never takes another command's lock
	err := withClusterLock(ctx, d, io, af, as, inv, sel, "stateful recover (resume a stranded Launch)", lf, func(ctx context.Context) error {
		fresh, err := inv.Observe(ctx, sel, inventory.Full, nil)
		if err != nil {
			return err
		}
		return resumeStranded(ctx, io, as, fresh)
	})
	var held *lock.Held
	if errors.As(err, &held) {
		for _, n := range stranded {
			fmt.Fprintf(io.Err, "node %s: its group's Launch process is suspended and left as it is, for the command holding the lock resumes it (%v)\n", n.ID, held)
		}
		return nil
	}
	return err
}

// refuseAttention refuses a roll while status flags a group as needing
// attention (diagnosis.NeedsAttention): a roll would replace nodes around
// a group that is not 1/1/1, serves without its volume, or is impaired.
// A cluster with a node out of service is left to the roll's own
// preflight, which refuses it naming that node and why.
func refuseAttention(ctx context.Context, inv *inventory.Inventory, sel inventory.Selector) error {
	snap, err := inv.Observe(ctx, sel, inventory.Full, nil)
	if err != nil {
		return err
	}
	if len(snap.NotServing()) > 0 {
		return nil
	}
	diags, err := diagnoseNodes(ctx, inv, snap)
	if err != nil {
		return err
	}
	if why := diagnosis.Refusal(diagnosis.NeedsAttention(snap.Nodes, diags)); why != "" {
		return &exitError{code: ExitRefused, err: errors.New(why)}
	}
	return nil
}
