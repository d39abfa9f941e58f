package rollout

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"

	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/diagnosis"
	"github.com/stateful-aws/stateful/internal/inventory"
	"github.com/stateful-aws/stateful/internal/sim"
)

// skewed is the runner's clock off AWS's by a fixed amount.
type skewed struct{ by time.Duration }

func (s skewed) Now() time.Time                       { return time.Now().Add(s.by) }
func (s skewed) NewTimer(d time.Duration) clock.Timer { return clock.Real{}.NewTimer(d) }

// withClock is the world's config on the runner's own clock c.
func (w *world) withClock(c clock.Clock, as awsapi.AutoScaling) Config {
	cfg := w.config(as, w.e.EC2())
	inv, err := inventory.New(inventory.Config{AutoScaling: as, EC2: w.e.EC2(), Clock: c})
	if err != nil {
		w.t.Fatal(err)
	}
	cfg.Clock, cfg.Inventory = c, inv
	return cfg
}

// onSuspend throttles the first n SuspendProcesses calls, running before
// at the first.
type onSuspend struct {
	awsapi.AutoScaling
	mu     *sync.Mutex
	n      *int
	before func()
}

func (o onSuspend) SuspendProcesses(ctx context.Context, in *autoscaling.SuspendProcessesInput, opts ...func(*autoscaling.Options)) (*autoscaling.SuspendProcessesOutput, error) {
	o.mu.Lock()
	left := *o.n
	if left > 0 {
		*o.n--
	}
	o.mu.Unlock()
	if left > 0 {
		if o.before != nil && left == 5 {
			o.before()
		}
		return nil, &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded"}
	}
	return o.AutoScaling.SuspendProcesses(ctx, in, opts...)
}

func (w *world) standby(k int) {
	w.t.Helper()
	m := w.e.Members(w.nodes[k].Group)
	if len(m) != 1 {
		w.t.Fatalf("node %s has %d members", w.nodes[k].ID, len(m))
	}
	// As a person must: lower the minimum first (AWS refuses Standby
	// below it).
	if _, err := w.e.AutoScaling().UpdateAutoScalingGroup(w.ctx, &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String(w.nodes[k].Group),
		MinSize: aws.Int32(0)}); err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.e.AutoScaling().EnterStandby(w.ctx, &autoscaling.EnterStandbyInput{AutoScalingGroupName: aws.String(w.nodes[k].Group),
		InstanceIds: []string{m[0].ID}, ShouldDecrementDesiredCapacity: aws.Bool(true)}); err != nil {
		w.t.Fatal(err)
	}
}

// Blind spot 1: the runner's clock ahead of (or behind) AWS's. A node put in
// Standby while the suspend before node 00's termination is throttled must
// stop the roll before anything is terminated, whatever the two clocks say.
func TestAClockOffAWSsMissesNoChange(t *testing.T) {
	for _, by := range []time.Duration{5 * time.Second, 59 * time.Second, -5 * time.Second, -59 * time.Second} {
		t.Run(by.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := newWorld(t, 3, nil)
				w.newVersion()
				n := 5
				as := onSuspend{AutoScaling: w.e.AutoScaling(), mu: &sync.Mutex{}, n: &n, before: func() { w.standby(1) }}
				cfg := w.withClock(skewed{by}, as)
				cfg.Timeout = 2 * time.Minute
				_, err := Run(w.ctx, cfg)
				if got := w.terminations(); len(got) > 0 {
					t.Fatalf("terminated %v while node 01 was in Standby", got)
				}
				if f, ok := IsFailure(err); !ok || f.Kind != NodeLost || f.Node != "01" {
					t.Fatalf("got %v, want the roll stopped at node 01", err)
				}
			})
		})
	}
}

// Blind spot 2: at 102 nodes with reads 5 s stale, a node that leaves
// service after its own replacement stops the roll: no termination starts
// later than a stale read and a poll after it left.
func TestStaleReadsAtScaleMissNoNodeLeaving(t *testing.T) {
	if testing.Short() {
		t.Skip("102 nodes: not in -short")
	}
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, 102, nil)
		w.newVersion()
		w.e.SetStaleReads(5 * time.Second)
		ctx, cancel := context.WithCancel(w.ctx)
		defer cancel()
		var standbyAt time.Time
		done := make(chan struct{})
		go func() {
			defer close(done)
			// Node 00 back on version 2, then a person puts it in Standby.
			for ctx.Err() == nil {
				if m := w.e.Members(w.nodes[0].Group); len(m) == 1 && m[0].Version == 2 && m[0].Lifecycle == "InService" {
					_ = clock.Sleep(ctx, clock.Real{}, 3*time.Second)
					w.standby(0)
					standbyAt = time.Now()
					return
				}
				_ = clock.Sleep(ctx, clock.Real{}, time.Second)
			}
		}()
		cfg := w.config(w.e.AutoScaling(), w.e.EC2())
		cfg.Timeout = 2 * time.Minute
		_, err := Run(ctx, cfg)
		<-done
		if standbyAt.IsZero() {
			t.Fatalf("node 00 was never replaced: %v", err)
		}
		for _, c := range w.e.Calls() {
			if c.Operation == "TerminateInstanceInAutoScalingGroup" && c.ErrorCode == "" && c.At.After(standbyAt.Add(5*time.Second+2*time.Second)) {
				t.Fatalf("terminated %s %s after node 00 entered Standby", *c.Input.(*autoscaling.TerminateInstanceInAutoScalingGroupInput).InstanceId, c.At.Sub(standbyAt))
			}
		}
		if f, ok := IsFailure(err); !ok || f.Kind != NodeLost || f.Node != "00" {
			t.Fatalf("got %v, want the roll stopped at node 00", err)
		}
	})
}

// Blind spot 3: a launch hook completed by anyone but the agent brings no
// node back: without its volume, or with it and no ready mark, node 00's
// replacement is not in service, so node 01 is never terminated.
func TestAHookCompletedBySomeoneElseIsNotInService(t *testing.T) {
	for name, other := range map[string]sim.BootFunc{
		"without the volume":         sim.ContinueAfter(bootTime),
		"with the volume, no marker": sim.ContinueWithVolumeAfter(bootTime),
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ok := sim.AgentAfter(bootTime)
				w := newWorld(t, 3, sim.Sequence(ok, ok, ok, other, sim.Hang()))
				w.newVersion()
				cfg := w.config(w.e.AutoScaling(), w.e.EC2())
				cfg.Timeout = 3 * time.Minute
				_, err := Run(w.ctx, cfg)
				if got := w.terminations(); strings.Join(got, " ") != "00" {
					t.Fatalf("terminated %v, want node 00 only", got)
				}
				var f *Failure
				if !errors.As(err, &f) || f.Kind != Timeout || f.Node != "00" {
					t.Fatalf("got %v, want a timeout at node 00", err)
				}
			})
		})
	}
}

// Issue 20, item 1: groups named alone stand for their whole cluster.
// With node 02's instance stopped in EC2 (still InService in its group), a
// roll of node 01's group alone counts node 02 and terminates nothing.
func TestGroupsNamedAloneCountTheWholeCluster(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, 3, nil)
		w.newVersion()
		m := w.e.Members(w.nodes[2].Group)
		if _, err := w.e.EC2().StopInstances(w.ctx, &ec2.StopInstancesInput{InstanceIds: []string{m[0].ID}}); err != nil {
			t.Fatal(err)
		}
		cfg := w.config(w.e.AutoScaling(), w.e.EC2())
		cfg.Selector, cfg.Timeout = inventory.Selector{Groups: []string{w.nodes[1].Group}}, time.Minute
		_, err := Run(w.ctx, cfg)
		if got := w.terminations(); len(got) > 0 {
			t.Fatalf("terminated %v while node 02 was stopped", got)
		}
		if f, ok := IsFailure(err); !ok || f.Kind != Refused || f.Node != "02" {
			t.Fatalf("got %v, want a refusal naming node 02", err)
		}
	})
}

// Issue 20, item 1: the named groups' nodes are the only ones replaced.
func TestGroupsNamedAloneReplaceOnlyTheirNodes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, 3, nil)
		w.newVersion()
		cfg := w.config(w.e.AutoScaling(), w.e.EC2())
		cfg.Selector = inventory.Selector{Groups: []string{w.nodes[1].Group}}
		if _, err := Run(w.ctx, cfg); err != nil {
			t.Fatal(err)
		}
		if got := w.terminations(); strings.Join(got, " ") != "01" {
			t.Fatalf("terminated %v, want node 01 only", got)
		}
	})
}

// Blind spot 4: a node that serves while its group's Launch process is
// suspended (a roll stopped between suspend and terminate) is not "in
// service, nothing to do": the diagnosis says so and recover's repair
// resumes it.
func TestServingWithLaunchSuspendedIsSeenAndRepaired(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, 3, nil)
		if _, err := w.e.AutoScaling().SuspendProcesses(w.ctx, &autoscaling.SuspendProcessesInput{AutoScalingGroupName: aws.String(w.nodes[0].Group), ScalingProcesses: []string{"Launch"}}); err != nil {
			t.Fatal(err)
		}
		cfg := w.config(w.e.AutoScaling(), w.e.EC2())
		snap, err := cfg.Inventory.Observe(w.ctx, cfg.Selector, inventory.Full, nil)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := snap.Node("00")
		in, err := cfg.Inventory.DiagnosisInput(w.ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		if d := diagnosis.Diagnose(in); d.Cause != diagnosis.LaunchSuspended || !strings.Contains(d.Summary, "nothing launches its replacement") {
			t.Fatalf("diagnosis %s: %s", d.Cause, d.Summary)
		}
		done, err := ResumeStranded(w.ctx, w.e.AutoScaling(), snap)
		if err != nil || strings.Join(done, " ") != "00" {
			t.Fatalf("resumed %v, %v; want node 00", done, err)
		}
		again, err := cfg.Inventory.Observe(w.ctx, cfg.Selector, inventory.Full, nil)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := again.Node("00"); n.LaunchSuspended {
			t.Fatal("Launch is still suspended")
		}
	})
}
