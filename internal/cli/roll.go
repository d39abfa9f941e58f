package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/cluster"
	"github.com/stateful-aws/stateful/internal/diagnosis"
	"github.com/stateful-aws/stateful/internal/inventory"
	"github.com/stateful-aws/stateful/internal/lock"
	"github.com/stateful-aws/stateful/internal/rollout"
)

type rollOptions struct {
	awsFlags
	lockFlags
	markFlags
	appFlags
	Last            []string
	PreCheck        string
	CheckTimeout    time.Duration
	Timeout         time.Duration
	DryRun          bool
	Fast            time.Duration
	MaxUnavailable  string
	ByZone          bool
	AllowQuorumLoss bool
	Canary          int
	Verify          string
	Soak            time.Duration
	PauseAfter      int
	Only            []string
	Partition       string
	// observe also receives every event: the lab's report when the lab
	// runs this command (cli.labRoll).
	observe func(rollout.Event)
}

// events is where the roll's events go: the output, and observe.
func (o *rollOptions) events(write func(rollout.Event)) func(rollout.Event) {
	if o.observe == nil {
		return write
	}
	return func(e rollout.Event) { write(e); o.observe(e) }
}

func newRollCmd(io IO, d deps) *cobra.Command {
	o := &rollOptions{}
	cmd := &cobra.Command{
		Use:   "roll",
		Short: "Replace outdated nodes within a disruption budget (default one at a time)",
		Long: `Replace every node whose instance runs another launch-template version than
its group's ($Latest and $Default resolved), in node-id order, with --last
nodes (for example the leader) at the end.

Before touching anything every node must have exactly one instance,
InService and Healthy; roll waits up to --timeout for that, then refuses. For
each node it runs --pre-check (if given, retried until --timeout), suspends
its group's Launch process, terminates the instance keeping desired
capacity, resumes Launch as soon as the old instance has released the ENI
(so the group never fails a launch on the ENI and backs off), and waits
until a new instance is InService, Healthy and on the target version. It
stops at the first failure, naming the node, the instance, its lifecycle
state, the group's last scaling activity and the stateful recover command
to run. Re-running continues where the cluster is, and gives back the
Launch process of groups an interrupted roll left suspended.

Budget: at most --max-unavailable nodes (default 1; "zone" with --by-zone:
the largest zone) are out of service at any moment, counting nodes out for
reasons the roll did not cause: while such a node is out nothing new
starts, and the roll stops if they take the count past the budget.
--by-zone replaces one availability zone at a time (zones in name order,
zones of --last nodes at the end), never two at once. A budget that would
leave fewer nodes in service than a majority is refused (exit 2) unless
--allow-quorum-loss says the application replicates by zone.

Canary: --canary N replaces N nodes first, runs --verify (bash, retried
until --timeout, with STATEFUL_CANARY_NODES set to the replaced node ids)
and waits --soak, then goes on. --pause-after N stops after N
replacements (exit 5) and prints the command that resumes. --only NODE
(repeatable) or --partition NODE (that node and every node after it in
node-id order, as a StatefulSet's partition) limits the roll.

--dry-run looks once and never waits: it prints the plan and, when a node
is out of service, why the roll would wait (exit 3); it changes nothing.

Built-in checks: --app etcd|zookeeper|kafka asks the application itself,
on --app-port of every node's IP, before each termination (etcd-health:
every member healthy, one leader; zookeeper-quorum: one leader, every
follower synced; kafka-controller, kafka-min-isr: no partition already
under, or taken under by this broker's restart, its min.insync.replicas)
and after each replacement (etcd-caught-up: its raft index caught up with
the leader's; zookeeper-follower: following again and synced;
kafka-caught-up: back in every partition's in-sync replicas), each attempt
bounded by --check-timeout and retried until --timeout; --skip-check NAME
leaves one out. The leader (etcd leader, ZooKeeper leader, Kafka
controller), asked again before each node, goes last; etcd's leadership is
handed to a replaced member before the leader's node goes. ZooKeeper needs
4lw.commands.whitelist=srvr,mntr.

--on-failure rollback: a node whose replacement failed (launch abandoned,
built-in check or --verify failing) goes back to the launch-template
version it ran when the roll began (its group set to that version, the
node replaced again with its own volume and IP); the roll then stops
(exit 4), touches no other node and says what Terraform's next apply
will do.

--pre-check runs in bash with STATEFUL_NODE_ID, STATEFUL_NODE_IP,
STATEFUL_INSTANCE_ID and STATEFUL_ASG_NAME set; exit 0 means go.

Output: one line per event (human on a terminal, with a live line showing
the replacement under way; key=value otherwise), or JSON lines with
--output json; every stop ends with a failed (or interrupted) event
carrying the exit code and the command to run. AWS errors are one
sentence; --verbose lets the SDK log on stderr. Every flag also reads
STATEFUL_<FLAG>.

Exit codes:
  0  every node in scope is in service on its target version
  1  error (AWS unreachable, bad credentials, ...)
  2  bad flags, or a budget that would break the quorum; nothing was done
  3  refused: the cluster was not ready within --timeout, another command
     holds the cluster's lock (--lock-wait to wait, --break-lock for a dead
     holder), or the change failed before (--clear-failure-mark); nothing
     was terminated
  4  stopped at a failure; the message says where, why (the diagnosis) and
     what to run
  5  paused by --pause-after; the message gives the command that resumes
  6  interrupted by a signal (Ctrl-C, SIGTERM); the message names the node
     being replaced, the state it was left in and the command that resumes
  7  lost AWS mid-roll (unreachable, credentials, access denied, throttled
     past the retries); the same message as 6`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := envDefaults(cmd); err != nil {
				return err
			}
			return translate(runRoll(cmd.Context(), io, d, o), &o.awsFlags)
		},
	}
	o.register(cmd.Flags())
	f := cmd.Flags()
	f.StringSliceVar(&o.Last, "last", nil, "replace this node last, for example the leader (repeatable)")
	f.StringVar(&o.PreCheck, "pre-check", "", "shell command that must succeed before each termination")
	f.DurationVar(&o.CheckTimeout, "check-timeout", time.Minute, "how long one attempt of --pre-check or --verify may run before it is stopped and counts as failed")
	f.DurationVar(&o.Timeout, "timeout", 10*time.Minute, "bound of each wait: cluster ready, pre-check, verify, one replacement")
	f.BoolVar(&o.DryRun, "dry-run", false, "print the plan, and why the roll would wait or refuse, without waiting or changing anything")
	f.DurationVar(&o.Fast, "poll", time.Second, "shortest interval between two looks at the cluster")
	f.StringVar(&o.MaxUnavailable, "max-unavailable", "1", `most nodes out of service at once, whatever the cause: a number, or "zone" with --by-zone`)
	f.BoolVar(&o.ByZone, "by-zone", false, "replace the nodes of one availability zone at a time")
	o.registerLock(f, "take the cluster's lock from a holder that died (see the refusal's message)")
	o.registerMark(f)
	f.BoolVar(&o.AllowQuorumLoss, "allow-quorum-loss", false, "allow a budget that leaves fewer nodes in service than a majority (the application replicates by zone)")
	f.IntVar(&o.Canary, "canary", 0, "replace this many nodes first, then run --verify and wait --soak")
	f.StringVar(&o.Verify, "verify", "", "shell command that must succeed after the canary (retried until --timeout)")
	f.DurationVar(&o.Soak, "soak", 0, "how long to wait after the canary passed --verify")
	f.IntVar(&o.PauseAfter, "pause-after", 0, "stop after this many replacements (exit 5) and print the command that resumes")
	f.StringSliceVar(&o.Only, "only", nil, "replace only this node (repeatable)")
	f.StringVar(&o.Partition, "partition", "", "replace only this node and the nodes after it in node-id order")
	o.registerApp(f)
	return cmd
}

// budget parses --max-unavailable.
func (o *rollOptions) budget() (int, bool, error) {
	if o.MaxUnavailable == "zone" {
		if !o.ByZone {
			return 0, false, usageError(`--max-unavailable zone needs --by-zone`)
		}
		return 0, true, nil
	}
	n, err := strconv.Atoi(o.MaxUnavailable)
	if err != nil || n < 1 {
		return 0, false, usageError(`--max-unavailable must be a whole number of at least 1 or "zone", got %q`, o.MaxUnavailable)
	}
	return n, false, nil
}

func (o *rollOptions) check() error {
	switch {
	case o.Timeout <= 0:
		return usageError("--timeout must be positive, got %s", o.Timeout)
	case o.CheckTimeout <= 0:
		return usageError("--check-timeout must be positive, got %s", o.CheckTimeout)
	case o.Fast < 100*time.Millisecond || o.Fast > time.Minute:
		return usageError("--poll must be between 100ms and 1m, got %s", o.Fast)
	case o.Canary < 0:
		return usageError("--canary must be 0 or more nodes, got %d", o.Canary)
	case o.Canary == 0 && (o.Verify != "" || o.Soak != 0):
		return usageError("--verify and --soak apply to the canary: give --canary N as well")
	case o.Soak < 0:
		return usageError("--soak must not be negative, got %s", o.Soak)
	case o.PauseAfter < 0:
		return usageError("--pause-after must be 0 (never) or more replacements, got %d", o.PauseAfter)
	case len(o.Only) > 0 && o.Partition != "":
		return usageError("give --only or --partition, not both")
	}
	if err := o.checkLock(); err != nil {
		return err
	}
	if _, _, err := o.budget(); err != nil {
		return err
	}
	return o.checkApp()
}

// resumeCommand is the roll to run after a pause: the same flags without
// --pause-after (and without the canary once it has passed).
func (o *rollOptions) resumeCommand(canaryDone bool) string {
	var b strings.Builder
	b.WriteString("stateful roll" + o.again())
	if o.MaxUnavailable != "1" {
		fmt.Fprintf(&b, " --max-unavailable %s", shellQuote(o.MaxUnavailable))
	}
	if o.ByZone {
		b.WriteString(" --by-zone")
	}
	if o.AllowQuorumLoss {
		b.WriteString(" --allow-quorum-loss")
	}
	for _, id := range o.Last {
		fmt.Fprintf(&b, " --last %s", shellQuote(id))
	}
	for _, id := range o.Only {
		fmt.Fprintf(&b, " --only %s", shellQuote(id))
	}
	if o.Partition != "" {
		fmt.Fprintf(&b, " --partition %s", shellQuote(o.Partition))
	}
	if o.PreCheck != "" {
		fmt.Fprintf(&b, " --pre-check %s", shellQuote(o.PreCheck))
	}
	if o.Canary > 0 && !canaryDone {
		fmt.Fprintf(&b, " --canary %d", o.Canary)
		if o.Verify != "" {
			fmt.Fprintf(&b, " --verify %s", shellQuote(o.Verify))
		}
		if o.Soak > 0 {
			fmt.Fprintf(&b, " --soak %s", o.Soak)
		}
	}
	if o.Timeout != 10*time.Minute {
		fmt.Fprintf(&b, " --timeout %s", o.Timeout)
	}
	b.WriteString(o.appAgain())
	return b.String()
}

func runRoll(ctx context.Context, io IO, d deps, o *rollOptions) error {
	if err := o.validate(); err != nil {
		return err
	}
	o.stderr = io.Err
	if err := o.check(); err != nil {
		return err
	}
	budget, wholeZone, _ := o.budget()
	as, _, inv, err := d.inventory(ctx, &o.awsFlags)
	if err != nil {
		return err
	}
	out := newEventWriter(io.Out, o.Output, d.terminal(io.Out), d.clock.Now())
	cfg := rollout.Config{
		AutoScaling: as, Inventory: inv, Clock: d.clock, Events: o.events(out.rollEvent),
		Selector: o.selector(), Timeout: o.Timeout, DryRun: o.DryRun,
		Options: rollout.Options{Last: o.Last, Only: o.Only, Partition: o.Partition,
			MaxUnavailable: budget, WholeZone: wholeZone, ByZone: o.ByZone},
		AllowQuorumLoss: o.AllowQuorumLoss, Canary: o.Canary, Soak: o.Soak, PauseAfter: o.PauseAfter,
		Poll:           rollout.Poll{Fast: o.Fast, Slow: max(15*time.Second, o.Fast)},
		RecoverCommand: func(id string) string { return "stateful recover " + shellQuote(id) + o.again() },
		ResumeCommand:  o.resumeCommand,
		CheckTimeout:   o.CheckTimeout,
	}
	cfg.Explain = func(ctx context.Context, n cluster.Node) string {
		// A fresh full look: the roll's own reads of a group leave out the
		// volume and EC2's view.
		snap, err := inv.Observe(ctx, o.selector(), inventory.Full, nil)
		if err != nil {
			return ""
		}
		if fresh, ok := snap.Node(n.ID); ok {
			n = fresh
		}
		d, err := diagnoseNode(ctx, inv, n)
		if err != nil {
			return ""
		}
		return d.Summary
	}
	if o.PreCheck != "" {
		cfg.PreCheck = preCheck(o.PreCheck, io.Err)
	}
	if err := o.appFlags.apply(&cfg); err != nil {
		return err
	}
	if o.Verify != "" {
		cfg.Verify = verify(o.Verify, io.Err)
	}
	if err := refuseAttention(ctx, inv, o.selector()); err != nil {
		if ee := (*exitError)(nil); errors.As(err, &ee) {
			out.write(Event{At: d.clock.Now(), Kind: "failed", Message: err.Error(), ExitCode: exitCode(ee.code)})
		}
		return err
	}
	var res *rollout.Result
	cfg.Events = evictOnReplaced(ctx, d, &o.awsFlags, io.Err, cfg.Events)
	if o.DryRun {
		if _, err = guardMarks(ctx, d, io, o, inv, &cfg); err == nil {
			_, err = rollout.Run(ctx, cfg)
		}
	} else {
		err = withClusterLock(ctx, d, io, &o.awsFlags, as, inv, cfg.Selector, "stateful roll", o.lockFlags, func(ctx context.Context) error {
			marks, err := guardMarks(ctx, d, io, o, inv, &cfg)
			if err != nil {
				return err
			}
			res, err = rollout.Run(ctx, cfg)
			return marks.after(ctx, io, err)
		})
	}
	if err == nil {
		return nil
	}
	code := rollExitCode(ctx, err)
	ev := Event{At: d.clock.Now(), Kind: "failed", Message: err.Error(), ExitCode: exitCode(code)}
	if f, ok := rollout.IsFailure(err); ok {
		ev.Node, ev.Instance, ev.Command = f.Node, f.Instance, f.Recover
		ev.Nodes = ids(f.Nodes)
		if f.Kind == rollout.Refused && len(f.Nodes) > 0 {
			diags := map[string]diagnosis.Diagnosis{}
			for k, n := range f.Nodes {
				if k == maxDeepDiagnoses {
					break
				}
				if dg, derr := diagnoseNode(context.WithoutCancel(ctx), inv, n); derr == nil {
					diags[n.ID] = dg
				}
			}
			if dg, ok := diags[f.Node]; ok {
				ev.Cause, ev.Diagnosis = string(dg.Cause), &dg
			}
			fmt.Fprintln(io.Err, "nodes not in service:")
			writeProblems(io.Err, f.Nodes, diags)
		}
	}
	if code == ExitInterrupted || code == ExitUnreachable {
		err = interruption(ctx, err, code, o, res, out, &ev)
	}
	var paused *rollout.Paused
	if errors.As(err, &paused) {
		return &exitError{code: code, err: err}
	}
	if !out.failed {
		out.write(ev)
	}
	return &exitError{code: code, err: err}
}

// rollExitCode is the exit code of a roll that ended with err.
func rollExitCode(ctx context.Context, err error) int {
	var quorum *rollout.QuorumError
	var held *lock.Held
	var scope *rollout.ScopeError
	var paused *rollout.Paused
	switch f, ok := rollout.IsFailure(err); {
	case errors.As(err, &quorum), errors.As(err, &scope):
		return ExitUsage
	case errors.As(err, &paused):
		return ExitPaused
	case errors.As(err, &held):
		return ExitRefused
	case ok && f.Kind == rollout.Refused:
		return ExitRefused
	case ok:
		return ExitStopped
	case ctx.Err() != nil:
		return ExitInterrupted
	}
	var ce *awsapi.CredentialsError
	switch awsapi.Classify(err) {
	case awsapi.KindNetwork, awsapi.KindThrottling, awsapi.KindAccessDenied, awsapi.KindServer:
		return ExitUnreachable
	}
	if errors.As(err, &ce) {
		return ExitUnreachable
	}
	return ExitError
}

// interruption says, in one sentence, where an interrupted roll stopped:
// the node it was replacing, the state it left, and the command that
// resumes; ev becomes the "interrupted" event.
//
// The nodes in flight come from the roll's Result, not from its events.
func interruption(ctx context.Context, err error, code int, o *rollOptions, res *rollout.Result, out *eventWriter, ev *Event) error {
	why := "interrupted by a signal"
	if code == ExitUnreachable {
		why = "lost AWS (" + firstSentence(translate(err, &o.awsFlags)) + ")"
	}
	resume := o.resumeCommand(false)
	var flights []rollout.InFlight
	if res != nil {
		flights = slices.Clone(res.InFlight)
	}
	slices.SortStableFunc(flights, func(a, b rollout.InFlight) int {
		switch {
		case cluster.Less(a.Node, b.Node):
			return -1
		case cluster.Less(b.Node, a.Node):
			return 1
		}
		return 0
	})
	var states, nodes []string
	for _, fl := range flights {
		nodes = append(nodes, fl.Node)
		if fl.Resumed {
			states = append(states, fmt.Sprintf("node %s's old instance %s is gone and its group is launching the replacement, which comes up by itself", fl.Node, fl.Old))
		} else {
			states = append(states, fmt.Sprintf("node %s's old instance %s was terminated while its group's Launch process was suspended; re-running (or stateful recover %s) gives Launch back once the ENI is free", fl.Node, fl.Old, fl.Node))
		}
	}
	state := strings.Join(states, "; ")
	node, old := "", ""
	if len(flights) == 0 {
		state = "no node was being replaced, so nothing is half-done"
	} else {
		node, old = flights[0].Node, flights[0].Old
		ev.Nodes = nodes
	}
	var left *lockLeft
	if errors.As(err, &left) {
		state += "; the cluster's lock could not be released: the next command takes it after watching it unrenewed for its lease (--lock-wait 11m), or sooner with --break-lock"
	}
	msg := fmt.Sprintf("roll %s: %s; run %s to resume where the cluster is", why, state, resume)
	if ctx.Err() != nil && node == "" {
		msg = fmt.Sprintf("roll %s: %s; run %s to start again", why, state, resume)
	}
	ev.Kind, ev.Node, ev.Instance, ev.Message, ev.Command = "interrupted", node, old, msg, resume
	out.write(*ev)
	return &translated{msg: msg, err: err}
}

// firstSentence is an error's message up to its first "; ".
func firstSentence(err error) string {
	s := err.Error()
	if i := strings.Index(s, "; "); i > 0 {
		return s[:i]
	}
	return s
}

func ids(nodes []cluster.Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.ID
	}
	return out
}

// resumeStranded gives back the Launch process of groups an interrupted
// roll left suspended with their node down, and says so on stderr.
func resumeStranded(ctx context.Context, io IO, as awsapi.AutoScaling, snap cluster.Snapshot) error {
	done, err := rollout.ResumeStranded(ctx, as, snap)
	for _, id := range done {
		if n, _ := snap.Node(id); len(n.Instances) > 0 {
			fmt.Fprintf(io.Err, "node %s: resumed its group's Launch process, left suspended by an interrupted roll while the node served; the group can replace its instance again\n", id)
			continue
		}
		fmt.Fprintf(io.Err, "node %s: resumed its group's Launch process, left suspended by an interrupted roll; its replacement launches now\n", id)
	}
	return err
}

func writeProblems(w io.Writer, nodes []cluster.Node, diags map[string]diagnosis.Diagnosis) {
	for _, n := range nodes {
		why := n.Problem()
		if d, ok := diags[n.ID]; ok {
			why = d.Summary
		}
		state := "no instance"
		if len(n.Instances) > 0 {
			state = n.Instances[0].ID + " " + n.Instances[0].Lifecycle
		}
		fmt.Fprintf(w, "  node %s (group %s, %s): %s\n", n.ID, n.Group, state, why)
	}
}

// preCheck runs a shell command for a node.
func preCheck(command string, stderr io.Writer) func(context.Context, cluster.Node) error {
	return func(ctx context.Context, n cluster.Node) error {
		cmd := exec.CommandContext(ctx, "bash", "-c", command)
		cmd.WaitDelay = checkWaitDelay
		var inst string
		if i, ok := n.Serving(); ok {
			inst = i.ID
		}
		cmd.Env = append(os.Environ(), "STATEFUL_NODE_ID="+n.ID, "STATEFUL_NODE_IP="+n.IP, "STATEFUL_INSTANCE_ID="+inst, "STATEFUL_ASG_NAME="+n.Group)
		cmd.Stdout, cmd.Stderr = stderr, stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %w", command, err)
		}
		return nil
	}
}

// checkWaitDelay bounds how long a stopped check's children may keep its
// output open: bash killed at --check-timeout may leave a child behind.
const checkWaitDelay = 5 * time.Second

// verify runs the canary's verify command.
func verify(command string, stderr io.Writer) func(context.Context, []string) error {
	return func(ctx context.Context, nodes []string) error {
		cmd := exec.CommandContext(ctx, "bash", "-c", command)
		cmd.WaitDelay = checkWaitDelay
		cmd.Env = append(os.Environ(), "STATEFUL_CANARY_NODES="+strings.Join(nodes, " "))
		cmd.Stdout, cmd.Stderr = stderr, stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %w", command, err)
		}
		return nil
	}
}
