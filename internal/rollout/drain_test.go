package rollout

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/stateful-aws/stateful/internal/cluster"
	"github.com/stateful-aws/stateful/internal/sim"
)

func TestNeedsDrainCompletion(t *testing.T) {
	drain := cluster.DrainHookName("c")
	old := cluster.Instance{ID: "i-1", Lifecycle: "Terminating:Wait", EC2State: "running"}
	tagged := old
	tagged.Tagged = true
	unlisted := old
	unlisted.EC2State = ""
	inService := old
	inService.Lifecycle = cluster.InService
	proceeding := old
	proceeding.Lifecycle = "Terminating:Proceed"
	withDrain := GroupHooks{Cluster: "c", Read: true, Termination: []string{"mine", drain}}
	cases := []struct {
		name string
		i    cluster.Instance
		g    GroupHooks
		step DrainStep
		hook string
	}{
		{"untagged instance waiting on the drain hook", old, withDrain, DrainComplete, drain},
		{"hooks not read yet", old, GroupHooks{Cluster: "c"}, DrainReadHooks, ""},
		{"tagged: its agent drains it", tagged, withDrain, DrainLeave, ""},
		{"EC2 did not list it: its tags are unknown", unlisted, withDrain, DrainLeave, ""},
		{"not terminating yet", inService, withDrain, DrainLeave, ""},
		{"past the wait", proceeding, withDrain, DrainLeave, ""},
		{"no drain hook, only another termination hook", old, GroupHooks{Cluster: "c", Read: true, Termination: []string{"mine"}}, DrainLeave, ""},
		{"the drain hook of another cluster", old, GroupHooks{Cluster: "d", Read: true, Termination: []string{drain}}, DrainLeave, ""},
		{"cluster unknown", old, GroupHooks{Read: true, Termination: []string{drain}}, DrainLeave, ""},
	}
	for _, c := range cases {
		step, hook := NeedsDrainCompletion(c.i, c.g)
		if step != c.step || hook != c.hook {
			t.Errorf("%s: got (%d, %q), want (%d, %q)", c.name, step, hook, c.step, c.hook)
		}
	}
}

// upgraded makes the world look like a cluster just upgraded from v0.8.0
// with drain_on_termination: its instances carry no cluster tag (when
// untag) and every group has the drain hook, timing out after an hour.
func (w *world) upgraded(untag bool) {
	w.t.Helper()
	ctx := context.Background()
	for _, n := range w.nodes {
		if _, err := w.e.AutoScaling().PutLifecycleHook(ctx, &autoscaling.PutLifecycleHookInput{AutoScalingGroupName: aws.String(n.Group),
			LifecycleHookName: aws.String(cluster.DrainHookName("c")), LifecycleTransition: aws.String(sim.HookTerminating),
			HeartbeatTimeout: aws.Int32(3600), DefaultResult: aws.String("CONTINUE")}); err != nil {
			w.t.Fatal(err)
		}
		id, ok := w.e.InstanceByIP(n.IP)
		if !ok {
			w.t.Fatalf("node %s has no instance", n.ID)
		}
		if untag {
			if _, err := w.e.EC2().DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{id},
				Tags: []ec2types.Tag{{Key: aws.String(cluster.TagCluster)}, {Key: aws.String(cluster.TagReady)}}}); err != nil {
				w.t.Fatal(err)
			}
		}
	}
}

// completed lists the instances whose lifecycle action the roll completed.
func (w *world) completed() []string {
	var out []string
	for _, c := range w.e.Calls() {
		if c.Operation == "CompleteLifecycleAction" && c.ErrorCode == "" {
			out = append(out, aws.ToString(c.Input.(*autoscaling.CompleteLifecycleActionInput).InstanceId))
		}
	}
	return out
}

func TestAnUpgradedClusterWithADrainHookRollsWithoutWaitingOutTheHook(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, 3, nil)
		w.upgraded(true)
		w.newVersion()
		before := w.completed()
		cfg := w.config(w.e.AutoScaling(), w.e.EC2())
		var drained []string
		cfg.Events = func(ev Event) {
			if ev.Kind == EventDrainCompleted {
				drained = append(drained, ev.Node)
			}
		}
		start := time.Now()
		res, err := Run(w.ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		if len(res.Replaced) != 3 {
			t.Fatalf("replaced %d nodes, want 3", len(res.Replaced))
		}
		if took > 15*time.Minute {
			t.Fatalf("the roll took %s: it waited out the drain hook", took)
		}
		if got := len(w.completed()) - len(before); got != 3 {
			t.Fatalf("the roll completed %d drain hooks, want one per old instance (3)", got)
		}
		if len(drained) != 3 {
			t.Fatalf("drain-completed events for %v, want one per node", drained)
		}
		t.Logf("3 untagged nodes replaced in %s of virtual time", took.Round(time.Second))
	})
}

func TestATaggedInstancesDrainHookIsLeftToItsAgent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, 3, nil)
		w.upgraded(false)
		w.newVersion()
		before := len(w.completed())
		cfg := w.config(w.e.AutoScaling(), w.e.EC2())
		cfg.Only = []string{"01"}
		cfg.Timeout = 2 * time.Hour
		res, err := Run(w.ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Replaced) != 1 {
			t.Fatalf("replaced %v, want node 01", res.Replaced)
		}
		// The replacement's launch hook is its agent's (AgentAfter) too:
		// the roll itself completes nothing here.
		if got := len(w.completed()) - before; got != 0 {
			t.Fatalf("%d lifecycle actions completed; want none: a tagged instance's drain hook is its agent's", got)
		}
		if res.Replaced[0].Took < time.Hour {
			t.Fatalf("node 01 was replaced in %s: something completed its drain hook, which only its agent (none here) may", res.Replaced[0].Took)
		}
	})
}
