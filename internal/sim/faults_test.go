package sim

import (
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/stateful-aws/stateful/internal/awsapi"
)

func TestFaultsByCountAndThrottlingCodes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := startWorld(t, 1, 600, ContinueAfter(time.Second), nil)
		w.e.AddFaults(Fault{Operation: "DescribeVolumes", Code: "InternalError", Message: "boom", Count: 2})
		for i := range 3 {
			_, err := w.ec.DescribeVolumes(w.ctx, &ec2.DescribeVolumesInput{})
			if (i < 2) != (err != nil) {
				t.Fatalf("call %d: err %v; want the first two to fail", i, err)
			}
			if i < 2 && awsapi.Classify(err) != awsapi.KindServer {
				t.Fatalf("injected InternalError classified %v", awsapi.Classify(err))
			}
		}
		w.e.AddFaults(Throttle(1)...)
		_, asErr := w.as.DescribeAutoScalingGroups(w.ctx, nil)
		_, ecErr := w.ec.DescribeInstances(w.ctx, nil)
		var a, b *APIError
		if !errors.As(asErr, &a) || a.Code != "Throttling" || a.Status != 400 || a.Message != "Rate exceeded" {
			t.Errorf("Auto Scaling throttling: %v", asErr)
		}
		if !errors.As(ecErr, &b) || b.Code != "RequestLimitExceeded" || b.Status != 503 {
			t.Errorf("EC2 throttling: %v", ecErr)
		}
		w.e.ClearFaults()
		calls := w.e.Calls()
		last := calls[len(calls)-1]
		if last.Operation != "DescribeInstances" || last.ErrorCode != "RequestLimitExceeded" || last.Service != ServiceEC2 {
			t.Errorf("last recorded call %+v", last)
		}
		if n := w.e.CountCalls("DescribeVolumes"); n != 3 {
			t.Errorf("CountCalls(DescribeVolumes) = %d, want 3", n)
		}
	})
}

func TestThrottlingProbabilityIsSeededAndApproximate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := startWorld(t, 1, 600, ContinueAfter(time.Second), nil)
		w.e.AddFaults(Throttle(0.3)...)
		failed := 0
		for range 1000 {
			if _, err := w.as.DescribeAutoScalingGroups(w.ctx, nil); err != nil {
				failed++
			}
		}
		if failed < 250 || failed > 350 {
			t.Fatalf("%d of 1000 calls throttled at p=0.3", failed)
		}
	})
}

func TestLatencyTakesVirtualTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := startWorld(t, 1, 600, ContinueAfter(time.Second), nil)
		w.e.AddFaults(Fault{Operation: "DescribeAutoScalingGroups", Latency: 3 * time.Second})
		start := time.Now()
		if _, err := w.as.DescribeAutoScalingGroups(w.ctx, nil); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(start); got != 3*time.Second {
			t.Fatalf("call took %v of virtual time, want 3s", got)
		}
	})
}

func TestStaleReadsLagBehindWrites(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := startWorld(t, 1, 600, ContinueAfter(time.Second), nil)
		time.Sleep(time.Minute)
		w.e.SetStaleReads(5 * time.Second)
		node := w.nodes[0]
		id, _ := inService(w.group(node.Group))
		if _, err := w.ec.AttachVolume(w.ctx, &ec2.AttachVolumeInput{VolumeId: aws.String(node.Volume), InstanceId: aws.String(id), Device: aws.String("/dev/sdf")}); err != nil {
			t.Fatal(err)
		}
		state := func() string {
			out, err := w.ec.DescribeVolumes(w.ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{node.Volume}})
			if err != nil {
				t.Fatal(err)
			}
			return string(out.Volumes[0].State)
		}
		if s := state(); s != "available" {
			t.Fatalf("right after the attach a stale read says %s, want available", s)
		}
		time.Sleep(6 * time.Second)
		if s := state(); s != "in-use" {
			t.Fatalf("after the stale window the volume is %s, want in-use", s)
		}
	})
}

func TestLostInstanceIsReplacedThroughHealthCheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := startWorld(t, 1, 600, ContinueAfter(5*time.Second), nil)
		time.Sleep(time.Minute)
		node := w.nodes[0]
		old, _ := inService(w.group(node.Group))
		if err := w.e.LoseInstance(old); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Minute)
		id, ok := inService(w.group(node.Group))
		if !ok || id == old {
			t.Fatalf("lost instance not replaced: %+v", w.group(node.Group).Instances)
		}
		var sawHealthCheck bool
		for _, a := range w.activities(node.Group) {
			if strings.Contains(*a.Cause, "EC2 health check") && strings.Contains(*a.Description, old) {
				sawHealthCheck = true
			}
		}
		if !sawHealthCheck {
			t.Fatal("no termination activity caused by the EC2 health check")
		}
	})
}

func TestInjectedLaunchFailuresAreRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := startWorld(t, 1, 600, ContinueAfter(5*time.Second), nil)
		time.Sleep(time.Minute)
		node := w.nodes[0]
		old, _ := inService(w.group(node.Group))
		msg := "We currently do not have sufficient t3.micro capacity in the Availability Zone you requested (us-east-1a)"
		if err := w.e.FailLaunches(node.Group, 2, "InsufficientInstanceCapacity", msg); err != nil {
			t.Fatal(err)
		}
		if _, err := w.as.SetInstanceHealth(w.ctx, &autoscaling.SetInstanceHealthInput{InstanceId: aws.String(old), HealthStatus: aws.String("Unhealthy")}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Minute)
		if id, ok := inService(w.group(node.Group)); !ok || id == old {
			t.Fatal("not replaced after the injected failures")
		}
		failed := 0
		for _, a := range w.activities(node.Group) {
			if a.StatusCode == astypes.ScalingActivityStatusCodeFailed && *a.StatusMessage == msg+". Launching EC2 instance failed." {
				failed++
			}
		}
		if failed != 2 {
			t.Fatalf("%d failed launches with the capacity message, want 2", failed)
		}
	})
}

func TestTerminateRules(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := startWorld(t, 1, 600, ContinueAfter(5*time.Second), nil)
		time.Sleep(time.Minute)
		id, _ := inService(w.group(w.nodes[0].Group))
		_, err := w.as.TerminateInstanceInAutoScalingGroup(w.ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{InstanceId: aws.String("i-0000000000000000a"), ShouldDecrementDesiredCapacity: aws.Bool(false)})
		if err == nil || !strings.Contains(err.Error(), "No managed instance found for instance ID i-0000000000000000a") {
			t.Errorf("unknown instance: %v", err)
		}
		_, err = w.as.TerminateInstanceInAutoScalingGroup(w.ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{InstanceId: aws.String(id), ShouldDecrementDesiredCapacity: aws.Bool(true)})
		if err == nil || !strings.Contains(err.Error(), "min size") {
			t.Errorf("decrement below min size: %v", err)
		}
		first, err := w.as.TerminateInstanceInAutoScalingGroup(w.ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{InstanceId: aws.String(id), ShouldDecrementDesiredCapacity: aws.Bool(false)})
		if err != nil {
			t.Fatal(err)
		}
		again, err := w.as.TerminateInstanceInAutoScalingGroup(w.ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{InstanceId: aws.String(id), ShouldDecrementDesiredCapacity: aws.Bool(false)})
		if err != nil || *again.Activity.ActivityId != *first.Activity.ActivityId {
			t.Errorf("terminating a terminating instance: %v; want the same activity back", err)
		}
	})
}

func TestAnInstanceThatDiesWhileBootingIsReplaced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := startWorld(t, 1, 600, Sequence(DieAfter(10*time.Second), ContinueAfter(5*time.Second)), nil)
		time.Sleep(5 * time.Minute)
		g := w.group(w.nodes[0].Group)
		if _, ok := inService(g); !ok {
			t.Fatalf("no instance in service after the first died while booting: %+v", g.Instances)
		}
		var launches int
		for _, a := range w.activities(w.nodes[0].Group) {
			if strings.HasPrefix(*a.Description, "Launching a new EC2 instance: ") {
				launches++
			}
		}
		if launches != 2 {
			t.Fatalf("%d launches, want 2 (the dead one and its replacement)", launches)
		}
	})
}
