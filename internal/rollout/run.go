package rollout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

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
	// App, when set, is the application's own check (app.go): before each
	// termination, after each replacement, and its leader last.
	App App
	// OnFailure: Rollback puts a node whose replacement failed back on
	// its last good version (rollback.go); "" or Stop leaves it.
	OnFailure OnFailure
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
	// The roll completed the drain hook of an instance no agent drains
	// (drain.go).
	EventDrainCompleted EventKind = "drain-completed"
	// With an application's built-in check (app.go, rollback.go).
	EventLeader     EventKind = "leader"
	EventMoveLeader EventKind = "move-leader"
	EventCheck      EventKind = "check"
	EventRollback   EventKind = "rollback"
	EventRolledBack EventKind = "rolled-back"
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
	r.withApp()
	res, err := r.run(ctx)
	return res, r.rollback(ctx, res, err)
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
	app    appState
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
			if r.leaderLast(ctx) {
				continue // the leader moved: decide again with it last
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
