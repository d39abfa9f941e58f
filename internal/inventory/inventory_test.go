package inventory

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/cluster"
	"github.com/stateful-aws/stateful/internal/sim"
)

func world(t *testing.T, n int) (*sim.Engine, []sim.NodeSpec, *Inventory) {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	e, err := sim.New(sim.Config{Clock: clk, Timings: sim.DefaultTimings(), Boot: sim.AgentAfter(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := sim.Provision(context.Background(), e.AutoScaling(), e.EC2(), e.Region(), sim.ClusterSpec{Name: "inv", Nodes: n})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(5 * time.Minute)
	inv, err := New(Config{AutoScaling: e.AutoScaling(), EC2: e.EC2(), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return e, nodes, inv
}

func TestFullReadOfAClusterOverSeveralPages(t *testing.T) {
	t.Parallel()
	e, nodes, inv := world(t, 120)
	before := e.CountCalls("DescribeAutoScalingGroups")
	snap, err := inv.Observe(context.Background(), Selector{Cluster: "inv"}, Full, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.CountCalls("DescribeAutoScalingGroups") - before; got != 2 {
		t.Errorf("%d DescribeAutoScalingGroups calls for 120 groups, want 2 pages", got)
	}
	if len(snap.Nodes) != 120 || snap.Nodes[119].ID != "119" {
		t.Fatalf("%d nodes, last %q", len(snap.Nodes), snap.Nodes[len(snap.Nodes)-1].ID)
	}
	for i, n := range snap.Nodes {
		want := nodes[i]
		if n.ID != want.ID || n.IP != want.IP || n.ENI != want.ENI || n.Volume.ID != want.Volume || n.Target != 1 || !n.Current() {
			t.Fatalf("node %d: %+v, want %+v", i, n, want)
		}
	}
	// A Groups read keeps what it does not read from the last full one.
	again, err := inv.Observe(context.Background(), Selector{Cluster: "inv"}, Groups, &snap)
	if err != nil || again.Nodes[5].IP != nodes[5].IP || again.Nodes[5].Target != 1 {
		t.Fatalf("groups read: %v %+v", err, again.Nodes[5])
	}
}

func TestTargetsResolveLatestAndDefault(t *testing.T) {
	t.Parallel()
	e, nodes, inv := world(t, 2)
	ctx := context.Background()
	for _, n := range nodes {
		if _, err := e.EC2().CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{LaunchTemplateId: aws.String(n.LaunchTemplateID),
			SourceVersion: aws.String("1"), LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String("ami-00000000000000002")}}); err != nil {
			t.Fatal(err)
		}
	}
	// Node 01's group follows $Default, still version 1.
	if _, err := e.AutoScaling().UpdateAutoScalingGroup(ctx, &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String(nodes[1].Group),
		LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(nodes[1].LaunchTemplateID), Version: aws.String("$Default")}}); err != nil {
		t.Fatal(err)
	}
	snap, err := inv.Observe(ctx, Selector{Groups: []string{nodes[0].Group, nodes[1].Group}}, Full, nil)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Nodes[0].Target != 2 || snap.Nodes[0].Current() || snap.Nodes[1].Target != 1 || !snap.Nodes[1].Current() {
		t.Fatalf("targets %d (%s) and %d (%s)", snap.Nodes[0].Target, snap.Nodes[0].VersionSpec, snap.Nodes[1].Target, snap.Nodes[1].VersionSpec)
	}
}

func TestSelectorErrors(t *testing.T) {
	t.Parallel()
	_, nodes, inv := world(t, 1)
	var nf *NotFoundError
	if _, err := inv.Observe(context.Background(), Selector{Groups: []string{nodes[0].Group, "nope"}}, Groups, nil); !errors.As(err, &nf) || nf.What != "Auto Scaling group named nope" || len(nf.Names) != 1 || nf.Names[0] != "nope" {
		t.Errorf("missing group: %v", err)
	}
	if _, err := inv.Observe(context.Background(), Selector{Cluster: "other"}, Groups, nil); !errors.As(err, &nf) {
		t.Errorf("unknown cluster: %v", err)
	}
	for _, s := range []Selector{{}, {Cluster: "a", Groups: []string{"b"}}} {
		if s.Validate() == nil {
			t.Errorf("%+v validated", s)
		}
	}
}

// Groups the commands cannot manage are named, so that a roll refuses
// them instead of comparing versions it cannot read.
func TestUnsupportedGroups(t *testing.T) {
	t.Parallel()
	lc := astypes.AutoScalingGroup{AutoScalingGroupName: aws.String("c-node-00"), LaunchConfigurationName: aws.String("old-lc"),
		Tags: []astypes.TagDescription{{Key: aws.String(cluster.TagNodeID), Value: aws.String("00")}}}
	mixed := astypes.AutoScalingGroup{AutoScalingGroupName: aws.String("c-node-01"), MixedInstancesPolicy: &astypes.MixedInstancesPolicy{},
		Tags: []astypes.TagDescription{{Key: aws.String(cluster.TagNodeID), Value: aws.String("01")}}}
	s := cluster.Snapshot{Nodes: []cluster.Node{nodeOf(lc), nodeOf(mixed)}}
	p := strings.Join(s.Problems(), "\n")
	if !strings.Contains(p, "group c-node-00 of node 00 uses the launch configuration old-lc") || !strings.Contains(p, "group c-node-01 of node 01 has a mixed instances policy") {
		t.Fatalf("problems:\n%s", p)
	}
}
