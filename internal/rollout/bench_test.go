package rollout

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/inventory"
	"github.com/stateful-aws/stateful/internal/sim"
	"github.com/stateful-aws/stateful/internal/sim/simtest"
)

// The figures of the README, in simulated time with the simulator's
// realistic timings (sim.DefaultTimings: 30 s shutdown, ENI free 3 s after
// termination (its 1-10 s spread pinned to 3 s, so that every run and the
// floor agree), 2 s before a launch, 10 s to running, 2 s from the hook's
// CONTINUE to InService) and a 37 s boot: an 84 s floor per replacement.
//
// Run: go test -run '^$' -bench Roll -benchtime 1x ./internal/rollout

const benchBoot = 37 * time.Second

// floor is the shortest a replacement can take: the old instance shuts
// down and releases the ENI, then the new one launches and boots.
func floor(tm sim.Timings) time.Duration {
	return tm.ShutdownDuration + tm.ENIReleaseDelay + tm.LaunchDelay + tm.PendingToRunning + tm.HookWaitDelay + benchBoot + tm.ProceedToInService
}

type benchWorld struct {
	e     *sim.Engine
	clk   clock.Stepping
	nodes []sim.NodeSpec
	tm    sim.Timings
}

func newBenchWorld(b *testing.B, n int) *benchWorld {
	b.Helper()
	clk := clock.NewStepping(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	tm := sim.DefaultTimings()
	tm.ENIReleaseDelay, tm.ENIReleaseSpread = 3*time.Second, 0
	e, err := sim.New(sim.Config{Clock: clk, Seed: 9, Timings: tm, Boot: sim.AgentAfter(benchBoot)})
	if err != nil {
		b.Fatal(err)
	}
	nodes, err := sim.Provision(context.Background(), e.AutoScaling(), e.EC2(), e.Region(), sim.ClusterSpec{Name: "bench", Nodes: n, HookTimeout: 600})
	if err != nil {
		b.Fatal(err)
	}
	clk.Advance(10 * time.Minute)
	simtest.NewVersion(b, context.Background(), e, nodes)
	return &benchWorld{e: e, clk: clk, nodes: nodes, tm: tm}
}

// inService is when the node's current instance reached InService.
func (w *benchWorld) inService(group, instance string) time.Time {
	for _, m := range w.e.Members(group) {
		if m.ID == instance {
			return m.InServiceAt
		}
	}
	return time.Time{}
}

// BenchmarkReplacementAgainstFloor replaces each node of a three-node
// cluster and reports the worst replacement (terminate call to the new
// instance InService) above the floor: with the roll, which suspends
// Launch until the ENI is free, and with a plain terminate, where the
// group's launch fails on the ENI and backs off.
func BenchmarkReplacementAgainstFloor(b *testing.B) {
	for b.Loop() {
		w := newBenchWorld(b, 3)
		inv, _ := inventory.New(inventory.Config{AutoScaling: w.e.AutoScaling(), EC2: w.e.EC2(), Clock: w.clk})
		res, err := Run(context.Background(), Config{AutoScaling: w.e.AutoScaling(), Inventory: inv, Clock: w.clk, Selector: inventory.Selector{Cluster: "bench"}, Timeout: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		fl := floor(w.tm)
		var worst time.Duration
		for k, r := range res.Replaced {
			took := w.inService(w.nodes[k].Group, r.New).Sub(r.Started)
			b.Logf("roll: node %s replaced in %s, floor %s, %+.1f s above", r.Node, took, fl, (took - fl).Seconds())
			worst = max(worst, took-fl)
		}
		b.ReportMetric(worst.Seconds(), "roll-above-floor-s")

		// Today's way, for comparison: terminate and let the group retry.
		simtest.NewVersion(b, context.Background(), w.e, w.nodes)
		worst = 0
		for _, n := range w.nodes {
			old, _ := w.e.InstanceByIP(n.IP)
			start := w.clk.Now()
			if _, err := w.e.AutoScaling().TerminateInstanceInAutoScalingGroup(context.Background(), &autoscaling.TerminateInstanceInAutoScalingGroupInput{
				InstanceId: aws.String(old), ShouldDecrementDesiredCapacity: aws.Bool(false)}); err != nil {
				b.Fatal(err)
			}
			w.clk.Advance(10 * time.Minute)
			w.e.Do(func() {})
			m := w.e.Members(n.Group)
			took := m[0].InServiceAt.Sub(start)
			b.Logf("plain terminate: node %s replaced in %s, floor %s, %+.1f s above", n.ID, took, fl, (took - fl).Seconds())
			worst = max(worst, took-fl)
		}
		b.ReportMetric(worst.Seconds(), "plain-above-floor-s")
		b.ReportMetric(fl.Seconds(), "floor-s")
	}
}

// BenchmarkRoll rolls 99 and 999 nodes in three zones, 84 s per
// replacement, one at a time, with --max-unavailable 3 and with --by-zone
// --max-unavailable zone (also with its writes not paced, to show the
// roll's own overhead apart from the pacing), and reports:
//   - ratio: total roll time over the sum, over waves (a zone under
//     --by-zone, else the replacements started together), of the slowest
//     replacement in the wave (goal at most 1.02);
//   - roll-min: the roll's total time in minutes;
//   - calls/node: API calls per replaced node (goal at most 10 at 999);
//   - peak-ec2/s, peak-as/s: most calls in any one second, per service.
func BenchmarkRoll(b *testing.B) {
	modes := []struct {
		name  string
		opts  Options
		paced bool
	}{
		{"one-at-a-time", Options{}, true},
		{"max-unavailable-3", Options{MaxUnavailable: 3}, true},
		{"by-zone-whole-zone", Options{ByZone: true, WholeZone: true}, true},
		// The roll's own overhead, with its writes not paced.
		{"by-zone-whole-zone-unpaced", Options{ByZone: true, WholeZone: true}, false},
	}
	for _, n := range []int{99, 999} {
		for _, m := range modes {
			b.Run(fmt.Sprintf("nodes=%d/%s", n, m.name), func(b *testing.B) {
				for b.Loop() {
					f := measureRoll(b, n, m.opts, m.paced)
					b.ReportMetric(f.ratio, "ratio")
					b.ReportMetric(f.total.Minutes(), "roll-min")
					b.ReportMetric(f.callsPerNode, "calls/node")
					b.ReportMetric(float64(f.peakEC2), "peak-ec2/s")
					b.ReportMetric(float64(f.peakAS), "peak-as/s")
					b.ReportMetric(f.worstAboveFloor.Seconds(), "above-floor-s")
				}
			})
		}
	}
}

type rollFigures struct {
	ratio           float64
	total           time.Duration
	callsPerNode    float64
	peakEC2, peakAS int
	worstAboveFloor time.Duration
}

func measureRoll(b *testing.B, n int, opts Options, paced bool) rollFigures {
	b.Helper()
	w := newBenchWorld(b, n)
	inv, _ := inventory.New(inventory.Config{AutoScaling: w.e.AutoScaling(), EC2: w.e.EC2(), Clock: w.clk})
	before := len(w.e.Calls())
	start := w.clk.Now()
	cfg := Config{AutoScaling: w.e.AutoScaling(), Inventory: inv, Clock: w.clk, Selector: inventory.Selector{Cluster: "bench"},
		Timeout: time.Hour, Options: opts, AllowQuorumLoss: true}
	if !paced {
		cfg.Pace = &awsapi.Bucket{}
	}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	f := rollFigures{total: w.clk.Now().Sub(start)}
	if len(res.Replaced) != n {
		b.Fatalf("replaced %d of %d", len(res.Replaced), n)
	}
	group := map[string]string{}
	for _, nd := range w.nodes {
		group[nd.ID] = nd.Group
	}
	// Waves: by zone under --by-zone (its calls spread a zone's starts),
	// else the replacements started at the same instant.
	slowest := map[string]time.Duration{}
	fl := floor(w.tm)
	for _, r := range res.Replaced {
		took := w.inService(group[r.Node], r.New).Sub(r.Started)
		wave := r.Started.String()
		if opts.ByZone {
			wave = r.AZ
		}
		slowest[wave] = max(slowest[wave], took)
		f.worstAboveFloor = max(f.worstAboveFloor, took-fl)
	}
	var sum time.Duration
	for _, d := range slowest {
		sum += d
	}
	f.ratio = float64(f.total) / float64(sum)
	var calls []sim.Call
	for _, c := range w.e.Calls()[before:] {
		// The simulated agents' hook completions are not the roll's.
		if c.Operation != "CompleteLifecycleAction" && c.Operation != "RecordLifecycleActionHeartbeat" {
			calls = append(calls, c)
		}
	}
	f.callsPerNode = float64(len(calls)) / float64(n)
	perSecond := map[string]map[int64]int{sim.ServiceEC2: {}, sim.ServiceAutoScaling: {}}
	for _, c := range calls {
		perSecond[c.Service][c.At.Unix()]++
	}
	peak := func(m map[int64]int) int {
		var v []int
		for _, c := range m {
			v = append(v, c)
		}
		sort.Ints(v)
		if len(v) == 0 {
			return 0
		}
		return v[len(v)-1]
	}
	f.peakEC2, f.peakAS = peak(perSecond[sim.ServiceEC2]), peak(perSecond[sim.ServiceAutoScaling])
	return f
}
