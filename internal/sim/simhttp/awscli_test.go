package simhttp_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stateful-aws/stateful/internal/cluster"
	"github.com/stateful-aws/stateful/internal/proctest"
	"github.com/stateful-aws/stateful/internal/sim"
)

// awsCLIs finds both AWS CLIs: Debian's v2 at /usr/bin/aws (installed by
// .ci/run) and the v1 that pip puts first on the PATH. They encode
// requests differently (v1 pages describe-volumes with MaxResults=1000).
func awsCLIs(t *testing.T) map[string]string {
	t.Helper()
	clis := map[string]string{}
	if _, err := os.Stat("/usr/bin/aws"); err == nil {
		clis["v2"] = "/usr/bin/aws"
	}
	if p, err := exec.LookPath("aws"); err == nil && p != "/usr/bin/aws" {
		if out, err := exec.Command(p, "--version").CombinedOutput(); err == nil && strings.HasPrefix(string(out), "aws-cli/1.") {
			clis["v1"] = p
		}
	}
	if len(clis) == 0 {
		t.Skip("no AWS CLI is installed (apt-get install awscli; .ci/run does)")
	}
	if os.Getenv("CI") != "" && clis["v2"] == "" {
		t.Fatal("CI must have the AWS CLI v2 at /usr/bin/aws")
	}
	return clis
}

func TestAWSCLIAgainstTheSimulator(t *testing.T) {
	t.Parallel()
	for version, bin := range awsCLIs(t) {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			testAWSCLI(t, bin)
		})
	}
}

func testAWSCLI(t *testing.T, bin string) {
	_, clk, nodes, srv := readyCluster(t, 2, sim.Sequence(sim.ContinueAfter(time.Second), sim.ContinueAfter(time.Second), sim.Hang()))
	home := t.TempDir()
	run := func(args ...string) map[string]any {
		t.Helper()
		cmd := proctest.Command(t, bin, append([]string{"--endpoint-url", srv.URL, "--output", "json"}, args...)...)
		cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
			"AWS_DEFAULT_REGION=us-east-1", "AWS_PAGER=", "AWS_CONFIG_FILE=" + home + "/none", "AWS_SHARED_CREDENTIALS_FILE=" + home + "/none"}
		out, err := cmd.Output()
		if err != nil {
			var stderr string
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, stderr)
		}
		m := map[string]any{}
		if len(strings.TrimSpace(string(out))) > 0 {
			if err := json.Unmarshal(out, &m); err != nil {
				t.Fatalf("aws %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
		return m
	}
	groupInstances := func(name string) []any {
		g := run("autoscaling", "describe-auto-scaling-groups", "--auto-scaling-group-names", name)["AutoScalingGroups"].([]any)
		return g[0].(map[string]any)["Instances"].([]any)
	}
	field := func(v any, path ...string) any {
		for _, p := range path {
			v = v.(map[string]any)[p]
		}
		return v
	}

	groups := run("autoscaling", "describe-auto-scaling-groups")["AutoScalingGroups"].([]any)
	if len(groups) != 2 {
		t.Fatalf("describe-auto-scaling-groups: %d groups, want 2", len(groups))
	}
	first := field(groupInstances(nodes[0].Group)[0], "InstanceId").(string)
	inst := run("autoscaling", "describe-auto-scaling-instances", "--instance-ids", first)["AutoScalingInstances"].([]any)
	if len(inst) != 1 || field(inst[0], "HealthStatus") != "HEALTHY" || field(inst[0], "LifecycleState") != "InService" {
		t.Fatalf("describe-auto-scaling-instances: %v", inst)
	}
	res := run("ec2", "describe-instances", "--filters", "Name=tag:"+cluster.TagCluster+",Values=t")["Reservations"].([]any)
	if len(res) != 2 {
		t.Fatalf("describe-instances by cluster tag: %d reservations, want 2", len(res))
	}
	vols := run("ec2", "describe-volumes", "--volume-ids", nodes[0].Volume)["Volumes"].([]any)
	if field(vols[0], "State") != "available" || field(vols[0], "AvailabilityZone") != nodes[0].AZ || field(vols[0], "Encrypted") != true {
		t.Fatalf("describe-volumes: %v", vols)
	}
	// Without IDs, as operators list volumes: the CLI v1 pages the call
	// with MaxResults=1000, which EC2 answers with at most 500.
	if vols := run("ec2", "describe-volumes")["Volumes"].([]any); len(vols) != 2 {
		t.Fatalf("describe-volumes: %d volumes, want 2", len(vols))
	}
	if vols := run("ec2", "describe-volumes", "--filters", "Name=tag:"+cluster.TagCluster+",Values=t")["Volumes"].([]any); len(vols) != 2 {
		t.Fatalf("describe-volumes by cluster tag: %d volumes, want 2", len(vols))
	}
	enis := run("ec2", "describe-network-interfaces", "--network-interface-ids", nodes[0].ENI)["NetworkInterfaces"].([]any)
	if field(enis[0], "PrivateIpAddress") != nodes[0].IP || field(enis[0], "Status") != "in-use" || field(enis[0], "Attachment", "InstanceId") != first {
		t.Fatalf("describe-network-interfaces: %v", enis)
	}
	att := run("ec2", "attach-volume", "--volume-id", nodes[0].Volume, "--instance-id", first, "--device", "/dev/sdf")
	if att["State"] != "attaching" || att["InstanceId"] != first {
		t.Fatalf("attach-volume: %v", att)
	}
	v := run("ec2", "create-launch-template-version", "--launch-template-id", nodes[0].LaunchTemplateID, "--source-version", "1",
		"--launch-template-data", `{"ImageId":"ami-0fedcba9876543210"}`)
	if field(v, "LaunchTemplateVersion", "VersionNumber") != 2.0 {
		t.Fatalf("create-launch-template-version: %v", v)
	}
	vs := run("ec2", "describe-launch-template-versions", "--launch-template-id", nodes[0].LaunchTemplateID, "--versions", "$Latest")["LaunchTemplateVersions"].([]any)
	if len(vs) != 1 || field(vs[0], "VersionNumber") != 2.0 || field(vs[0], "LaunchTemplateData", "ImageId") != "ami-0fedcba9876543210" ||
		field(vs[0], "LaunchTemplateData", "NetworkInterfaces").([]any)[0].(map[string]any)["NetworkInterfaceId"] != nodes[0].ENI {
		t.Fatalf("describe-launch-template-versions: %v", vs)
	}
	run("autoscaling", "update-auto-scaling-group", "--auto-scaling-group-name", nodes[0].Group,
		"--launch-template", "LaunchTemplateId="+nodes[0].LaunchTemplateID+",Version=2")
	term := run("autoscaling", "terminate-instance-in-auto-scaling-group", "--instance-id", first, "--no-should-decrement-desired-capacity")
	if !strings.HasSuffix(field(term, "Activity", "Cause").(string), "in response to a user request.") {
		t.Fatalf("terminate-instance-in-auto-scaling-group: %v", term)
	}
	clk.Advance(3 * time.Minute)
	var second string
	for _, i := range groupInstances(nodes[0].Group) {
		if field(i, "LifecycleState") == "Pending:Wait" {
			second = field(i, "InstanceId").(string)
		}
	}
	if second == "" {
		t.Fatalf("no replacement in Pending:Wait: %v", groupInstances(nodes[0].Group))
	}
	hookArgs := []string{"--auto-scaling-group-name", nodes[0].Group, "--lifecycle-hook-name", nodes[0].LaunchHook, "--instance-id", second}
	run(append([]string{"autoscaling", "record-lifecycle-action-heartbeat"}, hookArgs...)...)
	run(append([]string{"autoscaling", "complete-lifecycle-action", "--lifecycle-action-result", "CONTINUE"}, hookArgs...)...)
	clk.Advance(time.Minute)
	now := groupInstances(nodes[0].Group)
	if len(now) != 1 || field(now[0], "InstanceId") != second || field(now[0], "LifecycleState") != "InService" || field(now[0], "LaunchTemplate", "Version") != "2" {
		t.Fatalf("after completing the hook: %v", now)
	}
	acts := run("autoscaling", "describe-scaling-activities", "--auto-scaling-group-name", nodes[0].Group)["Activities"].([]any)
	if !strings.Contains(field(acts[0], "Description").(string), second) || field(acts[0], "StatusCode") != "Successful" {
		t.Fatalf("describe-scaling-activities: want the newest to be the successful launch of %s: %v", second, acts[0])
	}
	// While the old instance still held the ENI, launches failed and were
	// retried, with AWS's message.
	var inUse int
	for _, a := range acts {
		if msg, _ := a.(map[string]any)["StatusMessage"].(string); strings.HasPrefix(msg, "Interface: ["+nodes[0].ENI+"] in use.") {
			inUse++
		}
	}
	if inUse == 0 {
		t.Fatalf("describe-scaling-activities: no failed launch on the busy ENI: %v", acts)
	}
	// A launch configuration and a mixed instances policy, as an operator
	// might set them with this CLI: the simulator answers with AWS's shapes
	// (the roll refuses such groups, tested in internal/cli).
	run("autoscaling", "create-launch-configuration", "--launch-configuration-name", "old-lc", "--image-id", "ami-0000000000000000c", "--instance-type", "t3.small")
	if lcs := run("autoscaling", "describe-launch-configurations")["LaunchConfigurations"].([]any); len(lcs) != 1 || field(lcs[0], "InstanceType") != "t3.small" {
		t.Fatalf("describe-launch-configurations: %v", lcs)
	}
	run("autoscaling", "update-auto-scaling-group", "--auto-scaling-group-name", nodes[1].Group, "--launch-configuration-name", "old-lc")
	run("autoscaling", "update-auto-scaling-group", "--auto-scaling-group-name", nodes[0].Group, "--mixed-instances-policy",
		`{"LaunchTemplate":{"LaunchTemplateSpecification":{"LaunchTemplateId":"`+nodes[0].LaunchTemplateID+`","Version":"$Latest"},"Overrides":[{"InstanceType":"m5.large"}]}}`)
	for _, g := range run("autoscaling", "describe-auto-scaling-groups")["AutoScalingGroups"].([]any) {
		m := g.(map[string]any)
		switch m["AutoScalingGroupName"] {
		case nodes[1].Group:
			if m["LaunchConfigurationName"] != "old-lc" || m["LaunchTemplate"] != nil {
				t.Fatalf("the group moved to a launch configuration: %v", m)
			}
		case nodes[0].Group:
			if m["LaunchTemplate"] != nil || field(m, "MixedInstancesPolicy", "LaunchTemplate", "Overrides").([]any)[0].(map[string]any)["InstanceType"] != "m5.large" {
				t.Fatalf("the group moved to a mixed instances policy: %v", m)
			}
		}
	}
}
