package lab

import (
	"context"
	"testing"
	"time"
)

// TestZooKeeperRollsAndHealsANodeLoss runs examples/zookeeper from its
// module block: three ZooKeeper servers rolled zone by zone (one at a
// time: two of three keep the quorum), then a node loss healed, with its
// lab.hcl's probe creating a znode every 100ms and reading it back.
func TestZooKeeperRollsAndHealsANodeLoss(t *testing.T) {
	l := startLab(t, "../../examples/zookeeper")
	r, err := l.Demo(context.Background(), DefaultScenario, testWriter{t})
	if r != nil {
		r.Print(testWriter{t})
	}
	if err != nil {
		t.Fatal(err)
	}
	if r.RollErr != nil || len(r.Replacements) != 3 {
		t.Fatalf("roll: %v, %d replacements", r.RollErr, len(r.Replacements))
	}
	// The probe does not retry: the one election (the leader's own
	// replacement) is a gap of about a second, by time.
	if up, total := r.RollUp, r.RollTime; r.RollProbes[1] < 20 || float64(up) < 0.97*float64(total) || r.RollGap > 3*time.Second {
		t.Errorf("during the roll the probe (a znode created and read back, no retry, %d runs) succeeded %s of %s, longest gap %s; want at least 97%% by time and no gap over 3s: one of three servers is down at a time",
			r.RollProbes[1], up, total, r.RollGap)
	}
	if len(r.Lost) > 0 || r.Checked < r.AllProbes[0] {
		t.Errorf("%d acknowledged znodes lost (%v); the check read back %d of %d", len(r.Lost), r.Lost, r.Checked, r.AllProbes[0])
	}
	if !r.SameIPs {
		t.Error("a node came back on another IP")
	}
	if r.KillRecovery <= 0 {
		t.Error("the node loss was not healed")
	}
	for v, n := range r.Formats {
		if n != 1 {
			t.Errorf("volume %s formatted %d times: a replaced node must find its data", v, n)
		}
	}
}
