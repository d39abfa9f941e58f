package rollout

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/inventory"
	"github.com/stateful-aws/stateful/internal/sim"
	"github.com/stateful-aws/stateful/internal/sim/simtest"
)

// BenchmarkRoll rolls 3, 9 and 99 nodes in simulated time, each
// replacement taking the same time, and reports:
//   - ratio: total roll time over the sum of the replacement times (the
//     roll's own overhead; goal at most 1.02);
//   - detect-s: mean delay between a replacement coming into service and
//     the roll noticing (goal at most 1s);
//   - calls/node: API calls per replaced node.
//
// Run: go test -run '^$' -bench Roll -benchtime 1x ./internal/rollout
func BenchmarkRoll(b *testing.B) {
	for _, n := range []int{3, 9, 99} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			for b.Loop() {
				m := measureRoll(b, n)
				b.ReportMetric(m.ratio, "ratio")
				b.ReportMetric(m.detect.Seconds(), "detect-s")
				b.ReportMetric(m.callsPerNode, "calls/node")
				b.ReportMetric(m.replacement.Seconds(), "replace-s")
			}
		})
	}
}

type rollFigures struct {
	ratio        float64
	detect       time.Duration
	callsPerNode float64
	replacement  time.Duration
}

func measureRoll(b *testing.B, n int) rollFigures {
	b.Helper()
	clk := clock.NewStepping(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	tm := sim.DefaultTimings()
	tm.ShutdownDuration, tm.ENIReleaseDelay = 5*time.Second, time.Second
	e, err := sim.New(sim.Config{Clock: clk, Seed: 9, Timings: tm, Boot: sim.ContinueAfter(60 * time.Second)})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	nodes, err := sim.Provision(ctx, e.AutoScaling(), e.EC2(), e.Region(), sim.ClusterSpec{Name: "bench", Nodes: n, HookTimeout: 600})
	if err != nil {
		b.Fatal(err)
	}
	clk.Advance(10 * time.Minute)
	simtest.NewVersion(b, ctx, e, nodes)
	inv, _ := inventory.New(inventory.Config{AutoScaling: e.AutoScaling(), EC2: e.EC2(), Clock: clk})
	before := e.CountCalls("")
	start := clk.Now()
	res, err := Run(ctx, Config{AutoScaling: e.AutoScaling(), Inventory: inv, Clock: clk, Selector: inventory.Selector{Cluster: "bench"}, Timeout: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	total := clk.Now().Sub(start)
	calls := e.CountCalls("") - before
	if len(res.Replaced) != n {
		b.Fatalf("replaced %d of %d", len(res.Replaced), n)
	}
	var sum, detect time.Duration
	byNode := map[string]sim.NodeSpec{}
	for _, nd := range nodes {
		byNode[nd.ID] = nd
	}
	for _, r := range res.Replaced {
		var inService time.Time
		for _, m := range e.Members(byNode[r.Node].Group) {
			if m.ID == r.New {
				inService = m.InServiceAt
			}
		}
		truth := inService.Sub(r.Detected.Add(-r.Took)) // terminate call to in service
		sum += truth
		detect += r.Detected.Sub(inService)
	}
	return rollFigures{ratio: float64(total) / float64(sum), detect: detect / time.Duration(n),
		callsPerNode: float64(calls) / float64(n), replacement: sum / time.Duration(n)}
}
