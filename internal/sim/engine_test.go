package sim

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/clock"
)

var (
	_ awsapi.AutoScaling = (*AutoScalingAPI)(nil)
	_ awsapi.EC2         = (*EC2API)(nil)
	_ awsapi.IMDS        = IMDS{}
)

// world is a running engine with a provisioned cluster, inside a synctest
// bubble: time only moves when every goroutine waits.
type testWorld struct {
	t     *testing.T
	e     *Engine
	as    *AutoScalingAPI
	ec    *EC2API
	nodes []NodeSpec
	ctx   context.Context
}

func startWorld(t *testing.T, nodes int, hookTimeout int32, boot BootFunc, tune func(*Timings)) *testWorld {
	t.Helper()
	tm := DefaultTimings()
	if tune != nil {
		tune(&tm)
	}
	e, err := New(Config{Clock: clock.Real{}, Seed: 1, Timings: tm, Boot: boot})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	w := &testWorld{t: t, e: e, as: e.AutoScaling(), ec: e.EC2(), ctx: ctx}
	if nodes > 0 {
		w.nodes, err = Provision(ctx, w.as, w.ec, e.Region(), ClusterSpec{Name: "test", Nodes: nodes, HookTimeout: hookTimeout})
		if err != nil {
			t.Fatal(err)
		}
	}
	return w
}

func (w *testWorld) group(name string) astypes.AutoScalingGroup {
	w.t.Helper()
	out, err := w.as.DescribeAutoScalingGroups(w.ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})
	if err != nil || len(out.AutoScalingGroups) != 1 {
		w.t.Fatalf("describing group %s: %v (%d groups)", name, err, len(out.AutoScalingGroups))
	}
	return out.AutoScalingGroups[0]
}

func (w *testWorld) activities(name string) []astypes.Activity {
	w.t.Helper()
	out, err := w.as.DescribeScalingActivities(w.ctx, &autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: aws.String(name)})
	if err != nil {
		w.t.Fatal(err)
	}
	return out.Activities
}

func inService(g astypes.AutoScalingGroup) (string, bool) {
	if len(g.Instances) == 1 && g.Instances[0].LifecycleState == astypes.LifecycleStateInService {
		return *g.Instances[0].InstanceId, true
	}
	return "", false
}

func TestClusterReachesInServiceThroughLaunchHooks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := startWorld(t, 3, 600, ContinueAfter(40*time.Second), nil)
		time.Sleep(30 * time.Second)
		for _, n := range w.nodes {
			g := w.group(n.Group)
			if len(g.Instances) != 1 || g.Instances[0].LifecycleState != astypes.LifecycleStatePendingWait {
				t.Fatalf("node %s at +30s: want one instance in Pending:Wait, got %+v", n.ID, g.Instances)
			}
		}
		time.Sleep(time.Minute)
		for _, n := range w.nodes {
			g := w.group(n.Group)
			id, ok := inService(g)
			if !ok || *g.Instances[0].LaunchTemplate.Version != "1" || *g.Instances[0].HealthStatus != "Healthy" {
				t.Fatalf("node %s at +90s: want one healthy instance InService on version 1, got %+v", n.ID, g.Instances)
			}
			ip, _ := w.e.Metadata(id, "meta-data/local-ipv4")
			if ip != n.IP {
				t.Errorf("node %s: instance IP %q, want the ENI's %q", n.ID, ip, n.IP)
			}
			acts := w.activities(n.Group)
			if len(acts) != 1 || acts[0].StatusCode != astypes.ScalingActivityStatusCodeSuccessful || !strings.Contains(*acts[0].Cause, "increasing the capacity from 0 to 1") {
				t.Errorf("node %s: want one successful launch activity, got %+v", n.ID, acts)
			}
		}
	})
}

func TestHookTimeoutAbandonsAndReplaces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := startWorld(t, 1, 60, Sequence(Hang(), ContinueAfter(10*time.Second)), nil)
		time.Sleep(30 * time.Second)
		first := *w.group(w.nodes[0].Group).Instances[0].InstanceId
		time.Sleep(5 * time.Minute)
		g := w.group(w.nodes[0].Group)
		id, ok := inService(g)
		if !ok || id == first {
			t.Fatalf("want a replacement InService after the hook timed out, got %+v", g.Instances)
		}
		var cancelled bool
		for _, a := range w.activities(w.nodes[0].Group) {
			if a.StatusCode == astypes.ScalingActivityStatusCodeCancelled &&
				strings.Contains(*a.StatusMessage, "Instance failed to complete user's Lifecycle Action") &&
				strings.Contains(*a.Description, first) {
				cancelled = true
			}
		}
		if !cancelled {
			t.Fatalf("no Cancelled launch activity for %s: %+v", first, w.activities(w.nodes[0].Group))
		}
	})
}

func TestLaunchBlockedOnBusyENIRetriesUntilReleased(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := startWorld(t, 1, 600, ContinueAfter(5*time.Second), func(tm *Timings) {
			tm.ShutdownDuration = 90 * time.Second
			tm.ENIReleaseDelay = 5 * time.Second
		})
		time.Sleep(time.Minute)
		node := w.nodes[0]
		old, ok := inService(w.group(node.Group))
		if !ok {
			t.Fatal("node not InService")
		}
		if _, err := w.as.TerminateInstanceInAutoScalingGroup(w.ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
			InstanceId: aws.String(old), ShouldDecrementDesiredCapacity: aws.Bool(false)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(60 * time.Second)
		var failed int
		for _, a := range w.activities(node.Group) {
			if a.StatusCode == astypes.ScalingActivityStatusCodeFailed {
				failed++
				if want := "Interface: [" + node.ENI + "] in use. Launching EC2 instance failed."; *a.StatusMessage != want {
					t.Errorf("failed launch message %q, want %q", *a.StatusMessage, want)
				}
			}
		}
		if failed < 2 {
			t.Fatalf("want repeated failed launches while the ENI is held, got %d", failed)
		}
		time.Sleep(5 * time.Minute)
		id, ok := inService(w.group(node.Group))
		if !ok || id == old {
			t.Fatalf("want a new instance InService once the ENI was released, got %q", id)
		}
		ip, _ := w.e.Metadata(id, "meta-data/local-ipv4")
		if ip != node.IP {
			t.Fatalf("replacement has IP %q, want %q", ip, node.IP)
		}
	})
}

func TestHeartbeatsExtendWaitUpToGlobalTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Heartbeat timeout 30s: global timeout 3000s.
		keepAlive := func(e *Engine, inst Instance) {
			var beat func()
			beat = func() {
				if i := e.w.instances[inst.ID]; i != nil && i.Action != nil {
					e.heartbeat(i)
					e.after(20*time.Second, beat)
				}
			}
			e.At(inst.Booted.Add(20*time.Second), beat)
		}
		w := startWorld(t, 1, 30, Sequence(keepAlive, Hang()), nil)
		time.Sleep(30 * time.Second)
		g := w.group(w.nodes[0].Group)
		first := *g.Instances[0].InstanceId
		hooks, err := w.as.DescribeLifecycleHooks(w.ctx, &autoscaling.DescribeLifecycleHooksInput{AutoScalingGroupName: g.AutoScalingGroupName})
		if err != nil || *hooks.LifecycleHooks[0].GlobalTimeout != 3000 {
			t.Fatalf("global timeout: %v %+v", err, hooks)
		}
		time.Sleep(2900 * time.Second) // +2930s: still held by heartbeats
		if g := w.group(w.nodes[0].Group); *g.Instances[0].InstanceId != first || g.Instances[0].LifecycleState != astypes.LifecycleStatePendingWait {
			t.Fatalf("at +2930s want %s still in Pending:Wait, got %+v", first, g.Instances)
		}
		time.Sleep(120 * time.Second) // past the global timeout
		for _, i := range w.group(w.nodes[0].Group).Instances {
			if *i.InstanceId == first && !strings.HasPrefix(string(i.LifecycleState), "Terminat") {
				t.Fatalf("past the global timeout %s is %s, want it abandoned", first, i.LifecycleState)
			}
		}
	})
}

func TestTerminationReleasesVolumeAndENIAfterDelays(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := startWorld(t, 1, 600, ContinueAfter(time.Second), func(tm *Timings) {
			tm.ShutdownDuration = 30 * time.Second
			tm.ENIReleaseDelay, tm.ENIReleaseSpread = 7*time.Second, 0
			tm.VolumeReleaseDelay = 11 * time.Second
		})
		time.Sleep(time.Minute)
		node := w.nodes[0]
		id, _ := inService(w.group(node.Group))
		if _, err := w.ec.AttachVolume(w.ctx, &ec2.AttachVolumeInput{VolumeId: aws.String(node.Volume), InstanceId: aws.String(id), Device: aws.String("/dev/sdf")}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		if _, err := w.ec.TerminateInstances(w.ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
			t.Fatal(err)
		}
		vol := func() (string, string) {
			out, err := w.ec.DescribeVolumes(w.ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{node.Volume}})
			if err != nil {
				t.Fatal(err)
			}
			v := out.Volumes[0]
			if len(v.Attachments) == 0 {
				return string(v.State), ""
			}
			return string(v.State), string(v.Attachments[0].State)
		}
		eni := func() string {
			out, err := w.ec.DescribeNetworkInterfaces(w.ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{node.ENI}})
			if err != nil {
				t.Fatal(err)
			}
			return string(out.NetworkInterfaces[0].Status)
		}
		time.Sleep(29 * time.Second)
		if s, a := vol(); s != "in-use" || a != "attached" || eni() != "in-use" {
			t.Fatalf("while shutting down: volume %s/%s, ENI %s", s, a, eni())
		}
		time.Sleep(2 * time.Second) // terminated at +30s
		if s, a := vol(); s != "in-use" || a != "detaching" {
			t.Fatalf("just after termination: volume %s/%s, want in-use/detaching", s, a)
		}
		time.Sleep(6 * time.Second) // +37s
		if eni() != "available" {
			t.Fatalf("ENI %s at +7s after termination, want available", eni())
		}
		if s, _ := vol(); s != "in-use" {
			t.Fatalf("volume %s at +7s after termination, want still in-use", s)
		}
		time.Sleep(5 * time.Second) // +42s
		if s, a := vol(); s != "available" || a != "" {
			t.Fatalf("volume %s/%s at +12s after termination, want available", s, a)
		}
	})
}

func TestObserverHearsInstanceAndAttachmentChangesInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var seen []string
		var mu sync.Mutex
		e, err := New(Config{Clock: clock.Real{}, Seed: 1, Timings: DefaultTimings(), Boot: ContinueAfter(time.Second),
			Observe: func(c Change) {
				mu.Lock()
				defer mu.Unlock()
				if c.State != "" {
					seen = append(seen, c.State)
				} else {
					seen = append(seen, c.Attachment)
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() { _ = e.Run(ctx) }()
		nodes, err := Provision(ctx, e.AutoScaling(), e.EC2(), e.Region(), ClusterSpec{Name: "o", Nodes: 1})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		id, _ := e.InstanceByIP(nodes[0].IP)
		if _, err := e.EC2().AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: aws.String(nodes[0].Volume), InstanceId: aws.String(id), Device: aws.String("/dev/sdf")}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		if _, err := e.EC2().TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute + 30*time.Second)
		cancel()
		mu.Lock()
		defer mu.Unlock()
		want := "running attached shutting-down terminated detached"
		if got := strings.Join(seen, " "); !strings.HasPrefix(got, want) {
			t.Fatalf("changes %q, want them to start with %q", got, want)
		}
	})
}

// DetachVolume of a volume still mounted on its instance sticks in busy
// until it is unmounted (AWS-FACTS 4.1), then detaches as usual.
func TestDetachingAMountedVolumeSticksInBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := startWorld(t, 1, 600, ContinueAfter(time.Second), nil)
		var mounted atomic.Bool
		mounted.Store(true)
		w.e.cfg.VolumeMounted = func(string) bool { return mounted.Load() }
		time.Sleep(time.Minute)
		node := w.nodes[0]
		id, _ := inService(w.group(node.Group))
		if _, err := w.ec.AttachVolume(w.ctx, &ec2.AttachVolumeInput{VolumeId: aws.String(node.Volume), InstanceId: aws.String(id), Device: aws.String("/dev/sdf")}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		out, err := w.ec.DetachVolume(w.ctx, &ec2.DetachVolumeInput{VolumeId: aws.String(node.Volume), InstanceId: aws.String(id)})
		if err != nil || out.State != "detaching" {
			t.Fatalf("DetachVolume: %v, %v", out, err)
		}
		state := func() string {
			out, err := w.ec.DescribeVolumes(w.ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{node.Volume}})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Volumes[0].Attachments) == 0 {
				return string(out.Volumes[0].State)
			}
			return string(out.Volumes[0].Attachments[0].State)
		}
		time.Sleep(10 * time.Minute)
		if s := state(); s != "busy" {
			t.Fatalf("a mounted volume's detach is %s after 10 minutes, want busy", s)
		}
		if _, err := w.ec.DetachVolume(w.ctx, &ec2.DetachVolumeInput{VolumeId: aws.String(node.Volume)}); err == nil {
			t.Fatal("a second DetachVolume of a busy volume was accepted")
		}
		mounted.Store(false)
		time.Sleep(time.Minute)
		if s := state(); s != "available" {
			t.Fatalf("after the unmount the volume is %s, want available", s)
		}
	})
}

// The ENI frees up 1 to 10 s after its instance reached terminated, as
// AWS-FACTS §8.2 observes, drawn per termination from the engine's seed:
// the same seed gives the same delays.
func TestENIReleaseDelaysSpreadOverAWSsRange(t *testing.T) {
	delays := func(seed int64) []time.Duration {
		e, err := New(Config{Clock: clock.Real{}, Seed: seed, Timings: DefaultTimings()})
		if err != nil {
			t.Fatal(err)
		}
		var out []time.Duration
		for range 200 {
			out = append(out, e.spread(e.cfg.Timings.ENIReleaseDelay, e.cfg.Timings.ENIReleaseSpread))
		}
		return out
	}
	a, b := delays(7), delays(7)
	lo, hi := a[0], a[0]
	for k, d := range a {
		if d != b[k] {
			t.Fatalf("seed 7 drew %s then %s at draw %d", d, b[k], k)
		}
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo < time.Second || hi >= 10*time.Second || hi-lo < 7*time.Second {
		t.Fatalf("200 delays within [%s, %s], want spread over [1s, 10s)", lo, hi)
	}
}
