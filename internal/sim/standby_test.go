package sim

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

func (w *testWorld) lifecycles(group string) []string {
	var out []string
	for _, i := range w.group(group).Instances {
		out = append(out, *i.InstanceId+" "+string(i.LifecycleState))
	}
	return out
}

// Standby as AWS-FACTS §1.2 has it: with the decrement the group launches
// nothing and exiting brings the same instance back through Pending
// without hooks; without it the group launches a replacement, which fails
// on the node's ENI the Standby instance still holds; Standby is never
// health-checked.
func TestStandby(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := startWorld(t, 2, 600, ContinueAfter(30*time.Second), nil)
		time.Sleep(5 * time.Minute)
		a, b := w.nodes[0], w.nodes[1]
		ia, _ := inService(w.group(a.Group))
		if _, err := w.as.EnterStandby(w.ctx, &autoscaling.EnterStandbyInput{AutoScalingGroupName: aws.String(a.Group), InstanceIds: []string{ia},
			ShouldDecrementDesiredCapacity: aws.Bool(true)}); err == nil || !strings.Contains(err.Error(), "min-size=1") {
			t.Fatalf("standby below min: %v", err)
		}
		if _, err := w.as.UpdateAutoScalingGroup(w.ctx, &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String(a.Group), MinSize: aws.Int32(0)}); err != nil {
			t.Fatal(err)
		}
		out, err := w.as.EnterStandby(w.ctx, &autoscaling.EnterStandbyInput{AutoScalingGroupName: aws.String(a.Group), InstanceIds: []string{ia}, ShouldDecrementDesiredCapacity: aws.Bool(true)})
		if err != nil || len(out.Activities) != 1 || *out.Activities[0].Description != "Moving EC2 instance to Standby: "+ia {
			t.Fatalf("enter standby: %v %+v", err, out)
		}
		// Stopped while in Standby: no health check replaces it.
		if _, err := w.ec.StopInstances(w.ctx, &ec2.StopInstancesInput{InstanceIds: []string{ia}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Minute)
		if g := w.group(a.Group); *g.DesiredCapacity != 0 || len(g.Instances) != 1 || g.Instances[0].LifecycleState != astypes.LifecycleStateStandby {
			t.Fatalf("after standby with decrement: desired %d, %v", *g.DesiredCapacity, w.lifecycles(a.Group))
		}
		if _, err := w.as.ExitStandby(w.ctx, &autoscaling.ExitStandbyInput{AutoScalingGroupName: aws.String(a.Group), InstanceIds: []string{ia}}); err != nil {
			t.Fatal(err)
		}
		if got := w.lifecycles(a.Group); len(got) != 1 || got[0] != ia+" Pending" {
			t.Fatalf("exiting standby goes through Pending: %v", got)
		}
		if g := w.group(a.Group); *g.DesiredCapacity != 1 {
			t.Fatalf("after exit: desired %d, %v", *g.DesiredCapacity, w.lifecycles(a.Group))
		}
		// Back InService, the stopped instance is health-checked again and replaced.
		time.Sleep(5 * time.Minute)
		if id, ok := inService(w.group(a.Group)); !ok || id == ia {
			t.Fatalf("the stopped instance should have been replaced: %v", w.lifecycles(a.Group))
		}

		ib, _ := inService(w.group(b.Group))
		if _, err := w.as.EnterStandby(w.ctx, &autoscaling.EnterStandbyInput{AutoScalingGroupName: aws.String(b.Group), InstanceIds: []string{ib}, ShouldDecrementDesiredCapacity: aws.Bool(false)}); err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		time.Sleep(2 * time.Minute)
		failed := 0
		for _, act := range w.activities(b.Group) {
			if act.StartTime.After(t0) && act.StatusCode == astypes.ScalingActivityStatusCodeFailed && strings.Contains(*act.StatusMessage, b.ENI+"] in use") {
				failed++
			}
		}
		if failed == 0 {
			t.Fatalf("the replacement of a Standby node should fail on its ENI: %v", w.lifecycles(b.Group))
		}
		if _, err := w.as.ExitStandby(w.ctx, &autoscaling.ExitStandbyInput{AutoScalingGroupName: aws.String(b.Group), InstanceIds: []string{ib}}); err == nil || !strings.Contains(err.Error(), "max-size=1") {
			t.Fatalf("exit standby above max: %v", err)
		}
	})
}

// A detached instance leaves its group and keeps running (and its ENI);
// without the decrement the group launches a replacement.
func TestDetachInstances(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := startWorld(t, 1, 600, ContinueAfter(30*time.Second), nil)
		time.Sleep(5 * time.Minute)
		n := w.nodes[0]
		id, _ := inService(w.group(n.Group))
		if _, err := w.as.DetachInstances(w.ctx, &autoscaling.DetachInstancesInput{AutoScalingGroupName: aws.String(n.Group), InstanceIds: []string{id},
			ShouldDecrementDesiredCapacity: aws.Bool(true)}); err == nil {
			t.Fatal("a detach below min should be refused")
		}
		out, err := w.as.DetachInstances(w.ctx, &autoscaling.DetachInstancesInput{AutoScalingGroupName: aws.String(n.Group), InstanceIds: []string{id},
			ShouldDecrementDesiredCapacity: aws.Bool(false)})
		if err != nil || *out.Activities[0].Description != "Detaching EC2 instance: "+id {
			t.Fatalf("detach: %v", err)
		}
		if got := w.lifecycles(n.Group); len(got) != 1 || got[0] != id+" Detaching" {
			t.Fatalf("right after the call: %v", got)
		}
		time.Sleep(time.Minute)
		for _, got := range w.lifecycles(n.Group) {
			if strings.HasPrefix(got, id) {
				t.Fatalf("the detached instance is still a member: %v", got)
			}
		}
		res, err := w.ec.DescribeInstances(w.ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err != nil || res.Reservations[0].Instances[0].State.Name != "running" {
			t.Fatalf("the detached instance should still run: %v", err)
		}
	})
}

// StopInstances: stopping, then stopped; an InService member is replaced
// at the group's next health check; a terminated one cannot be stopped.
func TestStopInstances(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := startWorld(t, 1, 600, ContinueAfter(30*time.Second), nil)
		time.Sleep(5 * time.Minute)
		n := w.nodes[0]
		id, _ := inService(w.group(n.Group))
		out, err := w.ec.StopInstances(w.ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}})
		if err != nil || out.StoppingInstances[0].CurrentState.Name != "stopping" || *out.StoppingInstances[0].CurrentState.Code != 64 {
			t.Fatalf("stop: %v %+v", err, out)
		}
		time.Sleep(5 * time.Minute)
		if got, ok := inService(w.group(n.Group)); !ok || got == id {
			t.Fatalf("the group should have replaced the stopped instance: %v", w.lifecycles(n.Group))
		}
		if _, err := w.ec.StopInstances(w.ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}}); err == nil || !strings.Contains(err.Error(), "IncorrectInstanceState") {
			t.Fatalf("stopping a terminated instance: %v", err)
		}
	})
}
