package rollout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/cluster"
	"github.com/stateful-aws/stateful/internal/inventory"
)

// Config holds the roll's collaborators and settings.
type Config struct {
	AutoScaling awsapi.AutoScaling
	Inventory   *inventory.Inventory
	Clock       clock.Clock
	Logger      *slog.Logger
	// Events receives every step as it happens (may be nil).
	Events func(Event)

	Selector inventory.Selector
	// Last moves these nodes (for example a leader) to the end.
	Last []string
	// Timeout bounds each wait: for the cluster to be ready before the
	// roll, for a pre-check to pass, and for each replacement.
	Timeout time.Duration
	// PreCheck, when set, must pass before each termination; it is retried
	// until Timeout.
	PreCheck func(ctx context.Context, n cluster.Node) error
	DryRun   bool
	Poll     Poll
	// RecoverCommand renders the command that unsticks a node, for messages.
	RecoverCommand func(nodeID string) string
}

// Poll sets how often the roll looks. It polls every Fast while it has no
// idea how long a replacement takes; once one replacement has finished it
// sleeps through most of the expected time (halving the remainder, never
// longer than Slow) and polls every Fast around the expected end. Under
// throttling it backs off from Fast up to Slow.
type Poll struct {
	Fast, Slow time.Duration
}

// DefaultPoll detects a replacement within a second.
func DefaultPoll() Poll { return Poll{Fast: time.Second, Slow: 15 * time.Second} }

// Event is one step of a roll.
type Event struct {
	At       time.Time `json:"at"`
	Kind     string    `json:"event"` // waiting, ready, plan, pre-check, terminate, progress, replaced, done, failed
	Node     string    `json:"node,omitempty"`
	Instance string    `json:"instance,omitempty"`
	Message  string    `json:"message"`
	// Nodes is the plan (for "plan") or the nodes in the way ("waiting").
	Nodes []string `json:"nodes,omitempty"`
	// Took is how long the node's replacement took (for "replaced").
	Took time.Duration `json:"took_ns,omitempty"`
}

// Result summarises a finished roll.
type Result struct {
	Replaced []Replacement
	Plan     []string
}

// Replacement is one node replaced.
type Replacement struct {
	Node, Old, New string
	Took           time.Duration // terminate call to new instance detected in service
	Detected       time.Time
}

// FailureKind says why a roll stopped.
type FailureKind string

const (
	Refused      FailureKind = "refused"       // the cluster was not ready to start
	Timeout      FailureKind = "timeout"       // a wait ran past --timeout
	Abandoned    FailureKind = "abandoned"     // the replacement's launch was abandoned
	NodeLost     FailureKind = "node-lost"     // another node left service mid-roll
	WrongVersion FailureKind = "wrong-version" // a replacement came up on another version
	PreCheck     FailureKind = "pre-check"     // the pre-check never passed
)

// Failure is a roll that stopped. Its message names the node, instance,
// lifecycle state, the group's last scaling activity and the command that
// unsticks it.
type Failure struct {
	Kind      FailureKind
	Node      string
	Instance  string
	Lifecycle string
	Activity  string
	Detail    string
	Recover   string
	Nodes     []cluster.Node // for Refused: what is wrong
}

func (f *Failure) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "roll stopped (%s)", f.Kind)
	if f.Node != "" {
		fmt.Fprintf(&b, " at node %s", f.Node)
	}
	if f.Instance != "" {
		fmt.Fprintf(&b, ", instance %s", f.Instance)
		if f.Lifecycle != "" {
			fmt.Fprintf(&b, " (%s)", f.Lifecycle)
		}
	}
	fmt.Fprintf(&b, ": %s", f.Detail)
	if f.Activity != "" {
		fmt.Fprintf(&b, "; last scaling activity: %s", f.Activity)
	}
	if f.Recover != "" {
		fmt.Fprintf(&b, "; to unstick it run: %s", f.Recover)
	}
	return b.String()
}

// Run rolls the cluster.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.AutoScaling == nil || cfg.Inventory == nil || cfg.Clock == nil {
		return nil, fmt.Errorf("rollout: AutoScaling, Inventory and Clock are required")
	}
	if cfg.Timeout <= 0 {
		return nil, fmt.Errorf("rollout: Timeout must be positive")
	}
	if cfg.Poll == (Poll{}) {
		cfg.Poll = DefaultPoll()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RecoverCommand == nil {
		cfg.RecoverCommand = func(id string) string { return "stateful recover " + id }
	}
	r := &roller{cfg: cfg, log: cfg.Logger.With("component", "rollout")}
	return r.run(ctx)
}

type roller struct {
	cfg      Config
	log      *slog.Logger
	snap     cluster.Snapshot // latest observation
	started  time.Time        // when the current step began
	expected time.Duration    // shortest replacement so far, 0 before the first
	backoff  time.Duration
}

func (r *roller) now() time.Time { return r.cfg.Clock.Now() }

func (r *roller) emit(ev Event) {
	ev.At = r.now()
	if ev.Kind != "progress" {
		r.log.Info(ev.Message, "event", ev.Kind, "node_id", ev.Node, "instance_id", ev.Instance)
	}
	if r.cfg.Events != nil {
		r.cfg.Events(ev)
	}
}

func (r *roller) run(ctx context.Context) (*Result, error) {
	if err := r.preflight(ctx); err != nil {
		return nil, err
	}
	res := &Result{}
	for _, n := range Order(r.snap, r.cfg.Last) {
		res.Plan = append(res.Plan, n.ID)
	}
	r.emit(Event{Kind: "plan", Nodes: res.Plan, Message: planMessage(r.snap, res.Plan, r.cfg.DryRun)})
	if r.cfg.DryRun {
		return res, nil
	}
	replaced := map[string]bool{}
	for {
		d := Decide(r.snap, r.cfg.Last)
		switch d.Action {
		case Done:
			r.emit(Event{Kind: "done", Message: fmt.Sprintf("every node is in service on its target version; replaced %d", len(res.Replaced))})
			return res, nil
		case Wait:
			return res, r.lost(ctx, d.Nodes[0], "left service between two replacements")
		case Unknown:
			return res, &Failure{Kind: Refused, Node: d.Nodes[0].ID, Detail: "its group's launch-template version " + d.Nodes[0].VersionSpec + " could not be resolved", Nodes: d.Nodes}
		}
		n := d.Node
		if replaced[n.ID] {
			// A node replaced once that is outdated again means its group's
			// version moved during the roll: stop rather than loop.
			return res, &Failure{Kind: WrongVersion, Node: n.ID, Detail: fmt.Sprintf("already replaced in this roll, yet it runs version %d and its group wants %d", n.Instances[0].Version, n.Target)}
		}
		rep, err := r.replace(ctx, n)
		if err != nil {
			return res, err
		}
		replaced[n.ID] = true
		res.Replaced = append(res.Replaced, rep)
	}
}

func planMessage(s cluster.Snapshot, plan []string, dry bool) string {
	if len(plan) == 0 {
		return fmt.Sprintf("all %d nodes are current; nothing to replace", len(s.Nodes))
	}
	var parts []string
	for _, id := range plan {
		n, _ := s.Node(id)
		parts = append(parts, fmt.Sprintf("%s (v%d -> v%d)", id, n.Instances[0].Version, n.Target))
	}
	verb := "will replace"
	if dry {
		verb = "would replace"
	}
	return fmt.Sprintf("%s %d of %d nodes, one at a time: %s", verb, len(plan), len(s.Nodes), strings.Join(parts, ", "))
}

// observe reads the cluster, riding out throttling and transient errors
// with backoff until the deadline.
func (r *roller) observe(ctx context.Context, depth inventory.Depth, deadline time.Time) error {
	for {
		prev := r.snap
		s, err := r.cfg.Inventory.Observe(ctx, r.cfg.Selector, depth, &prev)
		if err == nil {
			r.snap = s
			r.backoff = 0
			return nil
		}
		if !awsapi.Transient(err) || !r.now().Before(deadline) {
			return err
		}
		if err := r.sleepBackoff(ctx); err != nil {
			return err
		}
	}
}

func (r *roller) sleepBackoff(ctx context.Context) error {
	r.backoff = max(r.cfg.Poll.Fast, min(2*r.backoff, r.cfg.Poll.Slow))
	return clock.Sleep(ctx, r.cfg.Clock, r.backoff)
}

// preflight waits up to the timeout for every node to serve, then refuses.
func (r *roller) preflight(ctx context.Context) error {
	deadline := r.now().Add(r.cfg.Timeout)
	r.started = r.now()
	waited := false
	depth := inventory.Full // then groups only: the rest carries over
	for {
		if err := r.observe(ctx, depth, deadline); err != nil {
			return err
		}
		depth = inventory.Groups
		out := r.snap.NotServing()
		if len(out) == 0 {
			if waited {
				r.emit(Event{Kind: "ready", Message: "every node is in service"})
			}
			return nil
		}
		if !r.now().Before(deadline) {
			return &Failure{Kind: Refused, Node: out[0].ID, Detail: fmt.Sprintf("%d of %d nodes are not in service after waiting %s; nothing was terminated", len(out), len(r.snap.Nodes), r.cfg.Timeout),
				Recover: r.cfg.RecoverCommand(out[0].ID), Nodes: out}
		}
		if !waited {
			ids := make([]string, len(out))
			for i, n := range out {
				ids[i] = n.ID
			}
			r.emit(Event{Kind: "waiting", Nodes: ids, Message: fmt.Sprintf("waiting up to %s for %d node(s) to be in service before starting: %s", r.cfg.Timeout, len(out), strings.Join(ids, ", "))})
			waited = true
		}
		if err := clock.Sleep(ctx, r.cfg.Clock, r.cfg.Poll.Fast); err != nil {
			return err
		}
	}
}

// replace terminates the node's instance and waits for its successor.
func (r *roller) replace(ctx context.Context, n cluster.Node) (Replacement, error) {
	old, _ := n.Serving()
	if r.cfg.PreCheck != nil {
		if err := r.preCheck(ctx, n); err != nil {
			return Replacement{}, err
		}
		// The pre-check may have taken a while: look again before acting.
		if err := r.observe(ctx, inventory.Groups, r.now().Add(r.cfg.Timeout)); err != nil {
			return Replacement{}, err
		}
		if out := r.snap.NotServing(); len(out) > 0 {
			return Replacement{}, r.lost(ctx, out[0], "left service while node "+n.ID+"'s pre-check ran")
		}
		if cur, _ := r.snap.Node(n.ID); !stillServing(cur, old.ID) {
			return Replacement{}, &Failure{Kind: NodeLost, Node: n.ID, Instance: old.ID, Detail: "its instance changed while the pre-check ran; nothing was terminated", Recover: r.cfg.RecoverCommand(n.ID)}
		}
	}
	start := r.now()
	r.started = start
	r.emit(Event{Kind: "terminate", Node: n.ID, Instance: old.ID, Message: fmt.Sprintf("replacing node %s: terminating %s (v%d), keeping desired capacity", n.ID, old.ID, old.Version)})
	if err := r.terminate(ctx, n, old.ID, start.Add(r.cfg.Timeout)); err != nil {
		return Replacement{}, err
	}
	return r.await(ctx, n, old.ID, start)
}

func (r *roller) preCheck(ctx context.Context, n cluster.Node) error {
	deadline := r.now().Add(r.cfg.Timeout)
	for {
		err := r.cfg.PreCheck(ctx, n)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.emit(Event{Kind: "pre-check", Node: n.ID, Message: fmt.Sprintf("pre-check for node %s failed: %v", n.ID, err)})
		if !r.now().Before(deadline) {
			return &Failure{Kind: PreCheck, Node: n.ID, Detail: fmt.Sprintf("the pre-check did not pass within %s: %v; nothing was terminated", r.cfg.Timeout, err)}
		}
		if err := clock.Sleep(ctx, r.cfg.Clock, r.cfg.Poll.Slow); err != nil {
			return err
		}
	}
}

// terminate asks the group to replace the instance. A retried call that
// finds the instance already leaving counts as done.
func (r *roller) terminate(ctx context.Context, n cluster.Node, instance string, deadline time.Time) error {
	for {
		_, err := r.cfg.AutoScaling.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
			InstanceId: aws.String(instance), ShouldDecrementDesiredCapacity: aws.Bool(false)})
		if err == nil {
			return nil
		}
		if !awsapi.Transient(err) && awsapi.Classify(err) != awsapi.KindValidation {
			return fmt.Errorf("terminating instance %s of node %s: %w", instance, n.ID, err)
		}
		// The call may have landed even though we saw an error: look.
		if oerr := r.observe(ctx, inventory.Groups, deadline); oerr != nil {
			return oerr
		}
		if cur, _ := r.snap.Node(n.ID); !stillServing(cur, instance) {
			return nil
		}
		if !awsapi.Transient(err) {
			return fmt.Errorf("terminating instance %s of node %s: %w", instance, n.ID, err)
		}
		if !r.now().Before(deadline) {
			return &Failure{Kind: Timeout, Node: n.ID, Instance: instance, Detail: fmt.Sprintf("could not terminate within %s: %v", r.cfg.Timeout, err)}
		}
		if err := r.sleepBackoff(ctx); err != nil {
			return err
		}
	}
}

func stillServing(n cluster.Node, instance string) bool {
	for _, i := range n.Instances {
		if i.ID == instance && i.Ready() {
			return true
		}
	}
	return false
}

// await polls until a new instance serves the node on the target version,
// failing at once when another node leaves service, when the replacement's
// launch is abandoned, or at the timeout.
func (r *roller) await(ctx context.Context, n cluster.Node, old string, start time.Time) (Replacement, error) {
	deadline := start.Add(r.cfg.Timeout)
	var seen []string // successor instances seen so far
	for {
		if err := clock.Sleep(ctx, r.cfg.Clock, r.interval(r.now().Sub(start))); err != nil {
			return Replacement{}, err
		}
		if err := r.observe(ctx, inventory.Groups, deadline); err != nil {
			return Replacement{}, err
		}
		for _, o := range r.snap.NotServing() {
			if o.ID != n.ID {
				return Replacement{}, r.lost(ctx, o, "left service while node "+n.ID+" was being replaced")
			}
		}
		cur, _ := r.snap.Node(n.ID)
		r.emit(Event{Kind: "progress", Node: n.ID, Message: progress(cur, old, r.now().Sub(start))})
		if i, ok := cur.Serving(); ok && i.ID != old {
			if i.Version != cur.Target {
				return Replacement{}, &Failure{Kind: WrongVersion, Node: n.ID, Instance: i.ID, Lifecycle: i.Lifecycle,
					Detail: fmt.Sprintf("the replacement runs launch-template version %d, the group wants %d", i.Version, cur.Target)}
			}
			took := r.now().Sub(start)
			if r.expected == 0 || took < r.expected {
				r.expected = took
			}
			r.emit(Event{Kind: "replaced", Node: n.ID, Instance: i.ID, Took: took, Message: fmt.Sprintf("node %s is back in service on %s (v%d) after %s", n.ID, i.ID, i.Version, took.Round(time.Millisecond))})
			return Replacement{Node: n.ID, Old: old, New: i.ID, Took: took, Detected: r.now()}, nil
		}
		for _, i := range cur.Instances {
			if i.ID == old {
				continue
			}
			if !slices.Contains(seen, i.ID) {
				seen = append(seen, i.ID)
			}
			if strings.HasPrefix(i.Lifecycle, "Terminating") || i.Lifecycle == "Terminated" {
				return Replacement{}, r.failNode(ctx, Abandoned, cur, i, "the replacement instance was abandoned before it came into service")
			}
		}
		if !r.now().Before(deadline) {
			var i cluster.Instance
			for _, c := range cur.Instances {
				if c.ID != old {
					i = c
				}
			}
			detail := fmt.Sprintf("no new instance came into service within %s", r.cfg.Timeout)
			if i.ID == "" {
				detail = fmt.Sprintf("no replacement instance was launched within %s", r.cfg.Timeout)
			}
			return Replacement{}, r.failNode(ctx, Timeout, cur, i, detail)
		}
	}
}

// progress says where a replacement stands, for a live view.
func progress(n cluster.Node, old string, elapsed time.Duration) string {
	var parts []string
	for _, i := range n.Instances {
		who := "new " + i.ID
		if i.ID == old {
			who = "old " + i.ID
		}
		parts = append(parts, who+" "+i.Lifecycle)
	}
	if len(parts) == 0 {
		parts = append(parts, "no instance yet")
	}
	return fmt.Sprintf("node %s: %s (%s)", n.ID, strings.Join(parts, ", "), elapsed.Round(time.Second))
}

// interval is the next poll's delay for a replacement running for elapsed.
func (r *roller) interval(elapsed time.Duration) time.Duration {
	p := r.cfg.Poll
	if r.expected == 0 {
		return p.Fast
	}
	remaining := r.expected - elapsed - p.Fast
	return max(p.Fast, min(remaining/2, p.Slow))
}

func (r *roller) failNode(ctx context.Context, kind FailureKind, n cluster.Node, i cluster.Instance, detail string) error {
	f := &Failure{Kind: kind, Node: n.ID, Instance: i.ID, Lifecycle: i.Lifecycle, Detail: detail, Recover: r.cfg.RecoverCommand(n.ID)}
	if a, err := r.cfg.Inventory.LastActivity(ctx, n.Group, r.started); err == nil && a != nil {
		f.Activity = a.Summary()
	}
	r.emit(Event{Kind: "failed", Node: n.ID, Instance: i.ID, Message: f.Error()})
	return f
}

func (r *roller) lost(ctx context.Context, o cluster.Node, why string) error {
	var i cluster.Instance
	if len(o.Instances) > 0 {
		i = o.Instances[0]
	}
	detail := fmt.Sprintf("node %s %s (%s); no other node was touched", o.ID, why, o.Problem())
	return r.failNode(ctx, NodeLost, o, i, detail)
}

// IsFailure reports whether err is a roll that stopped (as opposed to an
// error reaching AWS), and returns it.
func IsFailure(err error) (*Failure, bool) {
	var f *Failure
	ok := errors.As(err, &f)
	return f, ok
}
