package rollout

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/stateful-aws/stateful/internal/cluster"
	"github.com/stateful-aws/stateful/internal/sim"
)

// fakeApp is an application with a leader, on the simulated cluster: a
// leader whose node leaves service is an election (counted when next
// asked).
type fakeApp struct {
	w      *world
	mu     sync.Mutex
	leader string
	// leaderInst is the leader's instance: its loss is an election.
	leaderInst string
	elections  int
	moves      []string
	// checkErr, when set, fails every Check.
	checkErr error
	// behind says whether node id's serving member has not caught up.
	behind func(id string, m sim.Member, sinceInService time.Duration) bool
	// onCaughtUp runs (locked) when node id first passes CaughtUp.
	onCaughtUp func(a *fakeApp, id string)
	caught     map[string]bool
}

func (a *fakeApp) Name() string { return "fakeapp" }

func (a *fakeApp) member(id string) (sim.Member, bool) {
	for _, n := range a.w.nodes {
		if n.ID == id {
			if m := a.w.e.Members(n.Group); len(m) == 1 && m[0].Lifecycle == "InService" && m[0].Health == "Healthy" {
				return m[0], true
			}
		}
	}
	return sim.Member{}, false
}

// elect replaces a leader whose instance has left service (even if its
// node is back on a new instance since).
func (a *fakeApp) elect() {
	if m, ok := a.member(a.leader); ok && (a.leaderInst == "" || m.ID == a.leaderInst) {
		a.leaderInst = m.ID
		return
	}
	for _, n := range a.w.nodes {
		if m, ok := a.member(n.ID); ok && n.ID != a.leader {
			a.leader, a.leaderInst = n.ID, m.ID
			a.elections++
			return
		}
	}
}

func (a *fakeApp) Check(_ context.Context, nodes []cluster.Node, _ cluster.Node) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.elect()
	for _, n := range nodes {
		if _, ok := a.member(n.ID); !ok {
			return fmt.Errorf("member of node %s is down", n.ID)
		}
	}
	return a.checkErr
}

func (a *fakeApp) CaughtUp(_ context.Context, _ []cluster.Node, n cluster.Node) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.elect()
	m, ok := a.member(n.ID)
	if !ok {
		return fmt.Errorf("member of node %s is down", n.ID)
	}
	if a.behind != nil && a.behind(n.ID, m, time.Since(m.InServiceAt)) {
		return fmt.Errorf("member of node %s is behind the leader", n.ID)
	}
	if a.caught == nil {
		a.caught = map[string]bool{}
	}
	if !a.caught[n.ID] && a.onCaughtUp != nil {
		a.onCaughtUp(a, n.ID)
	}
	a.caught[n.ID] = true
	return nil
}

func (a *fakeApp) Leader(context.Context, []cluster.Node) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.elect()
	return a.leader, nil
}

func (a *fakeApp) MoveLeader(_ context.Context, _ []cluster.Node, from, to cluster.Node) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.leader != from.ID {
		return fmt.Errorf("node %s does not lead", from.ID)
	}
	m, _ := a.member(to.ID)
	a.leader, a.leaderInst = to.ID, m.ID
	a.moves = append(a.moves, from.ID+"->"+to.ID)
	return nil
}

func TestTheLeaderGoesLastAskedBeforeEachNodeAndIsMovedFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, 3, nil)
		w.newVersion()
		// Node 01 leads; once node 00 is back, the leadership moves by
		// itself to node 02: asked again, 01 goes before 02.
		app := &fakeApp{w: w, leader: "01", onCaughtUp: func(a *fakeApp, id string) {
			if id == "00" {
				a.leader, a.leaderInst = "02", ""
			}
		}}
		cfg := w.config(w.e.AutoScaling(), w.e.EC2())
		cfg.App = app
		var events []Event
		cfg.Events = func(e Event) { events = append(events, e) }
		if _, err := Run(w.ctx, cfg); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(w.terminations(), " "); got != "00 01 02" {
			t.Errorf("terminated %s, want 00 01 02 (the leader of each moment last)", got)
		}
		if strings.Join(app.moves, " ") != "02->00" || app.elections != 0 {
			t.Errorf("moves %v, elections %d; want the leadership handed from 02 to 00 and no election", app.moves, app.elections)
		}
		var kinds []string
		for _, e := range events {
			if e.Kind == "leader" || e.Kind == "move-leader" {
				kinds = append(kinds, e.Kind+":"+e.Node)
			}
		}
		if strings.Join(kinds, " ") != "leader:01 leader:02 move-leader:02" {
			t.Errorf("leader events %v", kinds)
		}
		time.Sleep(30 * time.Minute)
	})
}

func TestWithoutMoveTheLeaderStillGoesLast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, 3, nil)
		w.newVersion()
		app := &noMove{fakeApp{w: w, leader: "00"}}
		cfg := w.config(w.e.AutoScaling(), w.e.EC2())
		cfg.App = app
		cfg.Last = []string{"01"}
		if _, err := Run(w.ctx, cfg); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(w.terminations(), " "); got != "02 01 00" {
			t.Errorf("terminated %s, want 02 01 00 (--last 01, then the leader 00)", got)
		}
		if app.elections != 1 {
			t.Errorf("%d elections, want the one of the leader's own replacement", app.elections)
		}
		time.Sleep(30 * time.Minute)
	})
}

// noMove is an application that cannot hand leadership over.
type noMove struct{ fakeApp }

func (a *noMove) MoveLeader(context.Context, []cluster.Node, cluster.Node, cluster.Node) error {
	return fmt.Errorf("fakeapp: %w", errors.ErrUnsupported)
}

func TestABlockedCheckTerminatesNothingAndSaysWhy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, 3, nil)
		w.newVersion()
		cfg := w.config(w.e.AutoScaling(), w.e.EC2())
		cfg.App = &fakeApp{w: w, leader: "00", checkErr: errors.New("check fake-min-isr: partition orders-1 would go below its minimum")}
		cfg.Timeout = 2 * time.Minute
		cfg.CheckTimeout = 10 * time.Second
		_, err := Run(w.ctx, cfg)
		f, ok := IsFailure(err)
		if !ok || f.Kind != PreCheck || !strings.Contains(err.Error(), "fakeapp: check fake-min-isr: partition orders-1") {
			t.Fatalf("err %v; want a pre-check failure naming the check and what blocks it", err)
		}
		if got := w.terminations(); len(got) != 0 {
			t.Errorf("terminated %v, want nothing", got)
		}
	})
}

func TestTheNextNodeWaitsForTheReplacedOneToCatchUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, 3, nil)
		w.newVersion()
		const lag = 2 * time.Minute
		cfg := w.config(w.e.AutoScaling(), w.e.EC2())
		cfg.App = &fakeApp{w: w, leader: "02", behind: func(_ string, _ sim.Member, since time.Duration) bool { return since < lag }}
		var events []Event
		cfg.Events = func(e Event) { events = append(events, e) }
		if _, err := Run(w.ctx, cfg); err != nil {
			t.Fatal(err)
		}
		var terminated []time.Time
		var waits int
		for _, e := range events {
			switch e.Kind {
			case "terminate":
				terminated = append(terminated, e.At)
			case "check":
				waits++
			}
		}
		if len(terminated) != 3 || waits == 0 {
			t.Fatalf("%d terminations, %d check events; want 3 and some", len(terminated), waits)
		}
		// Each replacement boots for 40s, then lags 2 minutes.
		for k := 1; k < 3; k++ {
			if gap := terminated[k].Sub(terminated[k-1]); gap < bootTime+lag {
				t.Errorf("node %d went %s after the one before, want at least %s (boot and catch-up)", k, gap, bootTime+lag)
			}
		}
		time.Sleep(30 * time.Minute)
	})
}

func groupVersion(t *testing.T, w *world, group string) string {
	t.Helper()
	out, err := w.e.AutoScaling().DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{group}})
	if err != nil || len(out.AutoScalingGroups) != 1 {
		t.Fatalf("reading group %s: %v", group, err)
	}
	return *out.AutoScalingGroups[0].LaunchTemplate.Version
}

func TestRollbackPutsTheFailedNodeAloneBack(t *testing.T) {
	// Version 2's node script fails: its launch is abandoned.
	abandonV2 := func(e *sim.Engine, inst sim.Instance) {
		if inst.LaunchTemplateVersion == 2 {
			sim.AbandonAfter(10*time.Second)(e, inst)
			return
		}
		sim.AgentAfter(bootTime)(e, inst)
	}
	// Version 2 boots, but its member never catches up.
	behindOnV2 := func(_ string, m sim.Member, _ time.Duration) bool { return m.Version == 2 }
	for _, c := range []struct {
		name         string
		boot         sim.BootFunc
		behind       func(string, sim.Member, time.Duration) bool
		terminations string
		cause        string
	}{
		{"launch abandoned", abandonV2, nil, "00", "abandoned"},
		{"check failing", nil, behindOnV2, "00 00", "the fakeapp check did not pass"},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := newWorld(t, 3, c.boot)
				w.newVersion()
				cfg := w.config(w.e.AutoScaling(), w.e.EC2())
				cfg.App = &fakeApp{w: w, leader: "02", behind: c.behind}
				cfg.OnFailure = Rollback
				cfg.Timeout = 4 * time.Minute
				_, err := Run(w.ctx, cfg)
				f, ok := IsFailure(err)
				if !ok || f.Kind != RolledBack || f.Node != "00" {
					t.Fatalf("err %v; want node 00 rolled back", err)
				}
				for _, want := range []string{c.cause, "node(s) 00 went back to their last good launch-template version", "no other node was touched", "Terraform's next apply will move group " + w.nodes[0].Group + " from version 1 back to 2", "fix the change first"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("message lacks %q: %v", want, err)
					}
				}
				if got := strings.Join(w.terminations(), " "); got != c.terminations {
					t.Errorf("terminated %s, want %s: node 00 alone", got, c.terminations)
				}
				if v := groupVersion(t, w, w.nodes[0].Group); v != "1" {
					t.Errorf("node 00's group launches version %s, want 1", v)
				}
				for k, n := range w.nodes {
					m := w.e.Members(n.Group)
					if len(m) != 1 || m[0].Lifecycle != "InService" || m[0].Version != 1 {
						t.Errorf("node %s: %+v, want one instance in service on version 1", n.ID, m)
					}
					if k > 0 && groupVersion(t, w, n.Group) == "1" {
						t.Errorf("node %s's group was changed", n.ID)
					}
				}
				time.Sleep(30 * time.Minute)
			})
		})
	}
}

func TestRollbackNodes(t *testing.T) {
	res := &Result{Replaced: []Replacement{{Node: "00"}, {Node: "01"}}}
	for _, c := range []struct {
		kind FailureKind
		want []string
	}{
		{Abandoned, []string{"02"}},
		{CheckFailed, []string{"02"}},
		{Verify, []string{"00", "01"}},
		{PreCheck, nil},
		{NodeLost, nil},
		{Timeout, nil},
		{WrongVersion, nil},
		{Refused, nil},
	} {
		if got := rollbackNodes(&Failure{Kind: c.kind, Node: "02"}, res); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.kind, got, c.want)
		}
	}
}

// TestRollbackUnderRandomFaults: whichever node's new version fails (its
// launch abandoned, or its member never catching up) and whatever the
// throttling, the roll puts that node alone back on version 1 and stops:
// the nodes before it are on version 2, the nodes after it untouched,
// only its group pins version 1, and never more than one node is out of
// service. PROPERTY_SEEDS=N runs N seeds (default 6).
func TestRollbackUnderRandomFaults(t *testing.T) {
	for seed := int64(1); seed <= int64(propertySeeds()); seed++ {
		rng := rand.New(rand.NewSource(seed))
		bad, abandon := rng.Intn(3), rng.Intn(2) == 0
		throttleAt, throttleFor := time.Duration(rng.Intn(120))*time.Second, time.Duration(20+rng.Intn(100))*time.Second
		p := float64(200+rng.Intn(400)) / 1000
		name := fmt.Sprintf("seed=%d", seed)
		t.Run(name, func(t *testing.T) {
			t.Logf("node %02d fails (abandoned: %v); throttling %.0f%% from %s for %s; replay: go test ./internal/rollout -run 'TestRollbackUnderRandomFaults/%s$' -v", bad, abandon, 100*p, throttleAt, throttleFor, name)
			synctest.Test(t, func(t *testing.T) {
				var badGroup string
				boot := func(e *sim.Engine, inst sim.Instance) {
					if abandon && inst.LaunchTemplateVersion == 2 && inst.Group == badGroup {
						sim.AbandonAfter(10*time.Second)(e, inst)
						return
					}
					sim.AgentAfter(bootTime)(e, inst)
				}
				w := newWorld(t, 3, boot)
				badGroup = w.nodes[bad].Group
				badID := w.nodes[bad].ID
				w.newVersion()
				lowest := w.monitor()
				go func() {
					time.Sleep(throttleAt)
					w.e.AddFaults(sim.Throttle(p)...)
					time.Sleep(throttleFor)
					w.e.ClearFaults()
				}()
				cfg := w.config(w.e.AutoScaling(), w.e.EC2())
				cfg.App = &fakeApp{w: w, leader: "02", behind: func(id string, m sim.Member, _ time.Duration) bool {
					return !abandon && id == badID && m.Version == 2
				}}
				cfg.OnFailure = Rollback
				cfg.Timeout = 4 * time.Minute
				_, err := Run(w.ctx, cfg)
				f, ok := IsFailure(err)
				if !ok || f.Kind != RolledBack || f.Node != badID {
					t.Fatalf("err %v; want node %s rolled back", err, badID)
				}
				time.Sleep(throttleAt + throttleFor) // the faults are over
				for k, n := range w.nodes {
					want, wantGroup := int64(1), "$Latest"
					switch {
					case k == bad:
						wantGroup = "1"
					case k < bad:
						want = 2
					}
					if m := w.e.Members(n.Group); len(m) != 1 || m[0].Lifecycle != "InService" || m[0].Version != want {
						t.Errorf("node %s: %+v, want in service on version %d", n.ID, m, want)
					}
					if v := groupVersion(t, w, n.Group); v != wantGroup {
						t.Errorf("node %s's group launches %s, want %s", n.ID, v, wantGroup)
					}
				}
				for _, id := range w.terminations() {
					if id > badID {
						t.Errorf("node %s, after the failed one, was terminated (%v)", id, w.terminations())
					}
				}
				if low := lowest(); low < 2 {
					t.Errorf("only %d of 3 nodes in service at one point", low)
				}
				time.Sleep(30 * time.Minute)
			})
		})
	}
}
