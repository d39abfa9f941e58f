package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/stateful-aws/stateful/internal/cluster"
	"github.com/stateful-aws/stateful/internal/evict"
	"github.com/stateful-aws/stateful/internal/rollout"
)

// evictTimeout bounds recover --replace's wait for the old instance to
// leave (its drain included) before the node's older sessions are revoked.
const evictTimeout = 2 * time.Hour

// replacement builds what revoking needs from the command's clients.
func (d deps) replacement(ctx context.Context, f *awsFlags) (evict.Replacement, error) {
	if d.iam == nil {
		return evict.Replacement{}, fmt.Errorf("no IAM client")
	}
	as, ec, err := d.clients(ctx, f)
	if err != nil {
		return evict.Replacement{}, err
	}
	im, region, err := d.iam(ctx, f)
	if err != nil {
		return evict.Replacement{}, err
	}
	return evict.Replacement{AutoScaling: as, EC2: ec, IAM: im, Region: region, Clock: d.clock, Poll: 5 * time.Second, Timeout: evictTimeout}, nil
}

// evictOnReplaced passes the roll's events on and, on each "replaced",
// revokes the sessions of the node's role issued before its replacement
// launched: credentials copied off the old instance stop working. A
// failure to revoke is said loudly on stderr and does not stop the roll
// (the node is replaced either way; the next roll or recover --replace
// revokes again).
func evictOnReplaced(ctx context.Context, d deps, f *awsFlags, stderr io.Writer, next func(rollout.Event)) func(rollout.Event) {
	if d.iam == nil { // tests' deps without IAM; defaultDeps always has it
		return next
	}
	return func(e rollout.Event) {
		next(e)
		if e.Kind != "replaced" || e.Instance == "" {
			return
		}
		r, err := d.replacement(ctx, f)
		if err == nil {
			var group string
			var cut time.Time
			if group, cut, err = r.AfterReplacedBy(ctx, e.Instance); err == nil {
				// The roll's output is its events: a revocation is said
				// only with --verbose, and always when it fails.
				if f.Verbose {
					fmt.Fprintf(stderr, "node %s: sessions of role %s issued before %s revoked\n", e.Node, cluster.RoleName(group, r.Region), cut.UTC().Format(time.RFC3339))
				}
				return
			}
		}
		fmt.Fprintf(stderr, "WARNING: node %s: its role's sessions from before the replacement were not revoked: %v\n", e.Node, err)
	}
}

// evictAfterReplace waits for the old instance to leave node's group and
// revokes the role's sessions issued before its replacement.
func evictAfterReplace(ctx context.Context, d deps, f *awsFlags, out io.Writer, node, group, old string) error {
	if d.iam == nil { // tests' deps without IAM; defaultDeps always has it
		return nil
	}
	r, err := d.replacement(ctx, f)
	if err == nil {
		fmt.Fprintf(out, "waiting for %s to leave node %s's group, then revoking the older sessions of its role %s\n", old, node, cluster.RoleName(group, r.Region))
		var cut time.Time
		if cut, err = r.AfterReplacement(ctx, group, old); err == nil {
			fmt.Fprintf(out, "node %s: sessions of role %s issued before %s revoked\n", node, cluster.RoleName(group, r.Region), cut.UTC().Format(time.RFC3339))
			return nil
		}
	}
	return fmt.Errorf("node %s was replaced, but its role's sessions from before were not revoked: %w", node, err)
}
