package agent

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/stateful-aws/stateful/internal/blockdev"
	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/cluster"
	"github.com/stateful-aws/stateful/internal/sim"
	"github.com/stateful-aws/stateful/internal/sim/simtest"
)

// fakeDisk stands in for the OS: a device appears once the simulator has
// the volume attached to the instance.
type fakeDisk struct {
	e        *sim.Engine
	instance string
	mu       *sync.Mutex
	formats  map[string]int // formats per volume, shared by every instance
	releases *int
	// busy makes Release fail as umount does with "target is busy".
	busy bool
}

func (f fakeDisk) Find(vol, _ string, _ int64) (string, error) {
	if inst, state := f.e.Attachment(vol); inst == f.instance && state == "attached" {
		return "/dev/nvme1n1", nil
	}
	return "", blockdev.ErrNotFound
}

func (f fakeDisk) Prepare(_ context.Context, _ string, want Stamp, _ Volume) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.formats[want.VolumeID]++
	return f.formats[want.VolumeID] == 1, nil
}

func (f fakeDisk) Release(_ context.Context, mountPath, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	*f.releases++
	if f.busy {
		return fmt.Errorf("umount %s: exit status 32: target is busy", mountPath)
	}
	return nil
}

// harness boots every simulated instance with the real agent (fake disk
// and shell) inside a synctest bubble.
type harness struct {
	t        *testing.T
	e        *sim.Engine
	nodes    []sim.NodeSpec
	ctx      context.Context
	mu       sync.Mutex
	formats  map[string]int
	releases int
	results  map[string]error // bootstrap result per instance
	logs     bytes.Buffer
	shell    func(instance string) Shell
	drain    bool
	busy     bool // every unmount fails
	// heartbeats of the launch and termination hooks (default 60s each)
	heartbeat, drainHeartbeat int
}

func newHarness(t *testing.T, nodes int, tune func(*sim.Timings), shell func(instance string) Shell) *harness {
	t.Helper()
	h := &harness{t: t, formats: map[string]int{}, results: map[string]error{}, shell: shell}
	tm := sim.DefaultTimings()
	if tune != nil {
		tune(&tm)
	}
	h.e, h.ctx = simtest.Start(t, sim.Config{Clock: clock.Real{}, Seed: 3, Timings: tm, Boot: h.boot})
	return h
}

func (h *harness) provision(n int, hookTimeout int32) {
	h.nodes = simtest.Cluster(h.t, h.ctx, h.e, sim.ClusterSpec{Name: "c", Nodes: n, HookTimeout: hookTimeout})
}

func (h *harness) config(n sim.NodeSpec) *Config {
	c := &Config{Version: 1, Cluster: "c", NodeID: n.ID, NodeIP: n.IP, Region: "us-east-1", ASGName: n.Group, LaunchHook: n.LaunchHook,
		Volume: Volume{MountPath: "/data", FileSystem: "xfs"}, Script: Script{InlineBase64: "Cg=="},
		Timeouts: Timeouts{Heartbeat: cmp.Or(h.heartbeat, 60), DrainHeartbeat: cmp.Or(h.drainHeartbeat, 60)}}
	if h.drain {
		c.TerminateHook = cluster.DrainHookName(c.Cluster)
	}
	if err := c.Validate(); err != nil {
		h.t.Fatal(err)
	}
	return c
}

func (h *harness) boot(e *sim.Engine, inst sim.Instance) {
	var node sim.NodeSpec
	for _, n := range h.nodes {
		if n.Group == inst.Group {
			node = n
		}
	}
	cfg := h.config(node)
	var a *Agent
	d := Deps{EC2: e.EC2(), AutoScaling: e.AutoScaling(), IMDS: sim.IMDS{Engine: e, InstanceID: inst.ID}, Clock: clock.Real{},
		Logger: slog.New(slog.NewJSONHandler(&syncWriter{w: &h.logs, mu: &h.mu}, nil)), StateDir: h.t.TempDir(),
		Disk: fakeDisk{e: e, instance: inst.ID, mu: &h.mu, formats: h.formats, releases: &h.releases, busy: h.busy}, Shell: h.shell(inst.ID)}
	d.StartDrain = func() error {
		go func() { _ = a.Drain(h.ctx) }()
		return nil
	}
	var err error
	a, err = New(cfg, d)
	if err != nil {
		h.t.Fatal(err)
	}
	go func() {
		err := a.Bootstrap(h.ctx)
		h.mu.Lock()
		h.results[inst.ID] = err
		h.mu.Unlock()
	}()
}

type syncWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (h *harness) log() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.logs.String()
}

// healthWait is a node script whose health wait takes d of virtual time.
func healthWait(d time.Duration, err error) func(string) Shell {
	return func(string) Shell {
		return func(ctx context.Context, r Run) error {
			if strings.Contains(r.Program, "drain_cluster_node") {
				return nil
			}
			if e := clock.Sleep(ctx, clock.Real{}, d); e != nil {
				return e
			}
			return err
		}
	}
}

// terminateWithDrainHook gives the node's group the module's drain hook
// (600 s, CONTINUE), lets the node come into service and terminates its
// instance as a roll does; it returns that instance.
func (h *harness) terminateWithDrainHook(node sim.NodeSpec) string {
	h.t.Helper()
	if _, err := h.e.AutoScaling().PutLifecycleHook(h.ctx, &autoscaling.PutLifecycleHookInput{AutoScalingGroupName: aws.String(node.Group),
		LifecycleHookName: aws.String(cluster.DrainHookName("c")), LifecycleTransition: aws.String(sim.HookTerminating), HeartbeatTimeout: aws.Int32(600), DefaultResult: aws.String("CONTINUE")}); err != nil {
		h.t.Fatal(err)
	}
	time.Sleep(2 * time.Minute)
	first := h.inService(node)
	if _, err := h.e.AutoScaling().TerminateInstanceInAutoScalingGroup(h.ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
		InstanceId: aws.String(first), ShouldDecrementDesiredCapacity: aws.Bool(false)}); err != nil {
		h.t.Fatal(err)
	}
	return first
}

func (h *harness) inService(node sim.NodeSpec) string {
	m := h.e.Members(node.Group)
	if len(m) == 1 && m[0].Lifecycle == "InService" {
		return m[0].ID
	}
	return ""
}

func TestHeartbeatsAtTheConfiguredCadenceDuringALongHealthWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 1, nil, healthWait(10*time.Minute, nil))
		h.provision(1, 300) // the hook alone would time out after 5 minutes
		time.Sleep(15 * time.Minute)
		if h.inService(h.nodes[0]) == "" {
			t.Fatalf("node not in service after a 10-minute health wait with heartbeats:\n%s", h.log())
		}
		var beats []time.Time
		for _, c := range h.e.Calls() {
			if c.Operation == "RecordLifecycleActionHeartbeat" && c.ErrorCode == "" {
				beats = append(beats, c.At)
			}
		}
		if len(beats) < 9 || len(beats) > 11 {
			t.Fatalf("%d heartbeats during 10 minutes at a 60s cadence", len(beats))
		}
		for i := 1; i < len(beats); i++ {
			if gap := beats[i].Sub(beats[i-1]); gap != time.Minute {
				t.Fatalf("heartbeat gap %v, want 1m", gap)
			}
		}
		if n := h.e.CountCalls("CompleteLifecycleAction"); n != 1 {
			t.Fatalf("%d completions, want 1", n)
		}
	})
}

func TestFailureAbandonsWithinSeconds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		failed := errors.New("exit status 3")
		h := newHarness(t, 1, nil, healthWait(20*time.Second, failed))
		h.provision(1, 3600)
		time.Sleep(90 * time.Second)
		var failAt, abandonAt time.Time
		var abandoned string
		for _, c := range h.e.Calls() {
			if c.Operation == "CompleteLifecycleAction" {
				if in := c.Input.(*autoscaling.CompleteLifecycleActionInput); *in.LifecycleActionResult == "ABANDON" && abandonAt.IsZero() {
					abandonAt, abandoned = c.At, *in.InstanceId
				}
			}
		}
		// The summary is left on the instance for the operator's commands.
		res, err := h.e.EC2().DescribeInstances(h.ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{abandoned}})
		if err != nil {
			t.Fatal(err)
		}
		var report string
		for _, tag := range res.Reservations[0].Instances[0].Tags {
			if *tag.Key == cluster.TagBootstrapFailure {
				report = *tag.Value
			}
		}
		if report != "node-script: the node script failed: exit status 3" {
			t.Fatalf("failure tag on %s: %q", abandoned, report)
		}
		h.mu.Lock()
		for _, err := range h.results {
			var se *StepError
			if errors.As(err, &se) && se.Step == "node-script" {
				failAt = abandonAt
			}
		}
		h.mu.Unlock()
		if abandonAt.IsZero() || failAt.IsZero() {
			t.Fatalf("no ABANDON after the node script failed:\n%s", h.log())
		}
		// Launched at +2s, running at +12s, script done at +32s: ABANDON
		// follows at once, not after the hour-long hook timeout.
		if took := abandonAt.Sub(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)); took > 40*time.Second {
			t.Fatalf("ABANDON %v after start", took)
		}
		if !strings.Contains(h.log(), `"step":"node-script"`) {
			t.Fatalf("the failed step is not logged:\n%s", h.log())
		}
	})
}

func TestHandOffWaitsForATerminatingPredecessor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 1, func(tm *sim.Timings) { tm.ShutdownDuration = 3 * time.Minute }, healthWait(5*time.Second, nil))
		h.provision(1, 3600)
		time.Sleep(2 * time.Minute)
		node := h.nodes[0]
		first := h.inService(node)
		if inst, state := h.e.Attachment(node.Volume); inst != first || state != "attached" {
			t.Fatalf("the first instance has not claimed the volume: %s %s\n%s", inst, state, h.log())
		}
		// Without a drain hook the volume stays with the old instance until
		// EC2 has terminated it (3 minutes), and the ENI too.
		if _, err := h.e.AutoScaling().TerminateInstanceInAutoScalingGroup(h.ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
			InstanceId: aws.String(first), ShouldDecrementDesiredCapacity: aws.Bool(false)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(15 * time.Minute)
		second := h.inService(node)
		if second == "" || second == first {
			t.Fatalf("no replacement in service:\n%s", h.log())
		}
		if inst, _ := h.e.Attachment(node.Volume); inst != second {
			t.Fatalf("volume attached to %s, want the replacement %s", inst, second)
		}
		h.mu.Lock()
		formats := h.formats[node.Volume]
		h.mu.Unlock()
		if formats != 2 { // two prepares, of which only the first formats
			t.Fatalf("%d prepares of the volume, want 2", formats)
		}
	})
}

func TestRefusesAVolumeHeldByAnotherRunningInstance(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 4, nil, healthWait(5*time.Second, nil))
		h.provision(4, 3600)
		time.Sleep(2 * time.Minute)
		// Node 03's volume is taken by node 00's instance (same AZ) by
		// mistake; then node 03 is replaced.
		n0, n1 := h.nodes[0], h.nodes[3]
		i0, i1 := h.inService(n0), h.inService(n1)
		if _, err := h.e.EC2().DetachVolume(h.ctx, &ec2.DetachVolumeInput{VolumeId: aws.String(n1.Volume)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		if _, err := h.e.EC2().AttachVolume(h.ctx, &ec2.AttachVolumeInput{VolumeId: aws.String(n1.Volume), InstanceId: aws.String(i0), Device: aws.String("/dev/sdg")}); err != nil {
			t.Fatal(err)
		}
		if _, err := h.e.AutoScaling().TerminateInstanceInAutoScalingGroup(h.ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
			InstanceId: aws.String(i1), ShouldDecrementDesiredCapacity: aws.Bool(false)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Minute)
		if inst, _ := h.e.Attachment(n1.Volume); inst != i0 {
			t.Fatalf("the volume moved to %s; it must stay with the running instance %s", inst, i0)
		}
		var refused bool
		h.mu.Lock()
		for _, err := range h.results {
			if errors.Is(err, ErrRefused) && strings.Contains(err.Error(), i0) {
				refused = true
			}
		}
		h.mu.Unlock()
		if !refused {
			t.Fatalf("no agent refused naming %s:\n%s", i0, h.log())
		}
		if n := h.e.CountCalls("DetachVolume"); n != 1 {
			t.Fatalf("%d DetachVolume calls; the agent must never detach another instance's volume", n)
		}
	})
}

func TestDrainReleasesTheVolumeForTheReplacement(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// EC2 releases a terminated instance's volumes slowly (10 minutes
		// here); the drain detaches it before the instance is gone.
		h := newHarness(t, 1, func(tm *sim.Timings) {
			tm.ShutdownDuration = 2 * time.Minute
			tm.VolumeReleaseDelay = 10 * time.Minute
		}, healthWait(5*time.Second, nil))
		h.drain = true
		h.provision(1, 3600)
		node := h.nodes[0]
		first := h.terminateWithDrainHook(node)
		start := time.Now()
		for time.Since(start) < 20*time.Minute {
			time.Sleep(time.Second)
			if inst, state := h.e.Attachment(node.Volume); inst != "" && inst != first && state == "attached" {
				break
			}
		}
		took := time.Since(start)
		inst, _ := h.e.Attachment(node.Volume)
		if inst == first || inst == "" {
			t.Fatalf("the replacement never claimed the volume:\n%s", h.log())
		}
		// The replacement launches once the ENI is free (about 2 minutes)
		// and finds the volume already released.
		if took > 4*time.Minute {
			t.Fatalf("the replacement claimed the volume %v after the termination began; the drain should release it at once", took)
		}
		h.mu.Lock()
		releases := h.releases
		h.mu.Unlock()
		if releases != 1 || h.e.CountCalls("DetachVolume") != 1 {
			t.Fatalf("releases %d, detaches %d; want one each", releases, h.e.CountCalls("DetachVolume"))
		}
		time.Sleep(15 * time.Minute)
	})
}

// A volume that cannot be unmounted is left attached: the drain completes
// the hook without a DetachVolume, and the replacement gets the volume when
// EC2 releases it after the shutdown.
func TestDrainNeverDetachesAVolumeStillMounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 1, func(tm *sim.Timings) { tm.ShutdownDuration = 2 * time.Minute }, healthWait(5*time.Second, nil))
		h.drain, h.busy = true, true
		h.provision(1, 3600)
		node := h.nodes[0]
		first := h.terminateWithDrainHook(node)
		time.Sleep(30 * time.Minute)
		if n := h.e.CountCalls("DetachVolume"); n != 0 {
			t.Fatalf("%d DetachVolume calls for a volume that could not be unmounted", n)
		}
		if inst, state := h.e.Attachment(node.Volume); inst == first || state != "attached" {
			t.Fatalf("the volume is %s to %s; want the replacement to have it once EC2 freed it:\n%s", state, inst, h.log())
		}
		completed := 0
		for _, c := range h.e.Calls() {
			if in, ok := c.Input.(*autoscaling.CompleteLifecycleActionInput); ok && c.ErrorCode == "" && *in.InstanceId == first && *in.LifecycleHookName == cluster.DrainHookName("c") {
				completed++
			}
		}
		if completed != 1 {
			t.Fatalf("the drain hook of %s was completed %d times; want once (CONTINUE, so EC2 shuts the instance down)", first, completed)
		}
	})
}

// With the module's defaults (launch hook 3600 s, so heartbeats every
// 1200 s; termination hook 600 s, heartbeats every 200 s), a drain that
// takes 12 minutes keeps its hook alive and finishes: unmount, detach,
// CONTINUE. One interval for both hooks let the termination hook time out
// at 10 minutes, before the volume was released.
func TestALongDrainHeartbeatsItsOwnHook(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		slowDrain := func(string) Shell {
			return func(ctx context.Context, r Run) error {
				d := 5 * time.Second
				if strings.Contains(r.Program, "drain_cluster_node") {
					d = 12 * time.Minute
				}
				return clock.Sleep(ctx, clock.Real{}, d)
			}
		}
		h := newHarness(t, 1, nil, slowDrain)
		h.drain, h.heartbeat, h.drainHeartbeat = true, 1200, 200
		h.provision(1, 3600)
		node := h.nodes[0]
		first := h.terminateWithDrainHook(node)
		time.Sleep(20 * time.Minute)
		completed := 0
		for _, c := range h.e.Calls() {
			if in, ok := c.Input.(*autoscaling.CompleteLifecycleActionInput); ok && c.ErrorCode == "" && *in.InstanceId == first && *in.LifecycleHookName == cluster.DrainHookName("c") {
				completed++
			}
		}
		if completed != 1 || h.e.CountCalls("DetachVolume") != 1 {
			t.Fatalf("drain hook completed %d times, %d detaches; want the drain to finish (once each) before its hook times out:\n%s", completed, h.e.CountCalls("DetachVolume"), h.log())
		}
	})
}

// The end of bootstrap: a node that finishes before its launch hook's wait
// has begun, or that meets a run of server errors on CONTINUE (the SDK
// retries network errors alike), still completes its hook rather than
// leaving itself to be abandoned at the hook's timeout.
func TestContinueWaitsForTheHookAndRidesOutErrors(t *testing.T) {
	for name, c := range map[string]struct {
		tune   func(*sim.Timings)
		faults []sim.Fault
	}{
		"hook not active yet": {tune: func(tm *sim.Timings) { tm.HookWaitDelay = 30 * time.Second }},
		"errors on CONTINUE": {faults: []sim.Fault{{Operation: "CompleteLifecycleAction", Count: 15, Code: "InternalError",
			Message: "We encountered an internal error."}}},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, 1, c.tune, healthWait(time.Second, nil))
				h.e.AddFaults(c.faults...)
				h.provision(1, 600)
				time.Sleep(5 * time.Minute)
				first := h.inService(h.nodes[0])
				if first == "" {
					t.Fatalf("the node is not in service:\n%s", h.log())
				}
				time.Sleep(20 * time.Minute) // past the hook's timeout
				if id := h.inService(h.nodes[0]); id != first {
					t.Fatalf("the node was abandoned or replaced (%s, then %q):\n%s", first, id, h.log())
				}
			})
		})
	}
}

func TestARerunAfterRebootIsNotAnError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 1, nil, healthWait(5*time.Second, nil))
		h.provision(1, 3600)
		time.Sleep(2 * time.Minute)
		node := h.nodes[0]
		id := h.inService(node)
		if id == "" {
			t.Fatalf("not in service:\n%s", h.log())
		}
		// The same instance boots again and runs the agent again.
		a, err := New(h.config(node), Deps{EC2: h.e.EC2(), AutoScaling: h.e.AutoScaling(), IMDS: sim.IMDS{Engine: h.e, InstanceID: id},
			Clock: clock.Real{}, StateDir: t.TempDir(), Shell: healthWait(time.Second, nil)(id),
			Disk: fakeDisk{e: h.e, instance: id, mu: &h.mu, formats: h.formats, releases: &h.releases}})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Bootstrap(h.ctx); err != nil {
			t.Fatalf("re-run: %v", err)
		}
		if h.inService(node) != id || h.e.CountCalls("AttachVolume") != 1 {
			t.Fatalf("the re-run changed the node: in service %q, %d attaches", h.inService(node), h.e.CountCalls("AttachVolume"))
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.formats[node.Volume] != 2 { // prepared twice, formatted once (fakeDisk)
			t.Fatalf("prepares %d", h.formats[node.Volume])
		}
	})
}
