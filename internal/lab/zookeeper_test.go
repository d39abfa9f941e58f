package lab

import (
	"context"
	"testing"
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
	if ok, total := r.RollProbes[0], r.RollProbes[1]; total < 20 || ok != total {
		t.Errorf("during the roll %d of %d probes (a znode created and read back) passed; want all: one of three servers is down at a time", ok, total)
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
