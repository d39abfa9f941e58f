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
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Groups that launch from a launch configuration or a mixed instances
// policy describe themselves as AWS does: the one source they have, and
// per instance its launch configuration or its template's version.
func TestGroupsFromALaunchConfigurationOrAMixedInstancesPolicy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := startWorld(t, 1, 600, ContinueAfter(20*time.Second), nil)
		subnet := w.nodes[0].SubnetID
		if _, err := w.as.CreateLaunchConfiguration(w.ctx, &autoscaling.CreateLaunchConfigurationInput{LaunchConfigurationName: aws.String("old-lc"),
			ImageId: aws.String("ami-0000000000000000c"), InstanceType: aws.String("t2.small")}); err != nil {
			t.Fatal(err)
		}
		lt, err := w.ec.CreateLaunchTemplate(w.ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("plain"),
			LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String("ami-0000000000000000d"), InstanceType: ec2types.InstanceTypeT3Micro}})
		if err != nil {
			t.Fatal(err)
		}
		spec := &astypes.LaunchTemplateSpecification{LaunchTemplateId: lt.LaunchTemplate.LaunchTemplateId, Version: aws.String("$Latest")}
		mip := &astypes.MixedInstancesPolicy{LaunchTemplate: &astypes.LaunchTemplate{LaunchTemplateSpecification: spec,
			Overrides: []astypes.LaunchTemplateOverrides{{InstanceType: aws.String("m5.large")}, {InstanceType: aws.String("m6i.large")}}}}
		create := func(name string, in autoscaling.CreateAutoScalingGroupInput) error {
			in.AutoScalingGroupName, in.MinSize, in.MaxSize, in.VPCZoneIdentifier = aws.String(name), aws.Int32(1), aws.Int32(1), aws.String(subnet)
			_, err := w.as.CreateAutoScalingGroup(w.ctx, &in)
			return err
		}
		for _, c := range []struct {
			in   autoscaling.CreateAutoScalingGroupInput
			want string
		}{
			{autoscaling.CreateAutoScalingGroupInput{}, "must contain either LaunchTemplate, LaunchConfigurationName"},
			{autoscaling.CreateAutoScalingGroupInput{LaunchConfigurationName: aws.String("nope")}, "Launch configuration nope not found"},
			{autoscaling.CreateAutoScalingGroupInput{LaunchConfigurationName: aws.String("old-lc"), LaunchTemplate: spec}, "must contain either LaunchTemplate, LaunchConfigurationName"},
		} {
			if err := create("bad", c.in); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("create with %+v: %v, want %q", c.in, err, c.want)
			}
		}
		if err := create("lc-group", autoscaling.CreateAutoScalingGroupInput{LaunchConfigurationName: aws.String("old-lc")}); err != nil {
			t.Fatal(err)
		}
		if err := create("mip-group", autoscaling.CreateAutoScalingGroupInput{MixedInstancesPolicy: mip}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Minute)

		g := w.group("lc-group")
		if aws.ToString(g.LaunchConfigurationName) != "old-lc" || g.LaunchTemplate != nil || g.MixedInstancesPolicy != nil || len(g.Instances) != 1 {
			t.Fatalf("launch-configuration group: %+v", g)
		}
		if i := g.Instances[0]; aws.ToString(i.LaunchConfigurationName) != "old-lc" || i.LaunchTemplate != nil || aws.ToString(i.InstanceType) != "t2.small" {
			t.Fatalf("its instance: %+v", i)
		}
		m := w.group("mip-group")
		if m.LaunchTemplate != nil || m.MixedInstancesPolicy == nil || aws.ToString(m.MixedInstancesPolicy.LaunchTemplate.LaunchTemplateSpecification.LaunchTemplateId) != *spec.LaunchTemplateId ||
			len(m.MixedInstancesPolicy.LaunchTemplate.Overrides) != 2 || len(m.Instances) != 1 {
			t.Fatalf("mixed-instances group: %+v", m)
		}
		if i := m.Instances[0]; aws.ToString(i.InstanceType) != "m5.large" || aws.ToString(i.LaunchTemplate.Version) != "1" {
			t.Fatalf("its instance: %+v", i)
		}
		out, err := w.as.DescribeAutoScalingInstances(w.ctx, &autoscaling.DescribeAutoScalingInstancesInput{InstanceIds: []string{*g.Instances[0].InstanceId}})
		if err != nil || len(out.AutoScalingInstances) != 1 || aws.ToString(out.AutoScalingInstances[0].LaunchConfigurationName) != "old-lc" {
			t.Fatalf("DescribeAutoScalingInstances: %v %+v", err, out)
		}

		// A launch-template group moved to a launch configuration, as an
		// operator might with the console.
		if _, err := w.as.UpdateAutoScalingGroup(w.ctx, &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String(w.nodes[0].Group),
			LaunchConfigurationName: aws.String("old-lc")}); err != nil {
			t.Fatal(err)
		}
		if n := w.group(w.nodes[0].Group); aws.ToString(n.LaunchConfigurationName) != "old-lc" || n.LaunchTemplate != nil {
			t.Fatalf("after the update: %+v", n)
		}
		lcs, err := w.as.DescribeLaunchConfigurations(w.ctx, &autoscaling.DescribeLaunchConfigurationsInput{})
		if err != nil || len(lcs.LaunchConfigurations) != 1 || aws.ToString(lcs.LaunchConfigurations[0].ImageId) != "ami-0000000000000000c" {
			t.Fatalf("DescribeLaunchConfigurations: %v %+v", err, lcs)
		}
	})
}
