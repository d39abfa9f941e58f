package simhttp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/cluster"
	"github.com/stateful-aws/stateful/internal/sim"
	"github.com/stateful-aws/stateful/internal/sim/simhttp"
)

// sdkClients returns real SDK clients for an endpoint, with no retries so
// that errors come back as the server sent them.
func sdkClients(url string) (*autoscaling.Client, *ec2.Client) {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""), RetryMaxAttempts: 1}
	return autoscaling.NewFromConfig(cfg, func(o *autoscaling.Options) { o.BaseEndpoint = aws.String(url) }),
		ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = aws.String(url) })
}

// step is one API call of the conformance script.
type step struct {
	name string
	call func(ctx context.Context, as awsapi.AutoScaling, ec awsapi.EC2, st *scriptState) (any, error)
}

type scriptState struct {
	nodes    []sim.NodeSpec
	instance string
	advance  func(time.Duration) // moves this side's clock
}

func TestConformanceInProcessAndHTTPAgree(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	newEngine := func(clk *clock.Fake) *sim.Engine {
		e, err := sim.New(sim.Config{Clock: clk, Seed: 42, Timings: sim.DefaultTimings(), Boot: sim.ContinueAfter(20 * time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	clkA, clkB := clock.NewFake(start), clock.NewFake(start)
	direct, served := newEngine(clkA), newEngine(clkB)
	srv := httptest.NewServer(simhttp.New(served, nil))
	defer srv.Close()
	httpAS, httpEC := sdkClients(srv.URL)

	ctx := context.Background()
	sA, sB := &scriptState{advance: clkA.Advance}, &scriptState{advance: clkB.Advance}
	for _, s := range conformanceScript() {
		outA, errA := s.call(ctx, direct.AutoScaling(), direct.EC2(), sA)
		outB, errB := s.call(ctx, httpAS, httpEC, sB)
		if a, b := errorOf(errA), errorOf(errB); a != b {
			t.Fatalf("%s: in-process error %q, over HTTP %q", s.name, a, b)
		}
		if a, b := normalize(t, outA), normalize(t, outB); !reflect.DeepEqual(a, b) {
			ja, _ := json.MarshalIndent(a, "", " ")
			jb, _ := json.MarshalIndent(b, "", " ")
			t.Fatalf("%s: answers differ\nin-process: %s\nover HTTP:  %s", s.name, ja, jb)
		}
	}
	// Every operation of the interfaces was exercised.
	seen := map[string]bool{}
	for _, c := range served.Calls() {
		seen[c.Operation] = true
	}
	for _, iface := range []reflect.Type{reflect.TypeFor[awsapi.AutoScaling](), reflect.TypeFor[awsapi.EC2]()} {
		for i := range iface.NumMethod() {
			if m := iface.Method(i).Name; !seen[m] {
				t.Errorf("the conformance script never calls %s", m)
			}
		}
	}
}

func errorOf(err error) string {
	if err == nil {
		return ""
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode() + ": " + api.ErrorMessage()
	}
	return "non-API error: " + err.Error()
}

// normalize turns an SDK output into plain JSON values, without the SDK's
// result metadata and without empty lists, which the wire cannot tell from
// absent ones.
func normalize(t *testing.T, v any) any {
	t.Helper()
	if v == nil || reflect.ValueOf(v).IsNil() {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return prune(out)
}

func prune(v any) any {
	switch x := v.(type) {
	case map[string]any:
		delete(x, "ResultMetadata")
		for k, e := range x {
			if p := prune(e); p == nil {
				delete(x, k)
			} else {
				x[k] = p
			}
		}
		if len(x) == 0 {
			return nil
		}
	case []any:
		if len(x) == 0 {
			return nil
		}
		for i := range x {
			x[i] = prune(x[i])
		}
	}
	return v
}

func conformanceScript() []step {
	tagFilter := []ec2types.Filter{{Name: aws.String("tag:" + cluster.TagCluster), Values: []string{"conf"}}}
	return append([]step{
		{"provision", func(ctx context.Context, as awsapi.AutoScaling, ec awsapi.EC2, st *scriptState) (any, error) {
			var err error
			st.nodes, err = sim.Provision(ctx, as, ec, "us-east-1", sim.ClusterSpec{Name: "conf", Nodes: 3, HookTimeout: 300, UserData: func(n sim.NodeSpec) string { return "IyEvYmluL2Jhc2gK" }})
			return &st.nodes, err
		}},
		{"describe groups while pending", func(ctx context.Context, as awsapi.AutoScaling, _ awsapi.EC2, st *scriptState) (any, error) {
			st.advance(15 * time.Second)
			return as.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
		}},
		{"heartbeat", func(ctx context.Context, as awsapi.AutoScaling, _ awsapi.EC2, st *scriptState) (any, error) {
			out, err := as.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{st.nodes[0].Group}})
			if err != nil {
				return nil, err
			}
			st.instance = *out.AutoScalingGroups[0].Instances[0].InstanceId
			return as.RecordLifecycleActionHeartbeat(ctx, &autoscaling.RecordLifecycleActionHeartbeatInput{AutoScalingGroupName: aws.String(st.nodes[0].Group),
				LifecycleHookName: aws.String(st.nodes[0].LaunchHook), InstanceId: aws.String(st.instance)})
		}},
		{"complete node 1 early", func(ctx context.Context, as awsapi.AutoScaling, _ awsapi.EC2, st *scriptState) (any, error) {
			return as.CompleteLifecycleAction(ctx, &autoscaling.CompleteLifecycleActionInput{AutoScalingGroupName: aws.String(st.nodes[0].Group),
				LifecycleHookName: aws.String(st.nodes[0].LaunchHook), InstanceId: aws.String(st.instance), LifecycleActionResult: aws.String("CONTINUE")})
		}},
		{"complete again: no active action", func(ctx context.Context, as awsapi.AutoScaling, _ awsapi.EC2, st *scriptState) (any, error) {
			return as.CompleteLifecycleAction(ctx, &autoscaling.CompleteLifecycleActionInput{AutoScalingGroupName: aws.String(st.nodes[0].Group),
				LifecycleHookName: aws.String(st.nodes[0].LaunchHook), InstanceId: aws.String(st.instance), LifecycleActionResult: aws.String("CONTINUE")})
		}},
		{"describe groups paged", func(ctx context.Context, as awsapi.AutoScaling, _ awsapi.EC2, st *scriptState) (any, error) {
			st.advance(time.Minute)
			var all []any
			in := &autoscaling.DescribeAutoScalingGroupsInput{MaxRecords: aws.Int32(2),
				Filters: []astypesFilter{{Name: aws.String("tag:" + cluster.TagCluster), Values: []string{"conf"}}}}
			for {
				out, err := as.DescribeAutoScalingGroups(ctx, in)
				if err != nil {
					return nil, err
				}
				all = append(all, out)
				if out.NextToken == nil {
					return &all, nil
				}
				in.NextToken = out.NextToken
			}
		}},
		{"too many group names", func(ctx context.Context, as awsapi.AutoScaling, _ awsapi.EC2, _ *scriptState) (any, error) {
			names := make([]string, 51)
			for i := range names {
				names[i] = fmt.Sprint("g", i)
			}
			return as.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: names})
		}},
		{"describe instances of groups", func(ctx context.Context, as awsapi.AutoScaling, _ awsapi.EC2, _ *scriptState) (any, error) {
			return as.DescribeAutoScalingInstances(ctx, &autoscaling.DescribeAutoScalingInstancesInput{})
		}},
		{"put termination hook", func(ctx context.Context, as awsapi.AutoScaling, _ awsapi.EC2, st *scriptState) (any, error) {
			return as.PutLifecycleHook(ctx, &autoscaling.PutLifecycleHookInput{AutoScalingGroupName: aws.String(st.nodes[1].Group),
				LifecycleHookName: aws.String("drain"), LifecycleTransition: aws.String(sim.HookTerminating), HeartbeatTimeout: aws.Int32(120), DefaultResult: aws.String("CONTINUE")})
		}},
		{"describe hooks", func(ctx context.Context, as awsapi.AutoScaling, _ awsapi.EC2, st *scriptState) (any, error) {
			return as.DescribeLifecycleHooks(ctx, &autoscaling.DescribeLifecycleHooksInput{AutoScalingGroupName: aws.String(st.nodes[1].Group)})
		}},
		{"describe instances by tag", func(ctx context.Context, _ awsapi.AutoScaling, ec awsapi.EC2, _ *scriptState) (any, error) {
			return ec.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: tagFilter, MaxResults: aws.Int32(5)})
		}},
		{"describe ENIs", func(ctx context.Context, _ awsapi.AutoScaling, ec awsapi.EC2, _ *scriptState) (any, error) {
			return ec.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{Filters: tagFilter})
		}},
		{"attach volume", func(ctx context.Context, _ awsapi.AutoScaling, ec awsapi.EC2, st *scriptState) (any, error) {
			return ec.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: aws.String(st.nodes[0].Volume), InstanceId: aws.String(st.instance), Device: aws.String("/dev/sdf")})
		}},
		{"attach again: in use", func(ctx context.Context, _ awsapi.AutoScaling, ec awsapi.EC2, st *scriptState) (any, error) {
			return ec.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: aws.String(st.nodes[0].Volume), InstanceId: aws.String(st.instance), Device: aws.String("/dev/sdg")})
		}},
		{"describe volumes", func(ctx context.Context, _ awsapi.AutoScaling, ec awsapi.EC2, st *scriptState) (any, error) {
			st.advance(5 * time.Second)
			return ec.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{Filters: tagFilter})
		}},
		{"detach volume", func(ctx context.Context, _ awsapi.AutoScaling, ec awsapi.EC2, st *scriptState) (any, error) {
			return ec.DetachVolume(ctx, &ec2.DetachVolumeInput{VolumeId: aws.String(st.nodes[0].Volume)})
		}},
		{"unknown volume", func(ctx context.Context, _ awsapi.AutoScaling, ec awsapi.EC2, _ *scriptState) (any, error) {
			return ec.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{"vol-00000000000000000"}})
		}},
		{"new template version", func(ctx context.Context, _ awsapi.AutoScaling, ec awsapi.EC2, st *scriptState) (any, error) {
			return ec.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{LaunchTemplateId: aws.String(st.nodes[0].LaunchTemplateID),
				SourceVersion: aws.String("$Latest"), VersionDescription: aws.String("v2"), LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String("ami-0fedcba9876543210")}})
		}},
		{"set default version", func(ctx context.Context, _ awsapi.AutoScaling, ec awsapi.EC2, st *scriptState) (any, error) {
			return ec.ModifyLaunchTemplate(ctx, &ec2.ModifyLaunchTemplateInput{LaunchTemplateId: aws.String(st.nodes[0].LaunchTemplateID), DefaultVersion: aws.String("2")})
		}},
		{"describe versions", func(ctx context.Context, _ awsapi.AutoScaling, ec awsapi.EC2, st *scriptState) (any, error) {
			return ec.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(st.nodes[0].LaunchTemplateID), Versions: []string{"$Latest", "$Default", "1"}})
		}},
		{"describe templates by tag", func(ctx context.Context, _ awsapi.AutoScaling, ec awsapi.EC2, _ *scriptState) (any, error) {
			return ec.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{Filters: tagFilter, MaxResults: aws.Int32(2)})
		}},
		{"pin group to version 2", func(ctx context.Context, as awsapi.AutoScaling, _ awsapi.EC2, st *scriptState) (any, error) {
			return as.UpdateAutoScalingGroup(ctx, &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String(st.nodes[0].Group),
				LaunchTemplate: &astypesLT{LaunchTemplateId: aws.String(st.nodes[0].LaunchTemplateID), Version: aws.String("2")}})
		}},
		{"suspend launch", func(ctx context.Context, as awsapi.AutoScaling, _ awsapi.EC2, st *scriptState) (any, error) {
			return as.SuspendProcesses(ctx, &autoscaling.SuspendProcessesInput{AutoScalingGroupName: aws.String(st.nodes[0].Group), ScalingProcesses: []string{"Launch"}})
		}},
		{"suspend an unknown process", func(ctx context.Context, as awsapi.AutoScaling, _ awsapi.EC2, st *scriptState) (any, error) {
			return as.SuspendProcesses(ctx, &autoscaling.SuspendProcessesInput{AutoScalingGroupName: aws.String(st.nodes[0].Group), ScalingProcesses: []string{"Launch", "Lunch"}})
		}},
		{"group with launch suspended", func(ctx context.Context, as awsapi.AutoScaling, _ awsapi.EC2, st *scriptState) (any, error) {
			return as.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{st.nodes[0].Group}})
		}},
		{"terminate without decrement", func(ctx context.Context, as awsapi.AutoScaling, _ awsapi.EC2, st *scriptState) (any, error) {
			st.advance(10 * time.Second)
			return as.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{InstanceId: aws.String(st.instance), ShouldDecrementDesiredCapacity: aws.Bool(false)})
		}},
		{"tag a group", func(ctx context.Context, as awsapi.AutoScaling, _ awsapi.EC2, st *scriptState) (any, error) {
			return as.CreateOrUpdateTags(ctx, &autoscaling.CreateOrUpdateTagsInput{Tags: []astypesTag{{ResourceId: aws.String(st.nodes[0].Group),
				ResourceType: aws.String("auto-scaling-group"), Key: aws.String("stateful:lock"), Value: aws.String("abc 2030-01-01T00:00:00Z x"), PropagateAtLaunch: aws.Bool(false)}}})
		}},
		{"tag an unknown group", func(ctx context.Context, as awsapi.AutoScaling, _ awsapi.EC2, _ *scriptState) (any, error) {
			return as.CreateOrUpdateTags(ctx, &autoscaling.CreateOrUpdateTagsInput{Tags: []astypesTag{{ResourceId: aws.String("no-such-group"),
				ResourceType: aws.String("auto-scaling-group"), Key: aws.String("k"), Value: aws.String("v")}}})
		}},
		{"group with the tag", func(ctx context.Context, as awsapi.AutoScaling, _ awsapi.EC2, st *scriptState) (any, error) {
			return as.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{st.nodes[0].Group}})
		}},
		{"delete the tag", func(ctx context.Context, as awsapi.AutoScaling, _ awsapi.EC2, st *scriptState) (any, error) {
			return as.DeleteTags(ctx, &autoscaling.DeleteTagsInput{Tags: []astypesTag{{ResourceId: aws.String(st.nodes[0].Group),
				ResourceType: aws.String("auto-scaling-group"), Key: aws.String("stateful:lock")}}})
		}},
		{"resume launch", func(ctx context.Context, as awsapi.AutoScaling, _ awsapi.EC2, st *scriptState) (any, error) {
			st.advance(time.Minute)
			return as.ResumeProcesses(ctx, &autoscaling.ResumeProcessesInput{AutoScalingGroupName: aws.String(st.nodes[0].Group), ScalingProcesses: []string{"Launch"}})
		}},
		{"mark node 3 unhealthy", func(ctx context.Context, as awsapi.AutoScaling, _ awsapi.EC2, st *scriptState) (any, error) {
			out, err := as.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{st.nodes[2].Group}})
			if err != nil {
				return nil, err
			}
			return as.SetInstanceHealth(ctx, &autoscaling.SetInstanceHealthInput{InstanceId: out.AutoScalingGroups[0].Instances[0].InstanceId, HealthStatus: aws.String("Unhealthy")})
		}},
		{"terminate node 2 through EC2", func(ctx context.Context, as awsapi.AutoScaling, ec awsapi.EC2, st *scriptState) (any, error) {
			out, err := as.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{st.nodes[1].Group}})
			if err != nil {
				return nil, err
			}
			return ec.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{*out.AutoScalingGroups[0].Instances[0].InstanceId}})
		}},
		{"activities after replacements", func(ctx context.Context, as awsapi.AutoScaling, _ awsapi.EC2, st *scriptState) (any, error) {
			st.advance(3 * time.Minute)
			return as.DescribeScalingActivities(ctx, &autoscaling.DescribeScalingActivitiesInput{})
		}},
		{"groups after replacements", func(ctx context.Context, as awsapi.AutoScaling, _ awsapi.EC2, _ *scriptState) (any, error) {
			return as.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
		}},
		{"all instances", func(ctx context.Context, _ awsapi.AutoScaling, ec awsapi.EC2, _ *scriptState) (any, error) {
			return ec.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
		}},
	}, operatorSteps()...)
}

// memberOf is the first instance of node k's group.
func memberOf(ctx context.Context, as awsapi.AutoScaling, st *scriptState, k int) (string, error) {
	out, err := as.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{st.nodes[k].Group}})
	if err != nil {
		return "", err
	}
	if len(out.AutoScalingGroups[0].Instances) == 0 {
		return "", fmt.Errorf("node %d has no instance", k)
	}
	return *out.AutoScalingGroups[0].Instances[0].InstanceId, nil
}

// operatorSteps are what an operator does by hand: Standby, detaching,
// stopping an instance, looking at subnets; with the refusals AWS gives.
func operatorSteps() []step {
	standby := func(k int, dec bool) func(ctx context.Context, as awsapi.AutoScaling, _ awsapi.EC2, st *scriptState) (any, error) {
		return func(ctx context.Context, as awsapi.AutoScaling, _ awsapi.EC2, st *scriptState) (any, error) {
			id, err := memberOf(ctx, as, st, k)
			if err != nil {
				return nil, err
			}
			return as.EnterStandby(ctx, &autoscaling.EnterStandbyInput{AutoScalingGroupName: aws.String(st.nodes[k].Group), InstanceIds: []string{id},
				ShouldDecrementDesiredCapacity: aws.Bool(dec)})
		}
	}
	exit := func(k int) func(ctx context.Context, as awsapi.AutoScaling, _ awsapi.EC2, st *scriptState) (any, error) {
		return func(ctx context.Context, as awsapi.AutoScaling, _ awsapi.EC2, st *scriptState) (any, error) {
			id, err := memberOf(ctx, as, st, k)
			if err != nil {
				return nil, err
			}
			return as.ExitStandby(ctx, &autoscaling.ExitStandbyInput{AutoScalingGroupName: aws.String(st.nodes[k].Group), InstanceIds: []string{id}})
		}
	}
	groups := func(ctx context.Context, as awsapi.AutoScaling, _ awsapi.EC2, st *scriptState) (any, error) {
		st.advance(time.Minute)
		return as.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
	}
	return []step{
		{"standby with decrement below min: refused", standby(0, true)},
		{"lower node 1's min to 0", func(ctx context.Context, as awsapi.AutoScaling, _ awsapi.EC2, st *scriptState) (any, error) {
			return as.UpdateAutoScalingGroup(ctx, &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String(st.nodes[0].Group), MinSize: aws.Int32(0)})
		}},
		{"standby with decrement", standby(0, true)},
		{"groups with node 1 in standby", groups},
		{"standby again: not InService", standby(0, true)},
		{"exit standby", exit(0)},
		{"exit standby again: not in Standby", exit(0)},
		{"groups after standby", groups},
		{"standby without decrement: the group relaunches on the held ENI", standby(1, false)},
		{"activities of node 2", func(ctx context.Context, as awsapi.AutoScaling, _ awsapi.EC2, st *scriptState) (any, error) {
			st.advance(time.Minute)
			return as.DescribeScalingActivities(ctx, &autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: aws.String(st.nodes[1].Group)})
		}},
		{"exit standby above max: refused", exit(1)},
		{"detach node 3 without decrement", func(ctx context.Context, as awsapi.AutoScaling, _ awsapi.EC2, st *scriptState) (any, error) {
			id, err := memberOf(ctx, as, st, 2)
			if err != nil {
				return nil, err
			}
			return as.DetachInstances(ctx, &autoscaling.DetachInstancesInput{AutoScalingGroupName: aws.String(st.nodes[2].Group), InstanceIds: []string{id},
				ShouldDecrementDesiredCapacity: aws.Bool(false)})
		}},
		{"detach an unknown instance: refused", func(ctx context.Context, as awsapi.AutoScaling, _ awsapi.EC2, st *scriptState) (any, error) {
			return as.DetachInstances(ctx, &autoscaling.DetachInstancesInput{AutoScalingGroupName: aws.String(st.nodes[2].Group), InstanceIds: []string{"i-0000000000000000a"},
				ShouldDecrementDesiredCapacity: aws.Bool(true)})
		}},
		{"groups after the detach", groups},
		{"stop node 1's instance", func(ctx context.Context, as awsapi.AutoScaling, ec awsapi.EC2, st *scriptState) (any, error) {
			id, err := memberOf(ctx, as, st, 0)
			if err != nil {
				return nil, err
			}
			return ec.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}})
		}},
		{"stop an unknown instance: refused", func(ctx context.Context, _ awsapi.AutoScaling, ec awsapi.EC2, _ *scriptState) (any, error) {
			return ec.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{"i-0000000000000000a"}})
		}},
		{"groups after the stop (health check)", groups},
		{"instances after the operator's actions", func(ctx context.Context, _ awsapi.AutoScaling, ec awsapi.EC2, st *scriptState) (any, error) {
			st.advance(3 * time.Minute)
			return ec.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
		}},
		{"subnets", func(ctx context.Context, _ awsapi.AutoScaling, ec awsapi.EC2, _ *scriptState) (any, error) {
			return ec.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{})
		}},
		{"subnets by zone, paged", func(ctx context.Context, _ awsapi.AutoScaling, ec awsapi.EC2, _ *scriptState) (any, error) {
			return ec.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{MaxResults: aws.Int32(5),
				Filters: []ec2types.Filter{{Name: aws.String("availability-zone"), Values: []string{"us-east-1b"}}}})
		}},
		{"unknown subnet: refused", func(ctx context.Context, _ awsapi.AutoScaling, ec awsapi.EC2, _ *scriptState) (any, error) {
			return ec.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{"subnet-00000000000000000"}})
		}},
		{"tag node 1's instance", func(ctx context.Context, as awsapi.AutoScaling, ec awsapi.EC2, st *scriptState) (any, error) {
			id, err := memberOf(ctx, as, st, 0)
			if err != nil {
				return nil, err
			}
			if _, err := ec.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: []ec2types.Tag{{Key: aws.String("stateful:bootstrap-failure"), Value: aws.String("step node-script: exit status 3")}}}); err != nil {
				return nil, err
			}
			return ec.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		}},
		{"tag an unknown instance: refused", func(ctx context.Context, _ awsapi.AutoScaling, ec awsapi.EC2, _ *scriptState) (any, error) {
			return ec.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{"i-0000000000000000a"}, Tags: []ec2types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
		}},
		{"a reserved tag key: refused", func(ctx context.Context, _ awsapi.AutoScaling, ec awsapi.EC2, st *scriptState) (any, error) {
			return ec.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{st.nodes[0].Volume}, Tags: []ec2types.Tag{{Key: aws.String("aws:x"), Value: aws.String("v")}}})
		}},
		{"activities at the end", func(ctx context.Context, as awsapi.AutoScaling, _ awsapi.EC2, _ *scriptState) (any, error) {
			return as.DescribeScalingActivities(ctx, &autoscaling.DescribeScalingActivitiesInput{})
		}},
	}
}
