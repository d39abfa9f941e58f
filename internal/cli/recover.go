package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/spf13/cobra"

	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/cluster"
	"github.com/stateful-aws/stateful/internal/inventory"
	"github.com/stateful-aws/stateful/internal/lock"
	"github.com/stateful-aws/stateful/internal/recovery"
)

type recoverOptions struct {
	awsFlags
	Abandon, Continue, Replace bool
	Yes, DryRun, Force         bool
	lockFlags
}

func newRecoverCmd(io IO, d deps) *cobra.Command {
	o := &recoverOptions{}
	cmd := &cobra.Command{
		Use:   "recover NODE",
		Short: "Explain why a node is stuck and unstick it",
		Long: `Explain why a node is not in service: its instance and lifecycle state, the
lifecycle hook holding it and when that hook times out, the group's last
scaling activity. A node a killed roll left down (Launch suspended, no
instance, the ENI free) gets its group's Launch process back at once. Then,
on request:

  --abandon   complete the instance's lifecycle action with ABANDON: a
              launch is given up and the group launches a fresh instance
  --continue  complete it with CONTINUE: the instance goes into service
              (only when you have fixed the node by hand)
  --replace   terminate the node's instance, keeping desired capacity;
              refused while any other node is out of service (--force
              overrides: the cluster would have two nodes out at once)

On a terminal it asks for confirmation; --yes skips the question (required
when not on a terminal). --dry-run says what it would do.

Exit codes:
  0  explained, and the requested action was taken
  1  error
  2  bad flags, unknown node, or an action that does not apply
  3  declined at the prompt; nothing was done
  4  --replace refused: another node is out of service (--force), or another
     command holds the cluster's lock (--break-lock); nothing was done`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := envDefaults(cmd); err != nil {
				return err
			}
			return runRecover(cmd.Context(), io, d, o, args[0])
		},
	}
	o.register(cmd.Flags())
	f := cmd.Flags()
	f.BoolVar(&o.Abandon, "abandon", false, "complete the lifecycle action with ABANDON")
	f.BoolVar(&o.Continue, "continue", false, "complete the lifecycle action with CONTINUE")
	f.BoolVar(&o.Replace, "replace", false, "terminate the node's instance; the group launches a new one")
	f.BoolVar(&o.Yes, "yes", false, "do not ask for confirmation")
	f.BoolVar(&o.DryRun, "dry-run", false, "say what would be done and do nothing")
	f.BoolVar(&o.Force, "force", false, "with --replace: replace even while other nodes are out of service")
	o.registerLock(f, "with --replace: take the cluster's lock from a holder that died")
	return cmd
}

func runRecover(ctx context.Context, io IO, d deps, o *recoverOptions, nodeID string) error {
	if err := o.validate(); err != nil {
		return err
	}
	actions := 0
	for _, b := range []bool{o.Abandon, o.Continue, o.Replace} {
		if b {
			actions++
		}
	}
	if actions > 1 {
		return usageError("use at most one of --abandon, --continue and --replace")
	}
	as, _, inv, err := d.inventory(ctx, &o.awsFlags)
	if err != nil {
		return err
	}
	snap, err := inv.Observe(ctx, o.selector(), inventory.Full, nil)
	if err != nil {
		return err
	}
	if err := resumeStranded(ctx, io, as, snap); err != nil {
		return err
	}
	action := recovery.Explain
	switch {
	case o.Abandon:
		action = recovery.Abandon
	case o.Continue:
		action = recovery.Continue
	case o.Replace:
		action = recovery.Replace
	}
	n, ok := snap.Node(nodeID)
	if !ok {
		_, err := recovery.Decide(snap.Nodes, nodeID, nil, action, o.Force)
		return usageError("%v (in %s)", err, o.selector())
	}
	hooksOut, err := as.DescribeLifecycleHooks(ctx, &autoscaling.DescribeLifecycleHooksInput{AutoScalingGroupName: aws.String(n.Group)})
	if err != nil {
		return fmt.Errorf("describing the lifecycle hooks of group %s: %w", n.Group, err)
	}
	var hooks []recovery.Hook
	for _, h := range hooksOut.LifecycleHooks {
		hooks = append(hooks, recovery.Hook{Name: aws.ToString(h.LifecycleHookName), Transition: aws.ToString(h.LifecycleTransition)})
	}
	if a, err := inv.LastActivity(ctx, n.Group, time.Time{}); err == nil && a != nil {
		for i := range snap.Nodes {
			if snap.Nodes[i].ID == nodeID {
				snap.Nodes[i].LastActivity = a
			}
		}
	}
	plan, err := recovery.Decide(snap.Nodes, nodeID, hooks, action, o.Force)
	if err != nil {
		return usageError("%v", err)
	}
	fmt.Fprint(io.Out, explain(plan.Node, plan.Waiting, plan.Hook, snap.At))
	if action == recovery.Explain {
		return nil
	}
	if r := plan.Refused; r != nil {
		if r.Usage {
			return usageError("%s", r.Reason)
		}
		return &exitError{code: ExitUnsafe, err: fmt.Errorf("refused: %s", r.Reason)}
	}
	what := plan.What
	var do func() error
	switch action {
	case recovery.Abandon, recovery.Continue:
		do = func() error {
			_, err := as.CompleteLifecycleAction(ctx, &autoscaling.CompleteLifecycleActionInput{AutoScalingGroupName: aws.String(n.Group),
				LifecycleHookName: aws.String(plan.Hook), InstanceId: aws.String(plan.Waiting.ID), LifecycleActionResult: aws.String(plan.Result)})
			if awsapi.Classify(err) == awsapi.KindNoActiveLifecycleAction {
				return fmt.Errorf("the lifecycle action of %s is no longer active (completed or timed out meanwhile): run stateful status", plan.Waiting.ID)
			}
			return err
		}
	}
	if o.DryRun {
		fmt.Fprintf(io.Out, "dry run: would %s\n", what)
		return nil
	}
	if !o.Yes {
		if !d.terminal(io.In) {
			return usageError("not on a terminal: pass --yes to %s", what)
		}
		fmt.Fprintf(io.Out, "%s%s? [y/N] ", strings.ToUpper(what[:1]), what[1:])
		line, _ := bufio.NewReader(io.In).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			return &exitError{code: ExitDeclined, err: fmt.Errorf("declined; nothing was done")}
		}
	}
	if action == recovery.Replace {
		// A replacement takes the cluster's lock, as a roll does: never
		// while a roll (or another replacement) is under way. Holding it,
		// it looks again and decides again: the cluster may have changed
		// while the operator read the prompt.
		do = func() error {
			return withClusterLock(ctx, d, io, as, inv, o.selector(), "stateful recover --replace", o.lockFlags, func(ctx context.Context) error {
				now, err := inv.Observe(ctx, o.selector(), inventory.Full, nil)
				if err != nil {
					return err
				}
				again, err := recovery.Decide(now.Nodes, nodeID, hooks, action, o.Force)
				if err != nil {
					return err
				}
				if r := again.Refused; r != nil {
					return &exitError{code: ExitUnsafe, err: fmt.Errorf("refused after a fresh look: %s", r.Reason)}
				}
				if again.Target.ID != plan.Target.ID {
					return &exitError{code: ExitUnsafe, err: fmt.Errorf("refused: node %s's instance changed from %s to %s since the question; nothing was done", nodeID, plan.Target.ID, again.Target.ID)}
				}
				_, err = as.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{InstanceId: aws.String(again.Target.ID), ShouldDecrementDesiredCapacity: aws.Bool(false)})
				return err
			})
		}
	}
	if err := do(); err != nil {
		var held *lock.Held
		if errors.As(err, &held) {
			return &exitError{code: ExitUnsafe, err: fmt.Errorf("refused: %w", err)}
		}
		return err
	}
	fmt.Fprintf(io.Out, "done: %s\nwatch it with: stateful status%s\n", what, o.again())
	return nil
}

func explain(n cluster.Node, waiting cluster.Instance, hook string, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "node %s (group %s", n.ID, n.Group)
	if n.IP != "" {
		fmt.Fprintf(&b, ", IP %s", n.IP)
	}
	b.WriteString(")\n")
	switch {
	case n.Current():
		i, _ := n.Serving()
		fmt.Fprintf(&b, "  in service: %s on launch-template version %d, its group's target; nothing to recover\n", i.ID, i.Version)
	case len(n.Instances) == 0:
		b.WriteString("  no instance: the group is launching one, or its launches fail (see the activity below)\n")
	default:
		for _, i := range n.Instances {
			fmt.Fprintf(&b, "  instance %s: %s, %s, launch-template version %d (target %d)\n", i.ID, i.Lifecycle, i.Health, i.Version, n.Target)
		}
		switch {
		case waiting.ID != "" && waiting.Lifecycle == "Pending:Wait":
			fmt.Fprintf(&b, "  %s waits for its launch hook %s: the node agent has not completed it yet, or failed and holds it for debugging.\n", waiting.ID, hook)
			b.WriteString("  look at the agent's log on the instance (SSM: sudo journalctl -u cloud-final; sudo tail -200 /var/log/cloud-init-output.log).\n")
			b.WriteString("  --abandon gives this launch up (the group starts a fresh instance); --continue puts it into service as it is.\n")
		case waiting.ID != "":
			fmt.Fprintf(&b, "  %s waits for its termination hook %s (the drain); --continue or --abandon lets it terminate now.\n", waiting.ID, hook)
		case n.Problem() == "":
			b.WriteString("  in service on an old version: run stateful roll, or --replace this node alone.\n")
		default:
			fmt.Fprintf(&b, "  %s\n", n.Problem())
		}
	}
	if n.Volume.ID != "" {
		fmt.Fprintf(&b, "  volume %s: %s", n.Volume.ID, n.Volume.State)
		if n.Volume.AttachedTo != "" {
			fmt.Fprintf(&b, ", %s to %s", n.Volume.Attachment, n.Volume.AttachedTo)
		}
		b.WriteString("\n")
	}
	if a := n.LastActivity; a != nil {
		fmt.Fprintf(&b, "  last scaling activity (%s ago): %s\n", now.Sub(a.Start).Round(time.Second), a.Summary())
	}
	return b.String()
}
