package sim

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/stateful-aws/stateful/internal/clock"
)

// bigCluster is a 1000-node cluster, every node InService, on a fake clock.
func bigCluster(b *testing.B) (*Engine, *clock.Fake, []NodeSpec) {
	b.Helper()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	e, err := New(Config{Clock: clk, Timings: DefaultTimings(), Boot: ContinueAfter(5 * time.Second)})
	if err != nil {
		b.Fatal(err)
	}
	nodes, err := Provision(context.Background(), e.AutoScaling(), e.EC2(), e.Region(), ClusterSpec{Name: "big", Nodes: 1000})
	if err != nil {
		b.Fatal(err)
	}
	clk.Advance(10 * time.Minute)
	return e, clk, nodes
}

// BenchmarkDescribe1000Groups pages through all 1000 groups, 100 a call.
func BenchmarkDescribe1000Groups(b *testing.B) {
	e, _, _ := bigCluster(b)
	as := e.AutoScaling()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		in := &autoscaling.DescribeAutoScalingGroupsInput{MaxRecords: aws.Int32(100)}
		n := 0
		for {
			out, err := as.DescribeAutoScalingGroups(ctx, in)
			if err != nil {
				b.Fatal(err)
			}
			n += len(out.AutoScalingGroups)
			if out.NextToken == nil {
				break
			}
			in.NextToken = out.NextToken
		}
		if n != 1000 {
			b.Fatalf("paged %d groups, want 1000", n)
		}
	}
}

// BenchmarkReplaceOneOf1000 terminates one member of a 1000-group cluster
// and runs the engine until its replacement is InService: the reconcile,
// launch, hook and release steps for one node among many.
func BenchmarkReplaceOneOf1000(b *testing.B) {
	e, clk, nodes := bigCluster(b)
	as := e.AutoScaling()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	k := 0
	for b.Loop() {
		n := nodes[k%len(nodes)]
		k++
		id, _ := e.InstanceByIP(n.IP)
		if _, err := as.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{InstanceId: aws.String(id), ShouldDecrementDesiredCapacity: aws.Bool(false)}); err != nil {
			b.Fatal(err)
		}
		clk.Advance(10 * time.Minute)
		e.Do(func() {})
		if now, _ := e.InstanceByIP(n.IP); now == id {
			b.Fatalf("node %s was not replaced", n.ID)
		}
	}
}
