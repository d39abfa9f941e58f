package rollout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
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
	// Options: which nodes, in what order, how many at once.
	Options
	// AllowQuorumLoss lets through a budget that would leave fewer nodes in
	// service than a majority (for applications that replicate by zone).
	AllowQuorumLoss bool
	// Timeout bounds each wait: for the cluster to be ready before the
	// roll, for a pre-check or verify to pass, for each replacement, and
	// for nodes the roll did not take out to come back.
	Timeout time.Duration
	// PreCheck, when set, must pass before each termination; it is retried
	// until Timeout.
	PreCheck func(ctx context.Context, n cluster.Node) error
	// CheckTimeout bounds each attempt of PreCheck and Verify (default 1
	// minute): an attempt still running then has its context cancelled
	// (its command killed) and counts as failed, so a hung command cannot
	// hang the roll.
	CheckTimeout time.Duration
	// Canary replaces this many nodes first, then runs Verify (retried
	// until Timeout) and waits Soak before going on.
	Canary int
	Verify func(ctx context.Context, replaced []string) error
	Soak   time.Duration
	// PauseAfter stops the roll (a *Paused error) once this many nodes
	// have been replaced in this run (0: never).
	PauseAfter int
	DryRun     bool
	Poll       Poll
	// Pace spaces the roll's own Auto Scaling writes (suspend, terminate,
	// resume). AWS publishes no Auto Scaling rate; nil means DefaultPace,
	// a Bucket with Rate 0 means no pacing.
	Pace *awsapi.Bucket
	// RecoverCommand renders the command that unsticks a node, for messages.
	// Explain, when set, says in one sentence why node n is not in service
	// (internal/diagnosis), for the failure message; without it the message
	// quotes the group's last failed scaling activity.
	Explain        func(ctx context.Context, n cluster.Node) string
	RecoverCommand func(nodeID string) string
	// ResumeCommand renders the command that resumes a paused roll, for
	// messages; canaryDone says whether the canary has passed.
	ResumeCommand func(canaryDone bool) string
}

// Poll sets how often the roll looks. It polls every Fast while it has no
// idea how long a replacement takes; once one replacement has finished it
// sleeps through most of the expected time (halving the remainder, never
// longer than Slow) and polls every Fast around the expected end. Under
// throttling it backs off from Fast up to Slow.
//
// Between looks at the whole cluster it reads only the nodes it is
// replacing. It looks at the whole cluster right before it starts a
// replacement and at least every Check: one call reads the account's
// newest scaling activities, and only when one of them is not the roll's
// own (a node leaving service always starts one), or the page overflowed,
// or the last read of every group is older than Sweep, does it read every
// group.
type Poll struct {
	Fast, Slow, Check, Sweep time.Duration
}

// DefaultPace lets the roll write to Auto Scaling in bursts of 100, then
// 20 calls a second: EC2's documented bucket for Describe calls, the
// nearest published figure (AWS publishes none for Auto Scaling).
func DefaultPace(c clock.Clock) *awsapi.Bucket {
	return &awsapi.Bucket{Clock: c, Rate: 20, Burst: 100}
}

// DefaultPoll detects a replacement within a second.
func DefaultPoll() Poll {
	return Poll{Fast: time.Second, Slow: 15 * time.Second, Check: time.Minute, Sweep: 10 * time.Minute}
}

// EventKind names a step of a roll; the values are the event schema's
// ("event" in JSON).
type EventKind = string

// The kinds of Event.
const (
	EventWaiting      EventKind = "waiting"
	EventReady        EventKind = "ready"
	EventRepaired     EventKind = "repaired"
	EventPlan         EventKind = "plan"
	EventPreCheck     EventKind = "pre-check"
	EventTerminate    EventKind = "terminate"
	EventResumeLaunch EventKind = "resume-launch"
	EventProgress     EventKind = "progress"
	EventReplaced     EventKind = "replaced"
	EventVerify       EventKind = "verify"
	EventSoak         EventKind = "soak"
	EventPaused       EventKind = "paused"
	EventDone         EventKind = "done"
	EventFailed       EventKind = "failed"
)

// Event is one step of a roll.
type Event struct {
	At       time.Time `json:"at"`
	Kind     EventKind `json:"event"`
	Node     string    `json:"node,omitempty"`
	Instance string    `json:"instance,omitempty"`
	Message  string    `json:"message"`
	// Nodes is the plan (for "plan") or the nodes in the way ("waiting").
	Nodes []string `json:"nodes,omitempty"`
	// Took is how long the node's replacement took (for "replaced").
	Took time.Duration `json:"took_ns,omitempty"`
}

// Result summarises a roll, finished or stopped: what it replaced, and the
// nodes it had taken out and not yet seen back when it returned (in the
// order started), for the caller's account of an interruption.
type Result struct {
	Replaced []Replacement
	Plan     []string
	InFlight []InFlight
}

// InFlight is a node the roll terminated and had not yet seen back.
type InFlight struct {
	Node, Old string
	// Resumed: its group's Launch was given back (the old instance had
	// released the ENI), so the replacement comes up by itself.
	Resumed bool
	Started time.Time
}

// Replacement is one node replaced.
type Replacement struct {
	Node, Old, New string
	AZ             string
	Took           time.Duration // terminate call to new instance detected in service
	Released       time.Duration // terminate call to the ENI seen free and Launch resumed
	Started        time.Time     // the terminate call
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
	Verify       FailureKind = "verify"        // the canary's verify never passed
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
	Diagnosis string         // Config.Explain's sentence, when set
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
	switch {
	case f.Diagnosis != "":
		fmt.Fprintf(&b, "; diagnosis: %s", f.Diagnosis)
	case f.Activity != "":
		fmt.Fprintf(&b, "; last scaling activity: %s", f.Activity)
	}
	if f.Recover != "" {
		fmt.Fprintf(&b, "; to unstick it run: %s", f.Recover)
	}
	return b.String()
}

// Paused is a roll that stopped on purpose after PauseAfter replacements.
type Paused struct {
	Replaced  int
	Remaining []string
	Resume    string
}

func (p *Paused) Error() string {
	msg := fmt.Sprintf("roll paused after %d replacement(s) as asked; %d node(s) still to replace: %s", p.Replaced, len(p.Remaining), strings.Join(p.Remaining, ", "))
	if p.Resume != "" {
		msg += "; to resume run: " + p.Resume
	}
	return msg
}

// Run rolls the cluster.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.AutoScaling == nil || cfg.Inventory == nil || cfg.Clock == nil {
		return nil, fmt.Errorf("rollout: AutoScaling, Inventory and Clock are required")
	}
	if cfg.Timeout <= 0 {
		return nil, fmt.Errorf("rollout: Timeout must be positive")
	}
	if cfg.MaxUnavailable < 0 || cfg.Canary < 0 || cfg.PauseAfter < 0 || cfg.Soak < 0 {
		return nil, fmt.Errorf("rollout: MaxUnavailable, Canary, PauseAfter and Soak must not be negative")
	}
	if cfg.CheckTimeout <= 0 {
		cfg.CheckTimeout = time.Minute
	}
	def := DefaultPoll()
	if cfg.Poll.Fast <= 0 {
		cfg.Poll.Fast = def.Fast
	}
	if cfg.Poll.Slow < cfg.Poll.Fast {
		cfg.Poll.Slow = max(cfg.Poll.Fast, def.Slow)
	}
	if cfg.Poll.Check <= 0 {
		cfg.Poll.Check = max(cfg.Poll.Slow, def.Check)
	}
	if cfg.Poll.Sweep <= 0 {
		cfg.Poll.Sweep = max(cfg.Poll.Check, def.Sweep)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Pace == nil {
		cfg.Pace = DefaultPace(cfg.Clock)
	}
	if cfg.RecoverCommand == nil {
		cfg.RecoverCommand = func(id string) string { return "stateful recover " + id }
	}
	r := &roller{cfg: cfg, log: cfg.Logger.With("component", "rollout"), flights: map[string]*flight{}}
	return r.run(ctx)
}

type roller struct {
	cfg Config
	// notReady are the nodes a dry run found out of service.
	notReady []cluster.Node
	log      *slog.Logger
	snap     cluster.Snapshot // the view: every fact with its read time
	// sweepTook is how long the last whole-cluster read took.
	sweepTook time.Duration
	started   time.Time // when the current step began, for activity lookups
	backoff   time.Duration

	flights  map[string]*flight // nodes taken out by this roll, not yet back
	inFlight []string           // their ids, in the order started
	// expected and expectedRelease are the shortest replacement and the
	// shortest terminate-to-ENI-free time seen so far (0 before the first).
	expected, expectedRelease time.Duration
	replaced                  map[string]bool
	// resolvedAtEnd: the targets were resolved again before saying "done".
	resolvedAtEnd bool
	// pinned is the node set of the roll's first look, node id -> group: a
	// node whose group vanishes or loses the cluster tag mid-roll must stop
	// the roll, not silently leave the count.
	pinned map[string]string
}

// flight is one replacement under way.
type flight struct {
	node    cluster.Node // as when started
	old     string       // the terminated instance
	start   time.Time
	resumed bool // Launch resumed (or never suspended)
	release time.Duration
}

func (r *roller) now() time.Time { return r.cfg.Clock.Now() }

func (r *roller) emit(ev Event) {
	ev.At = r.now()
	if ev.Kind != EventProgress {
		r.log.Info(ev.Message, "event", ev.Kind, "node_id", ev.Node, "instance_id", ev.Instance)
	}
	if r.cfg.Events != nil {
		r.cfg.Events(ev)
	}
}

func (r *roller) run(ctx context.Context) (*Result, error) {
	// Groups named alone stand for their whole cluster: the roll counts
	// every node and replaces only the named groups' (Options.Within).
	sel, err := r.cfg.Inventory.Resolve(ctx, r.cfg.Selector)
	if err != nil {
		return nil, err
	}
	r.cfg.Selector = sel
	if err := r.preflight(ctx); err != nil {
		return nil, err
	}
	if r.cfg.Options, err = r.cfg.Options.Within(r.snap.Named); err != nil {
		return nil, err
	}
	if err := CheckScope(r.snap, r.cfg.Options); err != nil {
		return nil, err
	}
	if err := CheckQuorum(r.snap, r.cfg.Options, r.cfg.AllowQuorumLoss); err != nil {
		return nil, err
	}
	res := &Result{}
	for _, n := range Order(r.snap, r.cfg.Options) {
		res.Plan = append(res.Plan, n.ID)
	}
	r.emit(Event{Kind: EventPlan, Nodes: res.Plan, Message: r.planMessage(res.Plan)})
	if r.cfg.DryRun {
		if out := r.notReady; len(out) > 0 {
			return res, &Failure{Kind: Refused, Node: out[0].ID, Nodes: out, Recover: r.cfg.RecoverCommand(out[0].ID),
				Detail: fmt.Sprintf("dry run: %d of %d nodes are not in service now (%s), so the roll would wait up to %s for them before starting, and refuse if they are still out then; nothing was changed",
					len(out), len(r.snap.Nodes), strings.Join(ids(out), ", "), r.cfg.Timeout)}
		}
		return res, nil
	}
	r.replaced = map[string]bool{}
	err = r.loop(ctx, res)
	if err != nil && ctx.Err() == nil {
		// A roll stopped by a failure gives the groups it suspended their
		// Launch back once their old instance is gone, so no node stays
		// down for want of a launch.
		r.settle(ctx)
	}
	for _, id := range r.inFlight {
		f := r.flights[id]
		res.InFlight = append(res.InFlight, InFlight{Node: id, Old: f.old, Resumed: f.resumed, Started: f.start})
	}
	return res, err
}

func (r *roller) loop(ctx context.Context, res *Result) error {
	startedCount, canaryDone := 0, r.cfg.Canary == 0
	var holdSince time.Time
	for {
		if err := r.advance(ctx, res); err != nil {
			return err
		}
		limit := -1
		if !canaryDone {
			limit = r.cfg.Canary - startedCount
		}
		if r.cfg.PauseAfter > 0 {
			limit = max(0, r.cfg.PauseAfter-startedCount)
			if !canaryDone {
				limit = min(limit, r.cfg.Canary-startedCount)
			}
		}
		d := Decide(r.snap, r.cfg.Options, Progress{InFlight: r.inFlight, Limit: limit})
		if d.Action != Hold {
			holdSince = time.Time{}
		}
		switch d.Action {
		case Unknown:
			detail := "its group's launch-template version " + d.Nodes[0].VersionSpec + " could not be resolved"
			if len(res.Replaced) == 0 {
				return &Failure{Kind: Refused, Node: d.Nodes[0].ID, Detail: detail + "; nothing was terminated", Nodes: d.Nodes}
			}
			// Mid-roll it is not a refusal: say what was done.
			return &Failure{Kind: WrongVersion, Node: d.Nodes[0].ID, Nodes: d.Nodes,
				Detail: fmt.Sprintf("%s after %d node(s) were replaced (%s); no further node was touched", detail, len(res.Replaced), strings.Join(replacedIDs(res), ", "))}
		case Done:
			if !r.resolvedAtEnd {
				// Targets are resolved once ($Latest, $Default): a version
				// made during the roll would end in "done" on the old one.
				// Resolve them again before saying so.
				r.resolvedAtEnd = true
				if err := r.retry(ctx, r.now().Add(r.cfg.Timeout), func() error {
					s, err := r.observeAll(ctx, inventory.Full)
					if err == nil {
						r.snap = s
					}
					return err
				}); err != nil {
					return err
				}
				continue
			}
			if !canaryDone && len(res.Replaced) > 0 {
				if err := r.canary(ctx, res); err != nil {
					return err
				}
			}
			r.emit(Event{Kind: EventDone, Message: fmt.Sprintf("every node in scope is in service on its target version; replaced %d", len(res.Replaced))})
			return nil
		case Hold:
			if d.Out > d.Budget {
				why := "left service during the roll"
				if len(r.inFlight) > 0 {
					why = "left service while node " + strings.Join(r.inFlight, ", ") + " was being replaced"
				}
				return r.lost(ctx, d.Nodes[0], fmt.Sprintf("%s: %d nodes out of service, more than the budget of %d", why, d.Out, d.Budget))
			}
			if holdSince.IsZero() {
				holdSince = r.now()
				r.emit(Event{Kind: EventWaiting, Nodes: ids(d.Nodes), Message: fmt.Sprintf("starting nothing while %d node(s) the roll did not take out are out of service (waiting up to %s): %s", len(d.Nodes), r.cfg.Timeout, strings.Join(ids(d.Nodes), ", "))})
			}
			if r.now().Sub(holdSince) >= r.cfg.Timeout {
				return r.lost(ctx, d.Nodes[0], fmt.Sprintf("stayed out of service for %s during the roll", r.cfg.Timeout))
			}
		case Replace:
			if !r.fresh() {
				// Start nothing on a partial or old look: know the whole
				// cluster first (and if even a new look is old by the
				// time it is read, calls are slow: back off).
				if err := r.refresh(ctx, r.now().Add(r.cfg.Timeout)); err != nil {
					return err
				}
				if !r.fresh() {
					if err := r.sleepBackoff(ctx); err != nil {
						return err
					}
				}
				continue
			}
			n, err := r.startAll(ctx, d.Start)
			if err != nil {
				return err
			}
			startedCount += n
			if n < len(d.Start) {
				continue // a pre-check changed the picture: decide again
			}
		case Wait:
			if len(r.flights) == 0 && !canaryDone && startedCount >= r.cfg.Canary {
				if err := r.canary(ctx, res); err != nil {
					return err
				}
				canaryDone = true
				continue
			}
			if len(r.flights) == 0 && r.cfg.PauseAfter > 0 && startedCount >= r.cfg.PauseAfter {
				p := &Paused{Replaced: len(res.Replaced)}
				if r.cfg.ResumeCommand != nil {
					p.Resume = r.cfg.ResumeCommand(canaryDone)
				}
				for _, n := range Order(r.snap, r.cfg.Options) {
					p.Remaining = append(p.Remaining, n.ID)
				}
				r.emit(Event{Kind: EventPaused, Nodes: p.Remaining, Message: p.Error()})
				return p
			}
		}
		if err := clock.Sleep(ctx, r.cfg.Clock, r.interval()); err != nil {
			return err
		}
		if err := r.look(ctx); err != nil {
			return err
		}
	}
}

func replacedIDs(res *Result) []string {
	out := make([]string, len(res.Replaced))
	for i, rep := range res.Replaced {
		out[i] = rep.Node
	}
	return out
}

func ids(nodes []cluster.Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.ID
	}
	return out
}

func (r *roller) planMessage(plan []string) string {
	s := r.snap
	if len(plan) == 0 {
		return fmt.Sprintf("all %d nodes in scope are current; nothing to replace", len(s.Nodes))
	}
	var parts []string
	for _, id := range plan {
		n, _ := s.Node(id)
		if len(n.Instances) == 0 { // a dry run plans around nodes that are out
			parts = append(parts, fmt.Sprintf("%s (no instance -> v%d)", id, n.Target))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s (v%d -> v%d)", id, n.Instances[0].Version, n.Target))
	}
	verb := "will replace"
	if r.cfg.DryRun {
		verb = "would replace"
	}
	how := "one at a time"
	if b := Budget(s, r.cfg.Options); b > 1 {
		how = fmt.Sprintf("up to %d at a time", b)
	}
	if r.cfg.ByZone {
		how += ", one zone at a time"
	}
	if r.cfg.Canary > 0 {
		how += fmt.Sprintf(", %d canary node(s) first", r.cfg.Canary)
	}
	return fmt.Sprintf("%s %d of %d nodes, %s: %s", verb, len(plan), len(s.Nodes), how, strings.Join(parts, ", "))
}

// observe reads every group, riding out throttling and transient errors
// with backoff until the deadline.
func (r *roller) sweep(ctx context.Context, deadline time.Time) error {
	if err := r.retry(ctx, deadline, func() error {
		start := r.now()
		s, err := r.observeAll(ctx, inventory.Groups)
		r.sweepTook = r.now().Sub(start)
		if err == nil {
			r.snap = s
		}
		return err
	}); err != nil {
		return err
	}
	return r.checkNodeSet()
}

// checkNodeSet stops the roll when the cluster it sees is not the one it
// started with, or not one it can manage: a node gone from the look (its
// group deleted, or its cluster tag removed), a node id claimed by two
// groups, a group with a launch configuration or a mixed instances policy.
func (r *roller) checkNodeSet() error {
	if p := r.snap.Problems(); len(p) > 0 {
		return &Failure{Kind: Refused, Detail: strings.Join(p, "; ") + "; the roll stops (nothing further is terminated)"}
	}
	if r.pinned == nil {
		r.pinned = map[string]string{}
		for _, n := range r.snap.Nodes {
			r.pinned[n.ID] = n.Group
		}
		return nil
	}
	for _, id := range slices.Sorted(maps.Keys(r.pinned)) {
		if _, ok := r.snap.Node(id); !ok {
			return &Failure{Kind: NodeLost, Node: id, Detail: fmt.Sprintf("its group %s left the cluster during the roll (deleted, or its %s tag removed); the roll stops (nothing further is terminated)",
				r.pinned[id], cluster.TagCluster)}
		}
	}
	return nil
}

// observeAll reads the one view: every group of the cluster joined with
// EC2's view of its instances and volumes (inventory.Observe).
func (r *roller) observeAll(ctx context.Context, depth inventory.Depth) (cluster.Snapshot, error) {
	prev := r.snap
	return r.cfg.Inventory.Observe(ctx, r.cfg.Selector, depth, &prev)
}

// refresh brings the roll's view of the whole cluster up to now by reading
// all of it. There is no cheaper proof that nothing changed: the account's
// scaling activities carry AWS's timestamps, which cannot be compared with
// the runner's clock, and lag like every other read.
func (r *roller) refresh(ctx context.Context, deadline time.Time) error {
	return r.sweep(ctx, deadline)
}

// retry runs f until it succeeds, a non-transient error, or the deadline,
// backing off on throttling without losing the roll's place.
func (r *roller) retry(ctx context.Context, deadline time.Time, f func() error) error {
	for {
		err := f()
		if err == nil {
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

// look reads what the roll is waiting for as cheaply as it can: the ENIs
// of nodes whose old instance may still hold them, the groups of nodes
// coming back, and every group when the last full read is older than
// Poll.Sweep (or costs no more than the partial one).
func (r *roller) look(ctx context.Context) error {
	deadline := r.now().Add(r.cfg.Timeout)
	var enis, groups []string
	for _, id := range r.inFlight {
		f := r.flights[id]
		if !f.resumed && f.node.ENI != "" {
			enis = append(enis, f.node.ENI)
		} else {
			groups = append(groups, f.node.Group)
		}
	}
	if len(enis) > 0 {
		var status map[string]string
		if err := r.retry(ctx, deadline, func() (err error) {
			status, err = r.cfg.Inventory.ENIStatus(ctx, enis)
			return err
		}); err != nil {
			return err
		}
		at := r.now()
		for i := range r.snap.Nodes {
			if st, ok := status[r.snap.Nodes[i].ENI]; ok {
				r.snap.Nodes[i].ENIStatus, r.snap.Nodes[i].ENISeen = st, at
			}
		}
	}
	pages := (len(r.snap.Nodes) + 99) / 100
	if pages == 1 || (len(groups)+49)/50 >= pages || len(groups) == 0 && len(enis) == 0 || r.now().Sub(r.snap.ReadAt()) >= r.cfg.Poll.Check {
		// Reading every group costs one call (up to 100 nodes) or no more
		// than reading those in flight, or nothing is in flight (waiting
		// for nodes the roll did not take out): read them all, and notice
		// at once a node lost elsewhere.
		return r.sweep(ctx, deadline)
	}
	if len(groups) > 0 {
		if err := r.retry(ctx, deadline, func() error {
			s, err := r.cfg.Inventory.ObserveGroups(ctx, groups, r.snap)
			if err == nil {
				r.snap = s
			}
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}

// preflight waits up to the timeout for every node to serve, then refuses.
// It first gives back the Launch process of groups a killed roll left
// suspended, as soon as their old instance has released the ENI.
func (r *roller) preflight(ctx context.Context) error {
	deadline := r.now().Add(r.cfg.Timeout)
	r.started = r.now()
	waited := false
	depth := inventory.Full // then groups only: the rest carries over
	for {
		if err := r.retry(ctx, deadline, func() error {
			s, err := r.observeAll(ctx, depth)
			if err == nil {
				r.snap = s
			}
			return err
		}); err != nil {
			return err
		}
		depth = inventory.Groups
		if err := r.checkNodeSet(); err != nil {
			return err
		}
		// A node named by --only, --last or --partition that the cluster
		// does not have is refused at once, not after waiting.
		if err := CheckScope(r.snap, r.cfg.Options); err != nil {
			return err
		}
		if r.cfg.DryRun {
			// A dry run looks once and changes nothing: run says what it
			// would wait for after printing the plan.
			r.notReady = r.snap.NotServing()
			return nil
		}
		if err := r.repair(ctx, deadline); err != nil {
			return err
		}
		out := r.snap.NotServing()
		if len(out) == 0 {
			if waited {
				r.emit(Event{Kind: EventReady, Message: "every node is in service"})
			}
			return nil
		}
		if !r.now().Before(deadline) {
			return &Failure{Kind: Refused, Node: out[0].ID, Detail: fmt.Sprintf("%d of %d nodes are not in service after waiting %s; nothing was terminated", len(out), len(r.snap.Nodes), r.cfg.Timeout),
				Recover: r.cfg.RecoverCommand(out[0].ID), Nodes: out}
		}
		if !waited {
			r.emit(Event{Kind: EventWaiting, Nodes: ids(out), Message: fmt.Sprintf("waiting up to %s for %d node(s) to be in service before starting: %s", r.cfg.Timeout, len(out), strings.Join(ids(out), ", "))})
			waited = true
		}
		if err := clock.Sleep(ctx, r.cfg.Clock, r.cfg.Poll.Fast); err != nil {
			return err
		}
	}
}

// repair resumes Launch on every group whose node is ready for a launch:
// its instance serves, or it has none left and its ENI is free.
func (r *roller) repair(ctx context.Context, deadline time.Time) error {
	var suspended []cluster.Node
	var enis []string
	for _, n := range r.snap.Nodes {
		if n.LaunchSuspended {
			suspended = append(suspended, n)
			if len(n.Instances) == 0 && n.ENI != "" {
				enis = append(enis, n.ENI)
			}
		}
	}
	if len(suspended) == 0 {
		return nil
	}
	status := map[string]string{}
	if len(enis) > 0 {
		if err := r.retry(ctx, deadline, func() (err error) {
			status, err = r.cfg.Inventory.ENIStatus(ctx, enis)
			return err
		}); err != nil {
			return err
		}
	}
	for _, n := range suspended {
		_, serving := n.Serving()
		if !serving && (len(n.Instances) > 0 || (n.ENI != "" && status[n.ENI] != "available")) {
			continue // the old instance still holds the ENI: next look
		}
		if err := r.resumeLaunch(ctx, n, deadline); err != nil {
			return err
		}
		r.emit(Event{Kind: EventRepaired, Node: n.ID, Message: fmt.Sprintf("resumed the Launch process of node %s's group %s, left suspended by an interrupted roll", n.ID, n.Group)})
	}
	return nil
}

func (r *roller) suspendLaunch(ctx context.Context, n cluster.Node, deadline time.Time) error {
	return r.retry(ctx, deadline, func() error {
		if err := r.cfg.Pace.Wait(ctx); err != nil {
			return err
		}
		_, err := r.cfg.AutoScaling.SuspendProcesses(ctx, &autoscaling.SuspendProcessesInput{AutoScalingGroupName: aws.String(n.Group), ScalingProcesses: []string{"Launch"}})
		if err != nil {
			return fmt.Errorf("suspending the Launch process of group %s (node %s): %w", n.Group, n.ID, err)
		}
		return nil
	})
}

func (r *roller) resumeLaunch(ctx context.Context, n cluster.Node, deadline time.Time) error {
	return r.retry(ctx, deadline, func() error {
		if err := r.cfg.Pace.Wait(ctx); err != nil {
			return err
		}
		_, err := r.cfg.AutoScaling.ResumeProcesses(ctx, &autoscaling.ResumeProcessesInput{AutoScalingGroupName: aws.String(n.Group), ScalingProcesses: []string{"Launch"}})
		if err != nil {
			return fmt.Errorf("resuming the Launch process of group %s (node %s): %w", n.Group, n.ID, err)
		}
		return nil
	})
}

// fresh reports whether every fact of the view was read less than a poll
// interval ago, on the runner's own clock: the only view a termination may
// be decided on.
//
// A whole-cluster read is several calls (groups, instances, volumes) that
// may take longer than a poll on a slow link: the window is a poll plus
// what the last whole read took, so a slow read cannot keep every view
// "old" for ever.
func (r *roller) fresh() bool {
	at := r.snap.ReadAt()
	return !at.IsZero() && r.now().Sub(at) < r.cfg.Poll.Fast+r.sweepTook
}

// errNotNow says a replacement was not started because the look it was
// decided on grew old (calls were throttled): decide again on a new one.
var errNotNow = errors.New("decision out of date")

// startAll starts the replacement of each node, in order, and returns how
// many it started. It stops early, to decide again on a fresh look, when
// the look the decision was made on grew old (throttled calls) or after a
// pre-check found the picture changed.
func (r *roller) startAll(ctx context.Context, nodes []cluster.Node) (int, error) {
	for k, n := range nodes {
		if !r.fresh() && r.cfg.PreCheck == nil {
			return k, nil
		}
		if r.replaced[n.ID] {
			// A node replaced once that is outdated again means its group's
			// version moved during the roll: stop rather than loop.
			return k, &Failure{Kind: WrongVersion, Node: n.ID, Detail: fmt.Sprintf("already replaced in this roll, yet it runs version %d and its group wants %d", n.Instances[0].Version, n.Target)}
		}
		old, _ := n.Serving()
		if r.cfg.PreCheck != nil {
			if err := r.preCheck(ctx, n); err != nil {
				return k, err
			}
			// The pre-check may have taken a while: look again before acting.
			if err := r.sweep(ctx, r.now().Add(r.cfg.Timeout)); err != nil {
				return k, err
			}
			for _, o := range r.snap.NotServing() {
				if r.flights[o.ID] == nil {
					return k, r.lost(ctx, o, "left service while node "+n.ID+"'s pre-check ran")
				}
			}
			if cur, _ := r.snap.Node(n.ID); !stillServing(cur, old.ID) {
				return k, &Failure{Kind: NodeLost, Node: n.ID, Instance: old.ID, Detail: "its instance changed while the pre-check ran; nothing was terminated", Recover: r.cfg.RecoverCommand(n.ID)}
			}
		}
		if err := r.start(ctx, n, old); errors.Is(err, errNotNow) {
			return k, nil
		} else if err != nil {
			return k, err
		}
	}
	return len(nodes), nil
}

// start takes one node out: suspend its group's Launch (so the group does
// not try, fail on the ENI the old instance still holds and back off),
// then terminate the instance keeping desired capacity.
func (r *roller) start(ctx context.Context, n cluster.Node, old cluster.Instance) error {
	deadline := r.now().Add(r.cfg.Timeout)
	if err := r.suspendLaunch(ctx, n, deadline); err != nil {
		// The suspend may have taken effect though it failed (its answer
		// lost, the roll stopped mid-call): give the group its Launch back,
		// best effort and even when stopped, rather than leave a serving
		// node unable to replace a lost instance.
		_ = r.resumeLaunch(context.WithoutCancel(ctx), n, r.now())
		return err
	}
	if !r.fresh() {
		// The suspend call was throttled long enough for the picture to
		// change: terminate only if a fresh look still says so.
		if err := r.refresh(ctx, deadline); err != nil {
			return err
		}
		d := Decide(r.snap, r.cfg.Options, Progress{InFlight: r.inFlight, Limit: -1})
		if cur, _ := r.snap.Node(n.ID); d.Action != Replace || !slices.ContainsFunc(d.Start, func(s cluster.Node) bool { return s.ID == n.ID }) || !stillServing(cur, old.ID) {
			if err := r.resumeLaunch(ctx, n, deadline); err != nil {
				return err
			}
			return errNotNow
		}
	}
	f := &flight{node: n, old: old.ID, start: r.now()}
	// Registered before the terminate call: a failure from here on must
	// give the group its Launch back.
	r.flights[n.ID] = f
	r.inFlight = append(r.inFlight, n.ID)
	r.started = f.start
	r.emit(Event{Kind: EventTerminate, Node: n.ID, Instance: old.ID, Message: fmt.Sprintf("replacing node %s (%s): terminating %s (v%d), keeping desired capacity", n.ID, n.AZ, old.ID, old.Version)})
	return r.terminate(ctx, n, old.ID, deadline)
}

func (r *roller) preCheck(ctx context.Context, n cluster.Node) error {
	deadline := r.now().Add(r.cfg.Timeout)
	for {
		err := r.bounded(ctx, func(ctx context.Context) error { return r.cfg.PreCheck(ctx, n) })
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.emit(Event{Kind: EventPreCheck, Node: n.ID, Message: fmt.Sprintf("pre-check for node %s failed: %v", n.ID, err)})
		if !r.now().Before(deadline) {
			return &Failure{Kind: PreCheck, Node: n.ID, Detail: fmt.Sprintf("the pre-check did not pass within %s: %v; nothing was terminated", r.cfg.Timeout, err)}
		}
		if err := clock.Sleep(ctx, r.cfg.Clock, r.cfg.Poll.Slow); err != nil {
			return err
		}
	}
}

// bounded runs one attempt of a check with a context that ends after
// CheckTimeout on the roll's clock. A timed-out attempt is a failure; the
// check must return once its context ends (commands run with
// exec.CommandContext do).
func (r *roller) bounded(ctx context.Context, check func(context.Context) error) error {
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	t := r.cfg.Clock.NewTimer(r.cfg.CheckTimeout)
	defer t.Stop()
	done := make(chan error, 1)
	go func() { done <- check(actx) }()
	select {
	case err := <-done:
		return err
	case <-t.C():
		cancel()
		<-done
		return fmt.Errorf("still running after %s: stopped", r.cfg.CheckTimeout)
	}
}

// canary runs Verify after the canary nodes are back (retried until the
// timeout), then soaks.
func (r *roller) canary(ctx context.Context, res *Result) error {
	var nodes []string
	for _, rep := range res.Replaced {
		nodes = append(nodes, rep.Node)
	}
	if r.cfg.Verify != nil {
		deadline := r.now().Add(r.cfg.Timeout)
		for {
			err := r.bounded(ctx, func(ctx context.Context) error { return r.cfg.Verify(ctx, nodes) })
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.emit(Event{Kind: EventVerify, Nodes: nodes, Message: fmt.Sprintf("verify after the canary (%s) failed: %v", strings.Join(nodes, ", "), err)})
			if !r.now().Before(deadline) {
				return &Failure{Kind: Verify, Node: nodes[0], Detail: fmt.Sprintf("the verify command did not pass within %s after the canary node(s) %s were replaced: %v; no other node was touched", r.cfg.Timeout, strings.Join(nodes, ", "), err)}
			}
			if err := clock.Sleep(ctx, r.cfg.Clock, r.cfg.Poll.Slow); err != nil {
				return err
			}
		}
		r.emit(Event{Kind: EventVerify, Nodes: nodes, Message: fmt.Sprintf("verify passed after the canary (%s)", strings.Join(nodes, ", "))})
	}
	if r.cfg.Soak > 0 {
		r.emit(Event{Kind: EventSoak, Nodes: nodes, Message: fmt.Sprintf("soaking the canary for %s", r.cfg.Soak)})
		if err := clock.Sleep(ctx, r.cfg.Clock, r.cfg.Soak); err != nil {
			return err
		}
		// The canary must still serve after the soak, and so must the rest.
		if err := r.sweep(ctx, r.now().Add(r.cfg.Timeout)); err != nil {
			return err
		}
		if out := r.snap.NotServing(); len(out) > 0 {
			return r.lost(ctx, out[0], "left service while the canary soaked")
		}
	}
	return nil
}

// terminate asks the group to replace the instance. A retried call that
// finds the instance already leaving counts as done.
func (r *roller) terminate(ctx context.Context, n cluster.Node, instance string, deadline time.Time) error {
	for {
		if err := r.cfg.Pace.Wait(ctx); err != nil {
			return err
		}
		_, err := r.cfg.AutoScaling.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
			InstanceId: aws.String(instance), ShouldDecrementDesiredCapacity: aws.Bool(false)})
		if err == nil {
			return nil
		}
		if !awsapi.Transient(err) && awsapi.Classify(err) != awsapi.KindValidation {
			return fmt.Errorf("terminating instance %s of node %s: %w", instance, n.ID, err)
		}
		// The call may have landed even though we saw an error, and the
		// cluster may have changed while it failed: look at all of it.
		if oerr := r.sweep(ctx, deadline); oerr != nil {
			return oerr
		}
		if cur, _ := r.snap.Node(n.ID); !stillServing(cur, instance) {
			return nil
		}
		// Not terminated yet: retry only while no node the roll did not
		// take out is out of service (Decide would hold for it too).
		var others []cluster.Node
		for _, o := range r.snap.NotServing() {
			if r.flights[o.ID] == nil {
				others = append(others, o)
			}
		}
		if len(others) > 0 {
			return r.lost(ctx, others[0], fmt.Sprintf("left service while the termination of node %s's instance %s was retried, so %s was not terminated",
				n.ID, instance, instance))
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

// advance moves every replacement under way on the latest look: resume
// Launch once the old instance released the ENI, record a node back in
// service on its target version, and fail at once when a replacement's
// launch is abandoned, comes up on another version, or runs past the
// timeout.
func (r *roller) advance(ctx context.Context, res *Result) error {
	for _, id := range slices.Clone(r.inFlight) {
		f := r.flights[id]
		cur, _ := r.snap.Node(id)
		elapsed := r.now().Sub(f.start)
		if !f.resumed {
			// The ENI free means the old instance is gone. Without an ENI
			// on record (groups not tagged with a cluster), the old
			// instance leaving the group is the best sign there is.
			free := cur.ENIStatus == "available" || (f.node.ENI == "" && !slices.ContainsFunc(cur.Instances, func(i cluster.Instance) bool { return i.ID == f.old }))
			if free {
				if err := r.resumeLaunch(ctx, cur, r.now().Add(r.cfg.Timeout)); err != nil {
					return err
				}
				f.resumed, f.release = true, elapsed
				if r.expectedRelease == 0 || elapsed < r.expectedRelease {
					r.expectedRelease = elapsed
				}
				r.emit(Event{Kind: EventResumeLaunch, Node: id, Message: fmt.Sprintf("node %s: the old instance released the ENI after %s; launching its replacement", id, elapsed.Round(time.Millisecond))})
			}
		}
		r.emit(Event{Kind: EventProgress, Node: id, Message: progress(cur, f.old, elapsed)})
		if i, ok := cur.Serving(); ok && i.ID != f.old {
			if i.Version != cur.Target {
				return &Failure{Kind: WrongVersion, Node: id, Instance: i.ID, Lifecycle: i.Lifecycle,
					Detail: fmt.Sprintf("the replacement runs launch-template version %d, the group wants %d", i.Version, cur.Target)}
			}
			if r.expected == 0 || elapsed < r.expected {
				r.expected = elapsed
			}
			r.emit(Event{Kind: EventReplaced, Node: id, Instance: i.ID, Took: elapsed, Message: fmt.Sprintf("node %s is back in service on %s (v%d) after %s", id, i.ID, i.Version, elapsed.Round(time.Millisecond))})
			res.Replaced = append(res.Replaced, Replacement{Node: id, Old: f.old, New: i.ID, AZ: cur.AZ, Took: elapsed, Released: f.release, Started: f.start, Detected: r.now()})
			r.replaced[id] = true
			delete(r.flights, id)
			r.inFlight = slices.DeleteFunc(r.inFlight, func(s string) bool { return s == id })
			continue
		}
		for _, i := range cur.Instances {
			if i.ID != f.old && (strings.HasPrefix(i.Lifecycle, "Terminating") || i.Lifecycle == "Terminated") {
				return r.failNode(ctx, Abandoned, cur, i, "the replacement instance was abandoned before it came into service")
			}
		}
		if elapsed >= r.cfg.Timeout {
			var i cluster.Instance
			for _, c := range cur.Instances {
				if c.ID != f.old {
					i = c
				}
			}
			detail := fmt.Sprintf("no new instance came into service within %s", r.cfg.Timeout)
			if i.ID == "" {
				detail = fmt.Sprintf("no replacement instance was launched within %s", r.cfg.Timeout)
			}
			return r.failNode(ctx, Timeout, cur, i, detail)
		}
	}
	return nil
}

// settle gives every group the roll suspended its Launch back, waiting (up
// to the timeout) for old instances to release their ENIs. A roll killed
// before this is repaired by the next roll, status or recover.
func (r *roller) settle(ctx context.Context) {
	deadline := r.now().Add(r.cfg.Timeout)
	for {
		pending := 0
		for _, id := range r.inFlight {
			f := r.flights[id]
			if f.resumed {
				continue
			}
			cur, _ := r.snap.Node(id)
			gone := !slices.ContainsFunc(cur.Instances, func(i cluster.Instance) bool { return i.ID == f.old })
			if cur.ENIStatus == "available" || (f.node.ENI == "" && gone) || stillServing(cur, f.old) {
				if err := r.resumeLaunch(ctx, cur, deadline); err != nil {
					r.log.Warn("could not resume launch", "node_id", id, "asg_name", cur.Group, "error", err)
					continue
				}
				f.resumed = true
				continue
			}
			pending++
		}
		if pending == 0 || !r.now().Before(deadline) {
			return
		}
		if clock.Sleep(ctx, r.cfg.Clock, r.cfg.Poll.Fast) != nil || r.look(ctx) != nil {
			return
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
	if n.ENIStatus != "" {
		parts = append(parts, "ENI "+n.ENIStatus)
	}
	return fmt.Sprintf("node %s: %s (%s)", n.ID, strings.Join(parts, ", "), elapsed.Round(time.Second))
}

// interval is the next poll's delay. Until a replacement (or an ENI
// release) has been timed it polls every Fast. After that it sleeps
// straight to the expected end (the shortest seen, as detected, so never
// earlier than a poll would have found it; at most Check, when the whole
// cluster is looked at anyway), then polls every Fast, backing off by half
// the overrun up to Slow: a replacement costs a few looks, however long it
// takes.
func (r *roller) interval() time.Duration {
	p := r.cfg.Poll
	if len(r.inFlight) == 0 {
		return p.Fast
	}
	next := p.Check
	for _, id := range r.inFlight {
		f := r.flights[id]
		expected := r.expected
		if !f.resumed {
			expected = r.expectedRelease
		}
		if expected == 0 {
			return p.Fast
		}
		elapsed := r.now().Sub(f.start)
		if wait := expected - elapsed; wait > 0 {
			next = min(next, wait)
		} else {
			next = min(next, max(p.Fast, min((elapsed-expected)/2, p.Slow)))
		}
	}
	return max(p.Fast, next)
}

func (r *roller) failNode(ctx context.Context, kind FailureKind, n cluster.Node, i cluster.Instance, detail string) error {
	f := &Failure{Kind: kind, Node: n.ID, Instance: i.ID, Lifecycle: i.Lifecycle, Detail: detail, Recover: r.cfg.RecoverCommand(n.ID)}
	if r.cfg.Explain != nil {
		f.Diagnosis = r.cfg.Explain(ctx, n)
	} else if a, err := r.cfg.Inventory.LastActivity(ctx, n.Group, r.started); err == nil && a != nil {
		f.Activity = a.Summary()
	}
	r.emit(Event{Kind: EventFailed, Node: n.ID, Instance: i.ID, Message: f.Error()})
	return f
}

func (r *roller) lost(ctx context.Context, o cluster.Node, why string) error {
	var i cluster.Instance
	if len(o.Instances) > 0 {
		i = o.Instances[0]
	}
	detail := fmt.Sprintf("node %s %s (%s); no further node was touched", o.ID, why, o.Problem())
	return r.failNode(ctx, NodeLost, o, i, detail)
}

// IsFailure reports whether err is a roll that stopped (as opposed to an
// error reaching AWS), and returns it.
func IsFailure(err error) (*Failure, bool) {
	var f *Failure
	ok := errors.As(err, &f)
	return f, ok
}
