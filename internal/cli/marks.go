package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/stateful-aws/stateful/internal/cluster"
	"github.com/stateful-aws/stateful/internal/failmark"
	"github.com/stateful-aws/stateful/internal/inventory"
	"github.com/stateful-aws/stateful/internal/rollout"
)

// markFlags are the roll's flags about the cluster's failure mark.
type markFlags struct {
	ClearFailureMark bool
}

func (mf *markFlags) registerMark(f *pflag.FlagSet) {
	f.BoolVar(&mf.ClearFailureMark, strings.TrimPrefix(failmark.ClearFlag, "--"), false,
		"roll out a change that failed before (the cluster's failure mark names it) and remove the mark")
}

// markGuard is a roll's dealing with the cluster's failure mark
// (internal/failmark), inside the cluster's lock.
type markGuard struct {
	params   failmark.Params
	name     string
	existed  bool
	targets  []failmark.Target
	replaced int
	clock    func() string
}

// guardMarks refuses a roll that would spread a change marked as failed,
// unless --clear-failure-mark (which removes the mark), and counts the
// roll's replacements for after. It is called holding the cluster's lock,
// or for --dry-run, which only reads.
func guardMarks(ctx context.Context, d deps, io IO, o *rollOptions, inv *inventory.Inventory, cfg *rollout.Config) (*markGuard, error) {
	as, ec, err := d.clients(ctx, &o.awsFlags)
	if err != nil {
		return nil, err
	}
	name, _, err := lockTarget(ctx, as, inv, cfg.Selector)
	if err != nil || name == "" {
		return &markGuard{}, err
	}
	params, err := d.parameters(ctx, &o.awsFlags)
	if err != nil {
		return nil, err
	}
	g := &markGuard{params: params, name: failmark.Name(name), clock: func() string { return d.clock.Now().UTC().Format("2006-01-02T15:04:05Z") }}
	snap, err := inv.Observe(ctx, cfg.Selector, inventory.Full, nil)
	if err != nil {
		return nil, err
	}
	// Only the nodes this roll would replace: one read of a launch-template
	// version per node replaced.
	if g.targets, err = failmark.Targets(ctx, ec, outdated(snap.Nodes)); err != nil {
		return nil, err
	}
	m, ok, err := failmark.Read(ctx, params, g.name)
	if err != nil && !o.ClearFailureMark {
		return nil, err
	}
	g.existed = ok
	if o.ClearFailureMark && o.DryRun {
		if ok {
			fmt.Fprintf(io.Err, "stateful: dry run: would remove the failure mark of node %s's change (launch template %s version %d: %s)\n",
				m.Failed.Node, m.Failed.Template, m.Failed.Version, m.What)
		}
	} else if o.ClearFailureMark {
		if err := failmark.Clear(ctx, params, g.name); err != nil {
			return nil, err
		}
		if ok {
			fmt.Fprintf(io.Err, "stateful: removed the failure mark of node %s's change (launch template %s version %d: %s); rolling it out as asked\n",
				m.Failed.Node, m.Failed.Template, m.Failed.Version, m.What)
		}
		g.existed = false
	} else if ok {
		if blocked := failmark.Blocked(m, g.targets); len(blocked) > 0 {
			r := &failmark.Refused{Mark: m, Name: g.name, Blocked: blocked}
			return nil, &rollout.Failure{Kind: rollout.Refused, Node: blocked[0].Node, Detail: r.Error()}
		}
	}
	events := cfg.Events
	cfg.Events = func(e rollout.Event) {
		if e.Kind == "replaced" {
			g.replaced++
		}
		if events != nil {
			events(e)
		}
	}
	return g, nil
}

// outdated are the nodes a roll would replace: no serving instance on
// their target version.
func outdated(nodes []cluster.Node) []cluster.Node {
	var out []cluster.Node
	for _, n := range nodes {
		if i, ok := n.Serving(); !ok || i.Version != n.Target {
			out = append(out, n)
		}
	}
	return out
}

// after leaves a mark when the roll's change failed, and removes an older
// mark once a roll has finished; it returns the roll's error unchanged.
func (g *markGuard) after(ctx context.Context, io IO, err error) error {
	if g.params == nil {
		return err
	}
	ctx = context.WithoutCancel(ctx)
	if err == nil {
		if g.existed {
			if cerr := failmark.Clear(ctx, g.params, g.name); cerr != nil {
				fmt.Fprintf(io.Err, "stateful: %v\n", cerr)
			}
		}
		return nil
	}
	f, ok := rollout.IsFailure(err)
	if !ok || !failmark.Marks(string(f.Kind), g.replaced) {
		return err
	}
	m := failmark.Mark{What: fmt.Sprintf("%s: %s", f.Kind, strings.SplitN(f.Detail, "; ", 2)[0]), At: g.clock(), By: holder("stateful roll")}
	for _, t := range g.targets {
		m.Changes = append(m.Changes, t.Fingerprint())
		if t.Node == f.Node {
			m.Failed = t
		}
	}
	if m.Failed.Node == "" {
		m.Failed.Node = f.Node
	}
	// The failed node's change first: it survives the value's size limit.
	for i, c := range m.Changes {
		if m.Failed.Template != "" && c == m.Failed.Fingerprint() {
			m.Changes[0], m.Changes[i] = m.Changes[i], m.Changes[0]
		}
	}
	if werr := failmark.Write(ctx, g.params, g.name, m); werr != nil {
		fmt.Fprintf(io.Err, "stateful: could not leave the failure mark, so the next roll will not know this change failed: %v\n", werr)
		return err
	}
	fmt.Fprintf(io.Err, "stateful: left a failure mark (SSM parameter %s): the next roll refuses to put this change on another node until a new change or %s\n", g.name, failmark.ClearFlag)
	return err
}
