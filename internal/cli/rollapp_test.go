package cli

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
)

func TestRollAppFlags(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newSimWorld(t, 3, nil)
		w.newVersion()
		for _, b := range []struct {
			args []string
			want string
		}{
			{[]string{"--app", "mongodb"}, `--app "mongodb" is not an application with built-in checks: give one of etcd, kafka, zookeeper`},
			{[]string{"--skip-check", "etcd-health"}, "--app-port and --skip-check apply to a built-in check: give --app etcd|kafka|zookeeper as well"},
			{[]string{"--app", "etcd", "--skip-check", "zookeeper-quorum"}, `--skip-check "zookeeper-quorum" is not a check of etcd: its checks are etcd-health, etcd-caught-up`},
			{[]string{"--app", "kafka", "--app-port", "-1"}, "--app-port must be a TCP port"},
			{[]string{"--on-failure", "retry"}, `--on-failure must be "stop" or "rollback", got "retry"`},
		} {
			code, _, errOut := w.run("", append([]string{"roll", "--cluster", "demo"}, b.args...)...)
			if code != ExitUsage || !strings.Contains(errOut, b.want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
				t.Errorf("roll %v: exit %d %q; want exit %d and one line saying %q", b.args, code, errOut, ExitUsage, b.want)
			}
		}
		if n := w.e.CountCalls("TerminateInstanceInAutoScalingGroup") + w.e.CountCalls("UpdateAutoScalingGroup"); n != 0 {
			t.Fatalf("bad flags changed something: %d calls", n)
		}
	})
}

func TestRollOnFailureRollbackAfterAFailedVerify(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newSimWorld(t, 3, nil)
		w.newVersion()
		t.Setenv("STATEFUL_ON_FAILURE", "rollback") // as the Terraform trigger passes it
		code, out, errOut := w.run("", "roll", "--cluster", "demo", "--canary", "1", "--verify", "false", "--timeout", "2m")
		if code != ExitStopped || !strings.Contains(errOut, "roll stopped (rolled-back) at node 00") || !strings.Contains(errOut, "Terraform's next apply will move group") {
			t.Fatalf("failing verify with rollback: exit %d\n%s%s", code, out, errOut)
		}
		if !strings.Contains(out, "event=rollback node_id=00") {
			t.Errorf("no rollback event:\n%s", out)
		}
		if got := strings.Join(w.terminated(), " "); got != "00 00" {
			t.Fatalf("terminated %q; want the canary 00, then 00 again on its last good version", got)
		}
		g, err := w.e.AutoScaling().DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{w.nodes[0].Group, w.nodes[1].Group}})
		if err != nil {
			t.Fatal(err)
		}
		for _, gr := range g.AutoScalingGroups {
			want := "$Latest"
			if *gr.AutoScalingGroupName == w.nodes[0].Group {
				want = "1"
			}
			if v := *gr.LaunchTemplate.Version; v != want {
				t.Errorf("group %s launches %s, want %s", *gr.AutoScalingGroupName, v, want)
			}
		}
		for _, n := range w.nodes {
			if m := w.e.Members(n.Group); len(m) != 1 || m[0].Version != 1 || m[0].Lifecycle != "InService" {
				t.Errorf("node %s: %+v, want in service on version 1", n.ID, m)
			}
		}
	})
}
