package sim

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// launchAttempts lists when the group tried to launch since t0 (failed or
// not), as offsets from t0, oldest first.
func (w *testWorld) launchAttempts(group string, t0 time.Time) []time.Duration {
	var out []time.Duration
	acts := w.activities(group)
	for k := len(acts) - 1; k >= 0; k-- {
		a := acts[k]
		if !a.StartTime.Before(t0) && strings.HasPrefix(*a.Description, "Launching") {
			out = append(out, a.StartTime.Sub(t0))
		}
	}
	return out
}

func (w *testWorld) terminate(id string) time.Time {
	w.t.Helper()
	if _, err := w.as.TerminateInstanceInAutoScalingGroup(w.ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
		InstanceId: aws.String(id), ShouldDecrementDesiredCapacity: aws.Bool(false)}); err != nil {
		w.t.Fatal(err)
	}
	return time.Now()
}

// TestReplacementPaysTheLaunchBackoff is the realistic model of a plain
// replacement: the group's first launch comes LaunchDelay after the
// terminate call, while the old instance still shuts down, fails on the
// ENI, and the retries back off 10 s, 20 s, 40 s: the replacement launches
// at +72 s although the ENI is free at +31 to +40 s.
func TestReplacementPaysTheLaunchBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := startWorld(t, 1, 600, ContinueAfter(40*time.Second), nil)
		time.Sleep(5 * time.Minute)
		node := w.nodes[0]
		old, _ := inService(w.group(node.Group))
		t0 := w.terminate(old)
		time.Sleep(5 * time.Minute)
		got := w.launchAttempts(node.Group, t0)
		want := []time.Duration{2 * time.Second, 12 * time.Second, 32 * time.Second, 72 * time.Second}
		if len(got) != len(want) {
			t.Fatalf("launch attempts at %v, want %v", got, want)
		}
		for k := range want {
			if got[k] != want[k] {
				t.Fatalf("launch attempts at %v, want %v", got, want)
			}
		}
	})
}

// TestSuspendedLaunchWaitsForResume: with Launch suspended the group
// leaves its shortfall alone (no failed launch, no backoff), and resuming
// once the ENI is free launches after the usual LaunchDelay.
func TestSuspendedLaunchWaitsForResume(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := startWorld(t, 1, 600, ContinueAfter(40*time.Second), func(tm *Timings) { tm.ENIReleaseDelay, tm.ENIReleaseSpread = 3*time.Second, 0 })
		time.Sleep(5 * time.Minute)
		node := w.nodes[0]
		if _, err := w.as.SuspendProcesses(w.ctx, &autoscaling.SuspendProcessesInput{AutoScalingGroupName: aws.String(node.Group), ScalingProcesses: []string{ProcessLaunch}}); err != nil {
			t.Fatal(err)
		}
		g := w.group(node.Group)
		if len(g.SuspendedProcesses) != 1 || *g.SuspendedProcesses[0].ProcessName != "Launch" {
			t.Fatalf("suspended processes %+v, want Launch", g.SuspendedProcesses)
		}
		old, _ := inService(g)
		t0 := w.terminate(old)
		// ShutdownDuration 30 s + ENIReleaseDelay 3 s.
		time.Sleep(33 * time.Second)
		out, err := w.ec.DescribeNetworkInterfaces(w.ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{node.ENI}})
		if err != nil || string(out.NetworkInterfaces[0].Status) != "available" {
			t.Fatalf("ENI at +33s: %v %v, want available", out, err)
		}
		if got := w.launchAttempts(node.Group, t0); len(got) != 0 {
			t.Fatalf("launch attempts at %v while Launch was suspended, want none", got)
		}
		if _, err := w.as.ResumeProcesses(w.ctx, &autoscaling.ResumeProcessesInput{AutoScalingGroupName: aws.String(node.Group), ScalingProcesses: []string{ProcessLaunch}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Minute)
		got := w.launchAttempts(node.Group, t0)
		if len(got) != 1 || got[0] != 35*time.Second {
			t.Fatalf("launch attempts at %v, want one at +35s", got)
		}
		g = w.group(node.Group)
		if id, ok := inService(g); !ok || id == old || len(g.SuspendedProcesses) != 0 {
			t.Fatalf("want a new instance InService and nothing suspended, got %+v", g)
		}
	})
}

func TestSuspendProcessesRejectsUnknownNames(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := startWorld(t, 1, 600, ContinueAfter(time.Second), nil)
		_, err := w.as.SuspendProcesses(w.ctx, &autoscaling.SuspendProcessesInput{AutoScalingGroupName: aws.String(w.nodes[0].Group), ScalingProcesses: []string{"Launch", "Lunch"}})
		if err == nil {
			t.Fatal("suspending process Lunch succeeded")
		}
		if g := w.group(w.nodes[0].Group); len(g.SuspendedProcesses) != 0 {
			t.Fatalf("a rejected call suspended %+v", g.SuspendedProcesses)
		}
		if _, err := w.as.SuspendProcesses(w.ctx, &autoscaling.SuspendProcessesInput{AutoScalingGroupName: aws.String(w.nodes[0].Group)}); err != nil {
			t.Fatal(err)
		}
		if g := w.group(w.nodes[0].Group); len(g.SuspendedProcesses) != len(scalingProcesses) {
			t.Fatalf("no names suspended %d processes, want all %d", len(g.SuspendedProcesses), len(scalingProcesses))
		}
	})
}
