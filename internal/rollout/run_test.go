package rollout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"

	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/cluster"
	"github.com/stateful-aws/stateful/internal/inventory"
	"github.com/stateful-aws/stateful/internal/sim"
	"github.com/stateful-aws/stateful/internal/sim/simtest"
)

const bootTime = 40 * time.Second

// world is a simulated cluster in a synctest bubble.
type world struct {
	t     *testing.T
	e     *sim.Engine
	nodes []sim.NodeSpec
	ctx   context.Context
}

func newWorld(t *testing.T, n int, boot sim.BootFunc) *world {
	t.Helper()
	if boot == nil {
		boot = sim.AgentAfter(bootTime)
	}
	e, ctx := simtest.Start(t, sim.Config{Clock: clock.Real{}, Seed: int64(n), Timings: sim.DefaultTimings(), Boot: boot})
	nodes := simtest.Cluster(t, ctx, e, sim.ClusterSpec{Name: "c", Nodes: n, HookTimeout: 300})
	time.Sleep(5 * time.Minute)
	return &world{t: t, e: e, nodes: nodes, ctx: ctx}
}

// newVersion makes version 2 of every node's launch template.
func (w *world) newVersion() { simtest.NewVersion(w.t, w.ctx, w.e, w.nodes) }

func (w *world) config(as awsapi.AutoScaling, ec awsapi.EC2) Config {
	inv, err := inventory.New(inventory.Config{AutoScaling: as, EC2: ec, Clock: clock.Real{}})
	if err != nil {
		w.t.Fatal(err)
	}
	return Config{AutoScaling: as, Inventory: inv, Clock: clock.Real{}, Selector: inventory.Selector{Cluster: "c"}, Timeout: 10 * time.Minute,
		RecoverCommand: func(id string) string { return "stateful recover " + id + " --cluster c" }}
}

// terminations lists, in order, the nodes whose instance the roll
// terminated successfully.
func (w *world) terminations() []string {
	byIP := map[string]string{}
	for _, n := range w.nodes {
		byIP[n.IP] = n.ID
	}
	var out []string
	for _, c := range w.e.Calls() {
		if c.Operation == "TerminateInstanceInAutoScalingGroup" && c.ErrorCode == "" {
			id := *c.Input.(*autoscaling.TerminateInstanceInAutoScalingGroupInput).InstanceId
			out = append(out, w.nodeOf(id))
		}
	}
	return out
}

func (w *world) nodeOf(instance string) string {
	out, err := w.e.EC2().DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: []string{instance}})
	if err != nil {
		return "?" + instance
	}
	for _, t := range out.Reservations[0].Instances[0].Tags {
		if *t.Key == cluster.TagNodeID {
			return *t.Value
		}
	}
	return "?" + instance
}

// monitor samples, every second of virtual time, how many nodes are in
// service, and reports the minimum seen.
func (w *world) monitor() func() int {
	ctx, cancel := context.WithCancel(w.ctx)
	var mu sync.Mutex
	lowest := len(w.nodes)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			in := 0
			for _, n := range w.nodes {
				if m := w.e.Members(n.Group); len(m) == 1 && m[0].Lifecycle == "InService" && m[0].Health == "Healthy" {
					in++
				}
			}
			mu.Lock()
			lowest = min(lowest, in)
			mu.Unlock()
			_ = clock.Sleep(ctx, clock.Real{}, time.Second)
		}
	}()
	return func() int { cancel(); <-done; mu.Lock(); defer mu.Unlock(); return lowest }
}

func TestNoChangeTerminatesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, 3, nil)
		res, err := Run(w.ctx, w.config(w.e.AutoScaling(), w.e.EC2()))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Replaced) != 0 || len(w.terminations()) != 0 {
			t.Fatalf("replaced %v, terminated %v; want nothing", res.Replaced, w.terminations())
		}
	})
}

func TestRollReplacesEachNodeOnceInOrderKeepingQuorum(t *testing.T) {
	for _, n := range []int{3, 5, 7} {
		t.Run(fmt.Sprint(n, " nodes"), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := newWorld(t, n, nil)
				w.newVersion()
				lowest := w.monitor()
				cfg := w.config(w.e.AutoScaling(), w.e.EC2())
				cfg.Last = []string{"00"}
				res, err := Run(w.ctx, cfg)
				if err != nil {
					t.Fatal(err)
				}
				want := []string{}
				for i := 1; i < n; i++ {
					want = append(want, fmt.Sprintf("%02d", i))
				}
				want = append(want, "00")
				if got := w.terminations(); strings.Join(got, " ") != strings.Join(want, " ") {
					t.Fatalf("terminated %v, want each node once in order %v", got, want)
				}
				if len(res.Replaced) != n {
					t.Fatalf("replaced %d nodes, want %d", len(res.Replaced), n)
				}
				if low := lowest(); low < n-1 {
					t.Fatalf("only %d of %d nodes in service at one point; want at least %d", low, n, n-1)
				}
				again, err := Run(w.ctx, w.config(w.e.AutoScaling(), w.e.EC2()))
				if err != nil || len(again.Replaced) != 0 {
					t.Fatalf("a second roll replaced %v (err %v), want nothing", again, err)
				}
			})
		})
	}
}

func TestRollRefusesWhenANodeIsOutOfService(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The fourth launch (node 00's replacement) hangs in Pending:Wait.
		w := newWorld(t, 3, sim.Sequence(sim.AgentAfter(bootTime), sim.AgentAfter(bootTime), sim.AgentAfter(bootTime), sim.Hang()))
		id, _ := w.e.InstanceByIP(w.nodes[0].IP)
		if err := w.e.LoseInstance(id); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Minute)
		w.newVersion()
		cfg := w.config(w.e.AutoScaling(), w.e.EC2())
		cfg.Timeout = time.Minute
		_, err := Run(w.ctx, cfg)
		f, ok := IsFailure(err)
		if !ok || f.Kind != Refused || f.Node != "00" || len(f.Nodes) != 1 {
			t.Fatalf("err %v; want a refusal naming node 00", err)
		}
		if !strings.Contains(err.Error(), "stateful recover 00 --cluster c") {
			t.Errorf("message lacks the recover command: %v", err)
		}
		if got := w.terminations(); len(got) != 0 {
			t.Fatalf("terminated %v; want nothing", got)
		}
	})
}

func TestRollStopsAtTheFirstFailure(t *testing.T) {
	ok3 := []sim.BootFunc{sim.AgentAfter(bootTime), sim.AgentAfter(bootTime), sim.AgentAfter(bootTime)}
	cases := []struct {
		name string
		boot sim.BootFunc
		// during runs while the roll waits for node 00's replacement.
		during func(w *world)
		kind   FailureKind
		node   string
		text   string
	}{
		{"replacement abandoned", sim.Sequence(append(ok3, sim.AbandonAfter(10*time.Second))...), nil, Abandoned, "00", "Lifecycle Action Completed with ABANDON Result"},
		{"replacement never healthy", sim.Sequence(append(ok3, sim.Hang())...), nil, Timeout, "00", "no new instance came into service"},
		{"second node lost", sim.Sequence(append(ok3, sim.AgentAfter(3*time.Minute))...), func(w *world) {
			time.Sleep(90 * time.Second)
			id, _ := w.e.InstanceByIP(w.nodes[2].IP)
			_ = w.e.LoseInstance(id)
		}, NodeLost, "02", "left service while node 00 was being replaced"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := newWorld(t, 3, c.boot)
				w.newVersion()
				if c.during != nil {
					go c.during(w)
				}
				cfg := w.config(w.e.AutoScaling(), w.e.EC2())
				cfg.Timeout = 4 * time.Minute
				_, err := Run(w.ctx, cfg)
				f, ok := IsFailure(err)
				if !ok || f.Kind != c.kind || f.Node != c.node {
					t.Fatalf("err %v; want a %s failure at node %s", err, c.kind, c.node)
				}
				for _, want := range []string{c.text, "stateful recover " + c.node + " --cluster c", "last scaling activity"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("message lacks %q: %v", want, err)
					}
				}
				if got := w.terminations(); strings.Join(got, " ") != "00" {
					t.Fatalf("terminated %v; want only node 00", got)
				}
				time.Sleep(30 * time.Minute) // let the engine settle before the bubble ends
			})
		})
	}
}

func TestRollUnderThrottling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, 5, nil)
		w.newVersion()
		w.e.AddFaults(sim.Throttle(0.3)...)
		lowest := w.monitor()
		res, err := Run(w.ctx, w.config(w.e.AutoScaling(), w.e.EC2()))
		if err != nil {
			t.Fatal(err)
		}
		w.e.ClearFaults()
		if got := w.terminations(); strings.Join(got, " ") != "00 01 02 03 04" || len(res.Replaced) != 5 {
			t.Fatalf("terminated %v; want each node once, in order", got)
		}
		if low := lowest(); low < 4 {
			t.Fatalf("%d of 5 nodes in service at one point", low)
		}
		throttled := 0
		for _, c := range w.e.Calls() {
			if c.ErrorCode == "Throttling" || c.ErrorCode == "RequestLimitExceeded" {
				throttled++
			}
		}
		if throttled == 0 {
			t.Fatal("no call was throttled")
		}
	})
}

// killAfter cancels the roll right after its k-th API call returns.
type killAfter struct {
	awsapi.AutoScaling
	k      int
	calls  *int
	cancel context.CancelFunc
}

func (c killAfter) count() {
	*c.calls++
	if *c.calls == c.k {
		c.cancel()
	}
}

func (c killAfter) DescribeAutoScalingGroups(ctx context.Context, in *autoscaling.DescribeAutoScalingGroupsInput, o ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error) {
	defer c.count()
	return c.AutoScaling.DescribeAutoScalingGroups(ctx, in, o...)
}

func (c killAfter) DescribeScalingActivities(ctx context.Context, in *autoscaling.DescribeScalingActivitiesInput, o ...func(*autoscaling.Options)) (*autoscaling.DescribeScalingActivitiesOutput, error) {
	defer c.count()
	return c.AutoScaling.DescribeScalingActivities(ctx, in, o...)
}

func (c killAfter) TerminateInstanceInAutoScalingGroup(ctx context.Context, in *autoscaling.TerminateInstanceInAutoScalingGroupInput, o ...func(*autoscaling.Options)) (*autoscaling.TerminateInstanceInAutoScalingGroupOutput, error) {
	defer c.count()
	return c.AutoScaling.TerminateInstanceInAutoScalingGroup(ctx, in, o...)
}

func (c killAfter) SuspendProcesses(ctx context.Context, in *autoscaling.SuspendProcessesInput, o ...func(*autoscaling.Options)) (*autoscaling.SuspendProcessesOutput, error) {
	defer c.count()
	return c.AutoScaling.SuspendProcesses(ctx, in, o...)
}

func (c killAfter) ResumeProcesses(ctx context.Context, in *autoscaling.ResumeProcessesInput, o ...func(*autoscaling.Options)) (*autoscaling.ResumeProcessesOutput, error) {
	defer c.count()
	return c.AutoScaling.ResumeProcesses(ctx, in, o...)
}

type killAfterEC2 struct {
	awsapi.EC2
	k *killAfter
}

func (c killAfterEC2) DescribeLaunchTemplates(ctx context.Context, in *ec2.DescribeLaunchTemplatesInput, o ...func(*ec2.Options)) (*ec2.DescribeLaunchTemplatesOutput, error) {
	defer c.k.count()
	return c.EC2.DescribeLaunchTemplates(ctx, in, o...)
}

func (c killAfterEC2) DescribeNetworkInterfaces(ctx context.Context, in *ec2.DescribeNetworkInterfacesInput, o ...func(*ec2.Options)) (*ec2.DescribeNetworkInterfacesOutput, error) {
	defer c.k.count()
	return c.EC2.DescribeNetworkInterfaces(ctx, in, o...)
}

func (c killAfterEC2) DescribeVolumes(ctx context.Context, in *ec2.DescribeVolumesInput, o ...func(*ec2.Options)) (*ec2.DescribeVolumesOutput, error) {
	defer c.k.count()
	return c.EC2.DescribeVolumes(ctx, in, o...)
}

func TestRollKilledAfterEachCallResumes(t *testing.T) {
	// An uninterrupted roll's call count bounds the kill points.
	var total int
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, 3, nil)
		w.newVersion()
		before := w.e.CountCalls("")
		if _, err := Run(w.ctx, w.config(w.e.AutoScaling(), w.e.EC2())); err != nil {
			t.Fatal(err)
		}
		total = w.e.CountCalls("") - before
	})
	for k := 1; k <= total; k++ {
		synctest.Test(t, func(t *testing.T) {
			w := newWorld(t, 3, nil)
			w.newVersion()
			ctx, cancel := context.WithCancel(w.ctx)
			calls := 0
			ka := &killAfter{AutoScaling: w.e.AutoScaling(), k: k, calls: &calls, cancel: cancel}
			_, err := Run(ctx, w.config(*ka, killAfterEC2{EC2: w.e.EC2(), k: ka}))
			cancel()
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Fatalf("kill after call %d: %v", k, err)
			}
			if _, err := Run(w.ctx, w.config(w.e.AutoScaling(), w.e.EC2())); err != nil {
				t.Fatalf("re-run after a kill after call %d: %v", k, err)
			}
			if got := w.terminations(); strings.Join(got, " ") != "00 01 02" {
				t.Fatalf("kill after call %d: terminated %v; want each node exactly once", k, got)
			}
		})
	}
	t.Logf("killed and resumed at each of %d calls", total)
}

func TestRollUnderStaleReads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, 3, nil)
		w.newVersion()
		w.e.SetStaleReads(5 * time.Second)
		lowest := w.monitor()
		res, err := Run(w.ctx, w.config(w.e.AutoScaling(), w.e.EC2()))
		if err != nil {
			t.Fatal(err)
		}
		w.e.SetStaleReads(0)
		if got := w.terminations(); strings.Join(got, " ") != "00 01 02" || len(res.Replaced) != 3 {
			t.Fatalf("terminated %v; want each node once, in order", got)
		}
		if low := lowest(); low < 2 {
			t.Fatalf("%d of 3 nodes in service at one point", low)
		}
	})
}

func TestANodeLostDuringThePreCheckStopsTheRoll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, 3, sim.Sequence(sim.AgentAfter(bootTime), sim.AgentAfter(bootTime), sim.AgentAfter(bootTime), sim.Hang()))
		w.newVersion()
		cfg := w.config(w.e.AutoScaling(), w.e.EC2())
		calls := 0
		// The pre-check fails for a minute (four tries, 15s apart); node 02
		// is lost at the first and its group notices within 30s.
		cfg.PreCheck = func(context.Context, cluster.Node) error {
			calls++
			if calls == 1 {
				id, _ := w.e.InstanceByIP(w.nodes[2].IP)
				_ = w.e.LoseInstance(id)
			}
			if calls < 5 {
				return errors.New("not yet")
			}
			return nil
		}
		_, err := Run(w.ctx, cfg)
		f, ok := IsFailure(err)
		if !ok || f.Kind != NodeLost || f.Node != "02" {
			t.Fatalf("err %v; want a stop because node 02 left service during the pre-check", err)
		}
		if got := w.terminations(); len(got) != 0 {
			t.Fatalf("terminated %v; want nothing", got)
		}
		time.Sleep(30 * time.Minute)
	})
}

// A pre-check that never returns is stopped after CheckTimeout and counts
// as a failed attempt: the roll ends with a pre-check failure at its
// timeout, nothing terminated, instead of hanging forever.
func TestAHungPreCheckDoesNotHangTheRoll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, 3, sim.Sequence(sim.AgentAfter(bootTime), sim.AgentAfter(bootTime), sim.AgentAfter(bootTime)))
		w.newVersion()
		cfg := w.config(w.e.AutoScaling(), w.e.EC2())
		cfg.CheckTimeout = 30 * time.Second
		attempts := 0
		cfg.PreCheck = func(ctx context.Context, _ cluster.Node) error {
			attempts++
			<-ctx.Done() // hangs until stopped
			return ctx.Err()
		}
		_, err := Run(w.ctx, cfg)
		f, ok := IsFailure(err)
		if !ok || f.Kind != PreCheck || !strings.Contains(f.Detail, "still running after 30s") {
			t.Fatalf("err %v; want a pre-check failure after the hung attempts were stopped", err)
		}
		if attempts < 2 || len(w.terminations()) != 0 {
			t.Fatalf("%d attempts, terminations %v; want several attempts and nothing terminated", attempts, w.terminations())
		}
	})
}

// A terminate call that is throttled is retried only after a fresh look at
// the whole cluster: node 02 lost during the throttled call stops the roll
// before node 00 is terminated (1 of 3 would have been left in service).
func TestATerminateRetryLooksAtTheWholeCluster(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, 3, sim.Sequence(sim.AgentAfter(bootTime), sim.AgentAfter(bootTime), sim.AgentAfter(bootTime), sim.Hang()))
		w.newVersion()
		as := onTerminate(w.e.AutoScaling(), func(_ context.Context, call int, _ string) error {
			if call == 1 { // throttled, while node 02's instance is lost
				id, _ := w.e.InstanceByIP(w.nodes[2].IP)
				_ = w.e.LoseInstance(id)
				return &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded"}
			}
			return nil
		})
		cfg := w.config(as, w.e.EC2())
		_, err := Run(w.ctx, cfg)
		f, ok := IsFailure(err)
		if !ok || f.Kind != NodeLost || f.Node != "02" {
			t.Fatalf("err %v; want a stop because node 02 left service while the terminate was retried", err)
		}
		if got := w.terminations(); len(got) != 0 {
			t.Fatalf("terminated %v; want nothing", got)
		}
	})
}

// An instance terminated through EC2 stays InService and Healthy in its
// group until the next health check (about 30 s): the roll joins EC2's
// view and starts nothing while that node is out.
func TestTheRollTrustsEC2sViewToo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, 3, nil)
		w.newVersion()
		id, _ := w.e.InstanceByIP(w.nodes[2].IP)
		if _, err := w.e.EC2().TerminateInstances(w.ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
			t.Fatal(err)
		}
		othersServe := onTerminate(w.e.AutoScaling(), func(_ context.Context, _ int, target string) error {
			for _, n := range w.nodes {
				for _, m := range w.e.Members(n.Group) {
					if m.ID != target && m.State != "running" {
						t.Errorf("terminating %s while node %s's instance %s is %s in EC2", target, n.ID, m.ID, m.State)
					}
				}
			}
			return nil
		})
		if _, err := Run(w.ctx, w.config(othersServe, w.e.EC2())); err != nil {
			t.Fatalf("roll: %v", err)
		}
	})
}

// The roll pins the node set it started with: a group that loses its
// cluster tag mid-roll stops the roll (at the next whole-cluster read)
// instead of silently leaving the count; a node id claimed by two groups
// is refused before anything is terminated.
func TestTheRollPinsItsNodeSet(t *testing.T) {
	t.Run("a group leaves the cluster", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			w := newWorld(t, 3, nil)
			w.newVersion()
			untag := onTerminate(w.e.AutoScaling(), func(ctx context.Context, call int, _ string) error {
				if call == 1 { // node 02's group loses its cluster tag
					_, err := w.e.AutoScaling().DeleteTags(ctx, &autoscaling.DeleteTagsInput{Tags: []astypes.Tag{{ResourceId: aws.String(w.nodes[2].Group),
						ResourceType: aws.String("auto-scaling-group"), Key: aws.String(cluster.TagCluster)}}})
					return err
				}
				return nil
			})
			cfg := w.config(untag, w.e.EC2())
			cfg.Poll = Poll{Check: 5 * time.Second}
			_, err := Run(w.ctx, cfg)
			f, ok := IsFailure(err)
			if !ok || f.Kind != NodeLost || f.Node != "02" || !strings.Contains(f.Detail, "left the cluster") {
				t.Fatalf("err %v; want a stop naming node 02's group", err)
			}
			if got := w.terminations(); len(got) != 1 {
				t.Fatalf("terminated %v; want only the first node", got)
			}
		})
	})
	t.Run("two groups claim one node id", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			w := newWorld(t, 3, nil)
			w.newVersion()
			if _, err := w.e.AutoScaling().CreateAutoScalingGroup(w.ctx, &autoscaling.CreateAutoScalingGroupInput{AutoScalingGroupName: aws.String("copy-of-01"),
				MinSize: aws.Int32(0), MaxSize: aws.Int32(1), DesiredCapacity: aws.Int32(0), AvailabilityZones: []string{w.nodes[1].AZ},
				LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(w.nodes[1].LaunchTemplateID), Version: aws.String("$Latest")},
				Tags:           []astypes.Tag{{Key: aws.String(cluster.TagCluster), Value: aws.String("c")}, {Key: aws.String(cluster.TagNodeID), Value: aws.String("01")}}}); err != nil {
				t.Fatal(err)
			}
			_, err := Run(w.ctx, w.config(w.e.AutoScaling(), w.e.EC2()))
			f, ok := IsFailure(err)
			if !ok || f.Kind != Refused || !strings.Contains(f.Detail, "node id 01 is claimed by 2 groups") {
				t.Fatalf("err %v; want a refusal naming both groups of node 01", err)
			}
			if got := w.terminations(); len(got) != 0 {
				t.Fatalf("terminated %v; want nothing", got)
			}
		})
	})
}

// A version made during the roll ($Latest moves) does not end in "done"
// on the old one: targets are resolved again before the roll says so.
func TestAVersionMadeMidRollIsNotReportedDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, 3, nil)
		w.newVersion()
		moveVersion := onTerminate(w.e.AutoScaling(), func(ctx context.Context, call int, _ string) error {
			if call == 3 { // a new version of node 00, replaced already
				simtest.NewVersion(t, ctx, w.e, w.nodes[:1])
			}
			return nil
		})
		_, err := Run(w.ctx, w.config(moveVersion, w.e.EC2()))
		f, ok := IsFailure(err)
		if !ok || f.Kind != WrongVersion {
			t.Fatalf("err %v; want a stop saying the version moved during the roll", err)
		}
	})
}

// onTerminate calls before(ctx, n, instance) ahead of the n-th
// TerminateInstanceInAutoScalingGroup (from 1): a fault or a change of the
// world at that moment. An error from before is the call's answer.
func onTerminate(as awsapi.AutoScaling, before func(ctx context.Context, call int, instance string) error) awsapi.AutoScaling {
	return &terminateHook{AutoScaling: as, before: before}
}

type terminateHook struct {
	awsapi.AutoScaling
	before func(context.Context, int, string) error
	calls  int
}

func (h *terminateHook) TerminateInstanceInAutoScalingGroup(ctx context.Context, in *autoscaling.TerminateInstanceInAutoScalingGroupInput, opts ...func(*autoscaling.Options)) (*autoscaling.TerminateInstanceInAutoScalingGroupOutput, error) {
	h.calls++
	if err := h.before(ctx, h.calls, aws.ToString(in.InstanceId)); err != nil {
		return nil, err
	}
	return h.AutoScaling.TerminateInstanceInAutoScalingGroup(ctx, in, opts...)
}
