package rollout

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/cluster"
	"github.com/stateful-aws/stateful/internal/inventory"
	"github.com/stateful-aws/stateful/internal/sim"
	"github.com/stateful-aws/stateful/internal/sim/simtest"
)

// The roll's promises, checked under random faults in virtual time, for
// every budget and mode:
//   - never more nodes out of service than the budget, counting every
//     cause, at any moment the roll starts a termination (without stale
//     reads: with them the roll can only act on what it sees), and never
//     more than the budget out because of the roll at any moment;
//   - under --by-zone, never nodes of two zones out because of the roll;
//   - a canary whose verify fails stops the roll with nothing but the
//     canary terminated;
//   - nodes out of scope are never terminated; in the end (re-running after
//     a stop or a kill, faults cleared) every node in scope is current and
//     no group is left with its Launch process suspended.
//
// Each schedule is a seed; a failure names it and the command that
// replays it. PROPERTY_SEEDS=N runs N seeds per mode (default 6).

// mode is a budget and a way of rolling.
type mode struct {
	name string
	opts Options
	// canary > 0 adds a canary whose verify fails in half the schedules.
	canary int
	// pauseAfter > 0 pauses the first run after that many replacements.
	pauseAfter int
}

var modes = []mode{
	{name: "one-at-a-time", opts: Options{}},
	{name: "budget-2", opts: Options{MaxUnavailable: 2}},
	{name: "budget-3", opts: Options{MaxUnavailable: 3}},
	{name: "by-zone", opts: Options{ByZone: true}},
	{name: "by-zone-budget-2", opts: Options{ByZone: true, MaxUnavailable: 2, Last: []string{"00"}}},
	{name: "by-zone-whole-zone", opts: Options{ByZone: true, WholeZone: true}},
	{name: "canary-budget-3", opts: Options{MaxUnavailable: 3}, canary: 2},
	{name: "canary-by-zone", opts: Options{ByZone: true, WholeZone: true}, canary: 1},
	{name: "partition-budget-2", opts: Options{MaxUnavailable: 2, Partition: "04"}},
	{name: "only-by-zone", opts: Options{ByZone: true, WholeZone: true, Only: []string{"01", "02", "05", "07"}}},
	{name: "pause-after-4-budget-2", opts: Options{MaxUnavailable: 2}, pauseAfter: 4},
}

// schedule is one seed's faults.
type schedule struct {
	seed       int64
	throttle   [3]time.Duration // start, length of a throttling burst; probability in [2] as per-mille
	loseAt     time.Duration    // 0: no instance loss
	loseNode   int
	failAt     time.Duration // 0: no launch failures
	failNode   int
	failCount  int
	stale      time.Duration // stale-read window for the whole first run (0: none)
	killAt     time.Duration // 0: the roll is not killed
	verifyFail bool
}

func (s schedule) String() string {
	var parts []string
	if s.throttle[1] > 0 {
		parts = append(parts, fmt.Sprintf("throttling %.0f%% from %s for %s", float64(s.throttle[2])/10, s.throttle[0], s.throttle[1]))
	}
	if s.loseAt > 0 {
		parts = append(parts, fmt.Sprintf("node %02d lost at %s", s.loseNode, s.loseAt))
	}
	if s.failAt > 0 {
		parts = append(parts, fmt.Sprintf("%d launch failures of node %02d from %s", s.failCount, s.failNode, s.failAt))
	}
	if s.stale > 0 {
		parts = append(parts, fmt.Sprintf("stale reads %s", s.stale))
	}
	if s.killAt > 0 {
		parts = append(parts, fmt.Sprintf("killed at %s", s.killAt))
	}
	if s.verifyFail {
		parts = append(parts, "verify fails")
	}
	if len(parts) == 0 {
		return "no faults"
	}
	return strings.Join(parts, ", ")
}

func newSchedule(seed int64, m mode, nodes int) schedule {
	rng := rand.New(rand.NewSource(seed))
	s := schedule{seed: seed}
	d := func(lo, hi int) time.Duration { return time.Duration(lo+rng.Intn(hi-lo+1)) * time.Second }
	if rng.Intn(2) == 0 {
		s.throttle = [3]time.Duration{d(0, 200), d(20, 120), time.Duration(200 + rng.Intn(400))}
	}
	if m.canary > 0 && rng.Intn(2) == 0 {
		// The canary's failure must be what stops the roll: no loss, no
		// kill in this schedule.
		s.verifyFail = true
		return s
	}
	if rng.Intn(2) == 0 {
		s.loseAt, s.loseNode = d(1, 400), rng.Intn(nodes)
	}
	if rng.Intn(2) == 0 {
		s.failAt, s.failNode, s.failCount = d(0, 300), rng.Intn(nodes), 1+rng.Intn(3)
	}
	if rng.Intn(3) == 0 {
		s.stale = d(1, 8)
	}
	if rng.Intn(3) == 0 {
		s.killAt = d(5, 400)
	}
	return s
}

// watch is the test's view of the truth: which nodes serve, which ones the
// roll took out (across runs), and every violation seen.
type watch struct {
	t      *testing.T
	e      *sim.Engine
	nodes  []sim.NodeSpec
	budget int
	byZone bool
	strict bool // count every cause at each termination (no stale reads)

	mu         sync.Mutex
	outSince   map[string]time.Time // node -> when first seen out of service
	attempted  map[string]bool      // instances the roll asked to terminate
	taken      map[string]string    // node -> instance the roll terminated, until the node serves again
	terminated []string             // every node the roll terminated, in order
	violations []string
	peak       int // most nodes out because of the roll
}

func (w *watch) serving(n sim.NodeSpec) (string, bool) {
	m := w.e.Members(n.Group)
	if len(m) == 1 && m[0].Lifecycle == cluster.InService && m[0].Health == cluster.Healthy {
		return m[0].ID, true
	}
	return "", false
}

// check updates the roll's set and records violations; at is a label.
func (w *watch) check(at string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	zones := map[string]bool{}
	for _, n := range w.nodes {
		if _, serving := w.serving(n); !serving && w.outSince[n.ID].IsZero() {
			w.outSince[n.ID] = time.Now()
		} else if serving {
			delete(w.outSince, n.ID)
		}
		old, ok := w.taken[n.ID]
		if !ok {
			continue
		}
		if id, serving := w.serving(n); serving && id != old {
			delete(w.taken, n.ID)
			continue
		}
		zones[n.AZ] = true
	}
	w.peak = max(w.peak, len(w.taken))
	if len(w.taken) > w.budget {
		w.violations = append(w.violations, fmt.Sprintf("%s: %d nodes out because of the roll, budget %d", at, len(w.taken), w.budget))
	}
	if w.byZone && len(zones) > 1 {
		w.violations = append(w.violations, fmt.Sprintf("%s: nodes of %d zones out because of the roll", at, len(zones)))
	}
}

// terminating is called as the roll's terminate call goes out: it checks
// the budget against the truth as the roll can know it. The roll decides
// on a look less than a poll interval (1s) old, so every node out of
// service for longer than that counts (a retried call finishes a decision
// already made and is not checked again).
func (w *watch) terminating(instance string) (node string) {
	w.check("before a termination")
	w.mu.Lock()
	defer w.mu.Unlock()
	first := !w.attempted[instance]
	w.attempted[instance] = true
	for _, n := range w.nodes {
		if id, ok := w.serving(n); ok && id == instance && first {
			var out []string
			for _, o := range w.nodes {
				if since := w.outSince[o.ID]; !since.IsZero() && time.Since(since) >= time.Second {
					out = append(out, fmt.Sprintf("%s %+v", o.ID, w.e.Members(o.Group)))
				} else if _, taken := w.taken[o.ID]; taken && o.ID != n.ID {
					out = append(out, o.ID+" (terminated by the roll)")
				}
			}
			if w.strict && len(out)+1 > w.budget {
				w.violations = append(w.violations, fmt.Sprintf("at %s the roll terminated node %s while %d nodes were out of service (%s), budget %d", time.Now().Format("15:04:05.000"), n.ID, len(out), strings.Join(out, "; "), w.budget))
			}
			return n.ID
		}
		if id, ok := w.serving(n); ok && id == instance {
			return n.ID
		}
	}
	for id, old := range w.taken { // a retried call for an instance already leaving
		if old == instance {
			return id
		}
	}
	return ""
}

// took records a successful terminate call of node's instance.
func (w *watch) took(node, instance string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if node == "" || w.taken[node] == instance {
		return
	}
	w.taken[node] = instance
	w.terminated = append(w.terminated, node)
}

// watched wraps the roll's Auto Scaling client to see its terminations.
type watched struct {
	awsapi.AutoScaling
	w *watch
}

func (c watched) TerminateInstanceInAutoScalingGroup(ctx context.Context, in *autoscaling.TerminateInstanceInAutoScalingGroupInput, o ...func(*autoscaling.Options)) (*autoscaling.TerminateInstanceInAutoScalingGroupOutput, error) {
	node := c.w.terminating(*in.InstanceId)
	out, err := c.AutoScaling.TerminateInstanceInAutoScalingGroup(ctx, in, o...)
	if err == nil {
		c.w.took(node, *in.InstanceId)
	}
	return out, err
}

func propertySeeds() int {
	if n, err := strconv.Atoi(os.Getenv("PROPERTY_SEEDS")); err == nil && n > 0 {
		return n
	}
	return 6
}

func TestRollPropertiesUnderRandomFaults(t *testing.T) {
	const nodes = 9 // three zones of three
	schedules := 0
	for _, m := range modes {
		for k := range propertySeeds() {
			seed := int64(1000*k + 7)
			s := newSchedule(seed, m, nodes)
			schedules++
			t.Run(fmt.Sprintf("%s/seed=%d", m.name, seed), func(t *testing.T) {
				// Logged always, shown on failure (or with -v).
				t.Logf("schedule: %s; replay: go test ./internal/rollout -run 'TestRollPropertiesUnderRandomFaults/%s/seed=%d$' -v", s, m.name, seed)
				synctest.Test(t, func(t *testing.T) {
					runSchedule(t, m, s, nodes)
				})
			})
		}
	}
	t.Logf("%d schedules (%d modes x %d seeds)", schedules, len(modes), propertySeeds())
}

func runSchedule(t *testing.T, m mode, s schedule, nodes int) {
	e, ctx := simtest.Start(t, sim.Config{Clock: clock.Real{}, Seed: s.seed, Timings: sim.DefaultTimings(), Boot: sim.AgentAfter(bootTime)})
	specs := simtest.Cluster(t, ctx, e, sim.ClusterSpec{Name: "c", Nodes: nodes, HookTimeout: 300})
	time.Sleep(5 * time.Minute)
	simtest.NewVersion(t, ctx, e, specs)
	w0 := &world{t: t, e: e, nodes: specs, ctx: ctx}
	probe := w0.config(e.AutoScaling(), e.EC2())
	snap, err := probe.Inventory.Observe(ctx, probe.Selector, inventory.Full, nil)
	if err != nil {
		t.Fatal(err)
	}
	budget := Budget(snap, m.opts)
	wt := &watch{t: t, e: e, nodes: specs, budget: budget, byZone: m.opts.ByZone, strict: s.stale == 0,
		taken: map[string]string{}, outSince: map[string]time.Time{}, attempted: map[string]bool{}}

	// The monitor samples every 500ms of virtual time.
	mctx, stopMonitor := context.WithCancel(ctx)
	monitorDone := make(chan struct{})
	go func() {
		defer close(monitorDone)
		for mctx.Err() == nil {
			wt.check(fmt.Sprintf("at %s", time.Now().Format("15:04:05")))
			_ = clock.Sleep(mctx, clock.Real{}, 500*time.Millisecond)
		}
	}()

	// Faults, each at its time.
	fctx, stopFaults := context.WithCancel(ctx)
	var faults sync.WaitGroup
	at := func(d time.Duration, f func()) {
		faults.Add(1)
		go func() {
			defer faults.Done()
			if clock.Sleep(fctx, clock.Real{}, d) == nil {
				f()
			}
		}()
	}
	if s.throttle[1] > 0 {
		at(s.throttle[0], func() { e.AddFaults(sim.Throttle(float64(s.throttle[2]) / 1000)...) })
		at(s.throttle[0]+s.throttle[1], e.ClearFaults)
	}
	if s.loseAt > 0 {
		at(s.loseAt, func() {
			if id, ok := e.InstanceByIP(specs[s.loseNode].IP); ok {
				_ = e.LoseInstance(id)
			}
		})
	}
	if s.failAt > 0 {
		at(s.failAt, func() {
			_ = e.FailLaunches(specs[s.failNode].Group, s.failCount, "InsufficientInstanceCapacity", "We currently do not have sufficient t3.micro capacity in the Availability Zone you requested")
		})
	}
	if s.stale > 0 {
		e.SetStaleReads(s.stale)
	}

	cfg := w0.config(watched{AutoScaling: e.AutoScaling(), w: wt}, e.EC2())
	if testing.Verbose() {
		t0 := time.Now()
		cfg.Events = func(ev Event) {
			if ev.Kind != "progress" {
				t.Logf("%8s %s %s", ev.At.Sub(t0), ev.Kind, ev.Message)
			}
		}
	}
	cfg.Options, cfg.Canary, cfg.PauseAfter, cfg.Timeout = m.opts, m.canary, m.pauseAfter, 15*time.Minute
	var verified [][]string
	if m.canary > 0 {
		cfg.Verify = func(_ context.Context, replaced []string) error {
			verified = append(verified, replaced)
			if s.verifyFail {
				return errors.New("the canary does not answer")
			}
			return nil
		}
		cfg.Soak = time.Minute
	}
	rctx, kill := context.WithCancel(ctx)
	if s.killAt > 0 {
		at(s.killAt, kill)
	}
	_, err = Run(rctx, cfg)
	kill()
	stopFaults()
	faults.Wait()
	e.ClearFaults()
	killed := errors.Is(err, context.Canceled)

	if s.verifyFail {
		f, ok := IsFailure(err)
		canaries := Order(snap, m.opts)[:m.canary]
		if !ok || f.Kind != Verify {
			t.Errorf("the canary's verify failed, yet the roll ended with %v", err)
		} else if got, want := strings.Join(wt.terminated, " "), strings.Join(ids(canaries), " "); got != want {
			t.Errorf("the canary failed; the roll terminated %q, want only the canary %q", got, want)
		}
		if len(verified) == 0 || strings.Join(verified[0], " ") != strings.Join(ids(canaries), " ") {
			t.Errorf("verify saw %v, want the canary %v", verified, ids(canaries))
		}
	} else if p := (*Paused)(nil); errors.As(err, &p) {
		if len(wt.terminated) != m.pauseAfter || p.Replaced != m.pauseAfter {
			t.Errorf("paused after %d replacements with %d terminations, want %d of each", p.Replaced, len(wt.terminated), m.pauseAfter)
		}
	} else if err != nil && !killed {
		// A stop is allowed under faults (a lost node past the budget, a
		// replacement that took too long); the re-run below must finish.
		if _, ok := IsFailure(err); !ok {
			t.Errorf("the roll failed with an error that is not a stop: %v", err)
		}
	}

	// Re-run as an operator would, once the stale window has passed and a
	// lost instance has been noticed by its group (a loss the group has not
	// seen yet is invisible to any roll): faults cleared, the canary
	// passing, no pause.
	time.Sleep(s.stale + time.Second)
	if s.loseAt > 0 {
		time.Sleep(2 * time.Minute)
	}
	e.SetStaleReads(0)
	cfg.Verify = func(context.Context, []string) error { return nil }
	cfg.PauseAfter = 0
	if _, err := Run(ctx, cfg); err != nil {
		t.Errorf("re-run after %q: %v", s, err)
	}
	stopMonitor()
	<-monitorDone
	wt.check("at the end")

	for _, v := range wt.violations {
		t.Error(v)
	}
	after, err := probe.Inventory.Observe(ctx, probe.Selector, inventory.Full, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range after.Nodes {
		switch {
		case m.opts.InScope(n.ID) && !n.Current():
			t.Errorf("node %s is in scope and not current at the end: %s", n.ID, n.Problem())
		case !m.opts.InScope(n.ID) && slices.Contains(wt.terminated, n.ID):
			t.Errorf("node %s is out of scope, yet the roll terminated it", n.ID)
		case n.LaunchSuspended:
			t.Errorf("node %s's group was left with Launch suspended", n.ID)
		}
	}
	time.Sleep(30 * time.Minute) // let the engine settle before the bubble ends
}
