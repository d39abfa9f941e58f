package rollout

import (
	"testing"
	"time"

	"github.com/stateful-aws/stateful/internal/cluster"
)

func TestNext(t *testing.T) {
	t.Parallel()
	serving := func(id string, v int64) cluster.Instance {
		return cluster.Instance{ID: id, Lifecycle: cluster.InService, Health: "Healthy", Version: v, EC2State: "running", Tagged: true, Mark: id}
	}
	node := func(eni string, is ...cluster.Instance) cluster.Node {
		return cluster.Node{ID: "00", Target: 2, ENI: "eni-1", ENIStatus: eni, Instances: is,
			Volume: cluster.Volume{ID: "vol-1", State: "in-use", AttachedTo: "i-new", Attachment: "attached"}}
	}
	old := cluster.Instance{ID: "i-old", Lifecycle: "Terminating", Health: "Healthy", Version: 1}
	unmarked := serving("i-new", 2)
	unmarked.Mark = ""
	f := FlightState{Old: "i-old", KnowsENI: true}
	for _, c := range []struct {
		name    string
		n       cluster.Node
		f       FlightState
		elapsed time.Duration
		resume  bool
		out     Outcome
	}{
		{"old instance still holds the ENI", node("in-use", old), f, time.Minute, false, Pending},
		{"ENI free: resume Launch", node("available"), f, time.Minute, true, Pending},
		{"no ENI on record: the old instance gone is the sign", cluster.Node{ID: "00", Target: 2}, FlightState{Old: "i-old"}, time.Minute, true, Pending},
		{"no ENI on record, old instance still there", cluster.Node{ID: "00", Target: 2, Instances: []cluster.Instance{old}}, FlightState{Old: "i-old"}, time.Minute, false, Pending},
		{"already resumed: not twice", node("available"), FlightState{Old: "i-old", Resumed: true, KnowsENI: true}, time.Minute, false, Pending},
		{"back with its data", node("in-use", serving("i-new", 2)), FlightState{Old: "i-old", Resumed: true, KnowsENI: true}, time.Minute, false, Back},
		{"InService without the agent's mark is not back", node("in-use", unmarked), FlightState{Old: "i-old", Resumed: true, KnowsENI: true}, time.Minute, false, Pending},
		{"back on another version", node("in-use", serving("i-new", 3)), FlightState{Old: "i-old", Resumed: true, KnowsENI: true}, time.Minute, false, WrongVersionBack},
		{"the new instance abandoned", node("in-use", cluster.Instance{ID: "i-new", Lifecycle: "Terminating:Proceed"}), FlightState{Old: "i-old", Resumed: true, KnowsENI: true}, time.Minute, false, AbandonedLaunch},
		{"timed out", node("in-use", cluster.Instance{ID: "i-new", Lifecycle: cluster.PendingWait}), FlightState{Old: "i-old", Resumed: true, KnowsENI: true}, 10 * time.Minute, false, TimedOut},
		{"the old instance serving is not a replacement", node("in-use", serving("i-old", 1)), f, time.Minute, false, Pending},
	} {
		got := Next(c.n, c.f, c.elapsed, 10*time.Minute)
		if got.Resume != c.resume || got.Outcome != c.out {
			t.Errorf("%s: resume %v outcome %d, want %v %d", c.name, got.Resume, got.Outcome, c.resume, c.out)
		}
	}
}
