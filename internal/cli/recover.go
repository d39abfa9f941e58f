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
	"github.com/stateful-aws/stateful/internal/diagnosis"
	"github.com/stateful-aws/stateful/internal/inventory"
	"github.com/stateful-aws/stateful/internal/lock"
	"github.com/stateful-aws/stateful/internal/recovery"
	"github.com/stateful-aws/stateful/internal/rollout"
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
		Long: `Explain why a node is not in service: its instances (Auto Scaling's and
EC2's state), its volume, and the diagnosis: the one reason that holds it
(a lifecycle hook, since when and when it times out; the node agent's
failure; launches failing and why, past the routine ENI retries; its
group's capacity; an impaired instance; a volume not attached), with the
scaling activity that shows it and what to run. --output json prints JSON
lines (events diagnosis, would, done, failed). A node a killed roll left down (Launch suspended, no
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
			return translate(runRecover(cmd.Context(), io, d, o, args[0]), &o.awsFlags)
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
	o.stderr = io.Err
	actions := 0
	for _, b := range []bool{o.Abandon, o.Continue, o.Replace} {
		if b {
			actions++
		}
	}
	if actions > 1 {
		return usageError("use at most one of --abandon, --continue and --replace")
	}
	if err := o.checkLock(); err != nil {
		return err
	}
	out := newEventWriter(io.Out, o.Output, false, d.clock.Now())
	// fail reports a refusal or failure as a failed event in JSON, and
	// returns it for stderr and the exit code.
	fail := func(err error) error {
		if o.Output == "json" {
			code := ExitError
			var ee *exitError
			if errors.As(err, &ee) {
				code = ee.code
			}
			out.write(Event{At: d.clock.Now(), Kind: "failed", Node: nodeID, Message: translate(err, &o.awsFlags).Error(), ExitCode: exitCode(code)})
		}
		return err
	}
	as, _, inv, err := d.inventory(ctx, &o.awsFlags)
	if err != nil {
		return fail(err)
	}
	snap, err := inv.Observe(ctx, o.selector(), inventory.Full, nil)
	if err != nil {
		return fail(err)
	}
	if err := repairStranded(ctx, d, io, &o.awsFlags, as, inv, o.selector(), o.lockFlags, o.DryRun, snap); err != nil {
		return fail(err)
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
		return fail(usageError("%v (in %s)", err, o.selector()))
	}
	in, err := inv.DiagnosisInput(ctx, n)
	if err != nil {
		return fail(err)
	}
	diag := diagnosis.Diagnose(in)
	var hooks []recovery.Hook
	for _, h := range in.Hooks {
		hooks = append(hooks, recovery.Hook{Name: h.Name, Transition: h.Transition})
	}
	plan, err := recovery.Decide(snap.Nodes, nodeID, hooks, action, o.Force)
	if err != nil {
		return fail(usageError("%v", err))
	}
	if o.Output == "json" {
		out.write(Event{At: d.clock.Now(), Kind: "diagnosis", Node: n.ID, Instance: diag.Instance, Cause: string(diag.Cause), Diagnosis: &diag, Message: diag.Summary})
	} else {
		fmt.Fprint(io.Out, explain(plan.Node, diag, snap.At))
	}
	if action == recovery.Explain {
		return nil
	}
	if r := plan.Refused; r != nil {
		if r.Usage {
			return fail(usageError("%s", r.Reason))
		}
		return fail(&exitError{code: ExitUnsafe, err: fmt.Errorf("refused: %s", r.Reason)})
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
		if o.Output == "json" {
			out.write(Event{At: d.clock.Now(), Kind: "would", Node: n.ID, Instance: plan.Waiting.ID + plan.Target.ID, Message: "dry run: would " + what})
		} else {
			fmt.Fprintf(io.Out, "dry run: would %s\n", what)
		}
		return nil
	}
	if !o.Yes {
		if !d.terminal(io.In) {
			return fail(usageError("not on a terminal: pass --yes to %s", what))
		}
		fmt.Fprintf(io.Out, "%s%s? [y/N] ", strings.ToUpper(what[:1]), what[1:])
		line, _ := bufio.NewReader(io.In).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			return fail(&exitError{code: ExitDeclined, err: fmt.Errorf("declined; nothing was done")})
		}
	}
	if action == recovery.Replace {
		// A replacement takes the cluster's lock, as a roll does: never
		// while a roll (or another replacement) is under way. Holding it,
		// it looks again and decides again: the cluster may have changed
		// while the operator read the prompt.
		do = func() error {
			return withClusterLock(ctx, d, io, &o.awsFlags, as, inv, o.selector(), "stateful recover --replace", o.lockFlags, func(ctx context.Context) error {
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
				if err != nil {
					return err
				}
				// The instance is terminating: a drain hook left to its
				// timeout is a slower replacement, not a failed one.
				if err := completeOldDrain(ctx, as, inv, o.selector(), nodeID, again.Target.ID, hooks, func(msg string) {
					if o.Output == "json" {
						out.write(Event{At: d.clock.Now(), Kind: rollout.EventDrainCompleted, Node: nodeID, Instance: again.Target.ID, Message: msg})
					} else {
						fmt.Fprintln(io.Out, msg)
					}
				}); err != nil {
					fmt.Fprintf(io.Err, "stateful: %v\n", translate(err, &o.awsFlags))
				}
				return nil
			})
		}
	}
	if err := do(); err != nil {
		var held *lock.Held
		if errors.As(err, &held) {
			return fail(&exitError{code: ExitUnsafe, err: fmt.Errorf("refused: %w", err)})
		}
		return fail(err)
	}
	if action == recovery.Replace {
		if err := evictAfterReplace(ctx, d, &o.awsFlags, io.Err, n.ID, n.Group, plan.Target.ID); err != nil {
			return fail(err)
		}
	}
	watch := "stateful status" + o.again()
	if o.Output == "json" {
		out.write(Event{At: d.clock.Now(), Kind: "done", Node: n.ID, Instance: plan.Waiting.ID + plan.Target.ID, Message: "done: " + what, Command: watch, ExitCode: exitCode(ExitOK)})
	} else {
		fmt.Fprintf(io.Out, "done: %s\nwatch it with: %s\n", what, watch)
	}
	return nil
}

// explain is recover's text: the node as observed and its diagnosis.
func explain(n cluster.Node, d diagnosis.Diagnosis, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "node %s (group %s", n.ID, n.Group)
	if n.IP != "" {
		fmt.Fprintf(&b, ", IP %s", n.IP)
	}
	fmt.Fprintf(&b, ", capacity %d/%d/%d desired/min/max)\n", n.Desired, n.MinSize, n.MaxSize)
	if len(n.Instances) == 0 {
		b.WriteString("  no instance\n")
	}
	for _, i := range n.Instances {
		ec2 := i.EC2State
		if ec2 == "" {
			ec2 = "not listed yet"
		}
		fmt.Fprintf(&b, "  instance %s: %s (EC2: %s), %s, launch-template version %d (target %d)\n", i.ID, i.Lifecycle, ec2, i.Health, i.Version, n.Target)
	}
	if n.Volume.ID != "" {
		fmt.Fprintf(&b, "  volume %s: %s", n.Volume.ID, n.Volume.State)
		if n.Volume.AttachedTo != "" {
			fmt.Fprintf(&b, ", %s to %s", n.Volume.Attachment, n.Volume.AttachedTo)
		}
		b.WriteString("\n")
	}
	if d.OK() {
		fmt.Fprintf(&b, "  diagnosis: %s; nothing to recover\n", d.Summary)
	} else {
		fmt.Fprintf(&b, "  diagnosis (%s): %s\n", d.Cause, d.Summary)
	}
	if !d.Since.IsZero() {
		fmt.Fprintf(&b, "  in this state for %s (since %s)\n", age(now.Sub(d.Since)), stamp(d.Since))
	}
	if a := d.Activity; a != nil {
		fmt.Fprintf(&b, "  scaling activity (%s): %s\n", stamp(a.Start), a.Summary())
	}
	if d.Fix != "" {
		fmt.Fprintf(&b, "  fix: %s\n", d.Fix)
	}
	return b.String()
}
