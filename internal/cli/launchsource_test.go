package cli

import (
	"strings"
	"testing"
	"testing/synctest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
)

// A node whose group someone moved to a launch configuration or a mixed
// instances policy (the console allows both) cannot be rolled: the roll
// cannot tell which version its instance runs. Against the simulator's
// model of both, the roll refuses before touching anything, naming each.
func TestRollRefusesGroupsWithoutAPlainLaunchTemplate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newSimWorld(t, 3, nil)
		as := w.e.AutoScaling()
		if _, err := as.CreateLaunchConfiguration(w.ctx, &autoscaling.CreateLaunchConfigurationInput{LaunchConfigurationName: aws.String("old-lc"),
			ImageId: aws.String("ami-0000000000000000c"), InstanceType: aws.String("t3.micro")}); err != nil {
			t.Fatal(err)
		}
		if _, err := as.UpdateAutoScalingGroup(w.ctx, &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String(w.nodes[0].Group),
			LaunchConfigurationName: aws.String("old-lc")}); err != nil {
			t.Fatal(err)
		}
		if _, err := as.UpdateAutoScalingGroup(w.ctx, &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String(w.nodes[2].Group),
			MixedInstancesPolicy: &astypes.MixedInstancesPolicy{LaunchTemplate: &astypes.LaunchTemplate{
				LaunchTemplateSpecification: &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(w.nodes[2].LaunchTemplateID), Version: aws.String("$Latest")},
				Overrides:                   []astypes.LaunchTemplateOverrides{{InstanceType: aws.String("m5.large")}}}}}); err != nil {
			t.Fatal(err)
		}
		w.newVersion()
		code, out, errOut := w.run("", "roll", "--cluster", "demo")
		if code != ExitRefused || !strings.Contains(errOut, "group demo-node-00 of node 00 uses the launch configuration old-lc") ||
			!strings.Contains(errOut, "group demo-node-02 of node 02 has a mixed instances policy") {
			t.Fatalf("roll: exit %d, want %d naming both groups\n%s%s", code, ExitRefused, out, errOut)
		}
		// status says it too, rather than "outdated, run stateful roll".
		code, out, _ = w.run("", "status", "--cluster", "demo")
		if code != ExitNotInService || !strings.Contains(out, "unsupported") || !strings.Contains(out, "demo-node-00 uses the launch configuration old-lc") || strings.Contains(out, "run stateful roll") {
			t.Fatalf("status: exit %d, want %d naming the launch configuration\n%s", code, ExitNotInService, out)
		}
		if n := w.e.CountCalls("TerminateInstanceInAutoScalingGroup") + w.e.CountCalls("SuspendProcesses"); n != 0 {
			t.Fatalf("the refused roll made %d suspend or terminate calls", n)
		}
	})
}
