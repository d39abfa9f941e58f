package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/cluster"
	"github.com/stateful-aws/stateful/internal/lock"
	"github.com/stateful-aws/stateful/internal/sim"
	"github.com/stateful-aws/stateful/internal/sim/simtest"
)

// simWorld runs commands against a simulated cluster inside a synctest
// bubble.
type simWorld struct {
	t     *testing.T
	e     *sim.Engine
	nodes []sim.NodeSpec
	ctx   context.Context
	tty   bool
}

func newSimWorld(t *testing.T, n int, boot sim.BootFunc) *simWorld {
	t.Helper()
	if boot == nil {
		boot = sim.AgentAfter(30 * time.Second)
	}
	e, ctx := simtest.Start(t, sim.Config{Clock: clock.Real{}, Seed: 5, Timings: sim.DefaultTimings(), Boot: boot})
	nodes := simtest.Cluster(t, ctx, e, sim.ClusterSpec{Name: "demo", Nodes: n, HookTimeout: 300})
	time.Sleep(5 * time.Minute)
	return &simWorld{t: t, e: e, nodes: nodes, ctx: ctx}
}

func (w *simWorld) run(stdin string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	d := deps{
		clients: func(context.Context, *awsFlags) (awsapi.AutoScaling, awsapi.EC2, error) {
			return w.e.AutoScaling(), w.e.EC2(), nil
		},
		params:   func(context.Context, *awsFlags) (lock.API, error) { return w.e.SSM(), nil },
		clock:    clock.Real{},
		terminal: func(any) bool { return w.tty },
	}
	code := execute(w.ctx, args, IO{In: strings.NewReader(stdin), Out: &out, Err: &errb}, d)
	return code, out.String(), errb.String()
}

func (w *simWorld) newVersion() { simtest.NewVersion(w.t, w.ctx, w.e, w.nodes) }

func TestStatusExitCodesAndJSON(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newSimWorld(t, 3, sim.Sequence(sim.AgentAfter(30*time.Second), sim.AgentAfter(30*time.Second), sim.AgentAfter(30*time.Second), sim.Hang()))
		code, out, _ := w.run("", "status", "--cluster", "demo")
		if code != ExitOK || !strings.Contains(out, "3 of 3 nodes in service (a majority is 2: quorum holds); 0 on an old") {
			t.Fatalf("status of a current cluster: exit %d\n%s", code, out)
		}
		_, wide, _ := w.run("", "status", "--cluster", "demo", "-o", "wide")
		for _, n := range w.nodes {
			if !strings.Contains(out, n.IP) || !strings.Contains(wide, n.Volume) || !strings.Contains(wide, n.Group) {
				t.Errorf("table lacks node %s's IP, or the wide one its volume or group:\n%s\n%s", n.ID, out, wide)
			}
		}
		w.newVersion()
		if code, out, _ := w.run("", "status", "--cluster", "demo"); code != ExitOutdated || !strings.Contains(out, "1/2 old") {
			t.Fatalf("after a new version: exit %d, want %d\n%s", code, ExitOutdated, out)
		}
		id, _ := w.e.InstanceByIP(w.nodes[1].IP)
		_ = w.e.LoseInstance(id)
		time.Sleep(3 * time.Minute)
		code, out, _ = w.run("", "status", "--cluster", "demo", "--output", "json")
		if code != ExitNotInService {
			t.Fatalf("with a node stuck: exit %d, want %d", code, ExitNotInService)
		}
		var doc struct {
			Nodes     []nodeStatus `json:"nodes"`
			InService int          `json:"in_service"`
			Quorum    int          `json:"quorum"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Nodes) != 3 {
			t.Fatalf("JSON output: %v\n%s", err, out)
		}
		if doc.InService != 2 || doc.Quorum != 2 {
			t.Fatalf("JSON summary: %d in service, quorum %d", doc.InService, doc.Quorum)
		}
		if n := doc.Nodes[1]; n.InService || n.Lifecycle != "Pending:Wait" || n.LastActivity == "" {
			t.Fatalf("node 01 in JSON: %+v", n)
		}
		if code, _, errOut := w.run("", "status"); code != ExitUsage || !strings.Contains(errOut, "--cluster") {
			t.Fatalf("status without a selector: exit %d, %s", code, errOut)
		}
	})
}

func TestStatusOf1000NodesTakesFewCalls(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	e, err := sim.New(sim.Config{Clock: clk, Timings: sim.DefaultTimings(), Boot: sim.AgentAfter(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Provision(context.Background(), e.AutoScaling(), e.EC2(), e.Region(), sim.ClusterSpec{Name: "big", Nodes: 1000}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Minute)
	before := e.CountCalls("")
	var out bytes.Buffer
	d := deps{clients: func(context.Context, *awsFlags) (awsapi.AutoScaling, awsapi.EC2, error) {
		return e.AutoScaling(), e.EC2(), nil
	},
		clock: clock.Stepping{Fake: clk}, terminal: func(any) bool { return false }}
	code := execute(context.Background(), []string{"status", "--cluster", "big"}, IO{In: strings.NewReader(""), Out: &out, Err: &out}, d)
	calls := e.CountCalls("") - before
	if code != ExitOK || strings.Count(out.String(), "\n") != 1002 {
		t.Fatalf("exit %d, %d lines\n%s", code, strings.Count(out.String(), "\n"), out.String()[:3000])
	}
	if calls > 25 {
		t.Fatalf("status of 1000 nodes took %d API calls, want at most 25", calls)
	}
	t.Logf("status of 1000 nodes: %d API calls", calls)
}

func TestRollCommand(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newSimWorld(t, 3, nil)
		w.newVersion()
		code, out, errOut := w.run("", "roll", "--cluster", "demo", "--dry-run")
		if code != ExitOK || !strings.Contains(out, "would replace 3 of 3 nodes") || w.e.CountCalls("TerminateInstanceInAutoScalingGroup") != 0 {
			t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
		}
		code, out, errOut = w.run("", "roll", "--cluster", "demo", "--output", "json", "--pre-check", "test -n \"$STATEFUL_NODE_IP\"")
		if code != ExitOK {
			t.Fatalf("roll: exit %d\n%s%s", code, out, errOut)
		}
		var kinds []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var ev struct{ Event string }
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("not a JSON line: %q", line)
			}
			kinds = append(kinds, ev.Event)
		}
		if got := strings.Join(kinds, ","); got != "plan,terminate,resume-launch,replaced,terminate,resume-launch,replaced,terminate,resume-launch,replaced,done" {
			t.Fatalf("events %s", got)
		}
		code, out, _ = w.run("", "roll", "--cluster", "demo")
		if code != ExitOK || !strings.Contains(out, "event=plan") || !strings.Contains(out, "nothing to replace") {
			t.Fatalf("second roll: exit %d\n%s", code, out)
		}
	})
}

func TestRollCommandFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ok := sim.AgentAfter(30 * time.Second)
		w := newSimWorld(t, 3, sim.Sequence(ok, ok, ok, sim.AbandonAfter(5*time.Second), sim.Hang()))
		w.newVersion()
		code, out, errOut := w.run("", "roll", "--cluster", "demo", "--timeout", "5m")
		if code != ExitStopped || !strings.Contains(errOut, "stateful recover 00 --cluster demo") || !strings.Contains(errOut, "ABANDON") {
			t.Fatalf("abandoned replacement: exit %d\n%s%s", code, out, errOut)
		}
		// The abandoned change left a failure mark (marks_test.go); past
		// it, the roll refuses to start beside a stuck node.
		code, _, errOut = w.run("", "roll", "--cluster", "demo", "--timeout", "2m", "--clear-failure-mark")
		if code != ExitRefused || !strings.Contains(errOut, "nodes not in service") || !strings.Contains(errOut, "Pending:Wait") {
			t.Fatalf("roll with node 00 stuck: exit %d\n%s", code, errOut)
		}
		if code, _, _ := w.run("", "roll", "--cluster", "demo", "--timeout", "0s"); code != ExitUsage {
			t.Fatalf("--timeout 0s: exit %d", code)
		}
	})
}

func TestRecoverCommand(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ok := sim.AgentAfter(30 * time.Second)
		w := newSimWorld(t, 3, sim.Sequence(ok, ok, ok, sim.Hang(), ok))
		id, _ := w.e.InstanceByIP(w.nodes[2].IP)
		_ = w.e.LoseInstance(id)
		time.Sleep(3 * time.Minute)
		code, out, _ := w.run("", "recover", "02", "--cluster", "demo")
		if code != ExitOK || !strings.Contains(out, "Pending:Wait") || !strings.Contains(out, "waits on launch hook demo-node-asg-hook") || !strings.Contains(out, "times out at") {
			t.Fatalf("explain: exit %d\n%s", code, out)
		}
		if code, _, errOut := w.run("", "recover", "02", "--cluster", "demo", "--abandon"); code != ExitUsage || !strings.Contains(errOut, "--yes") {
			t.Fatalf("--abandon off a terminal without --yes: exit %d %s", code, errOut)
		}
		w.tty = true
		if code, _, _ := w.run("n\n", "recover", "02", "--cluster", "demo", "--abandon"); code != ExitDeclined {
			t.Fatalf("declined at the prompt: exit %d", code)
		}
		w.tty = false
		// Node 02 is out of service: replacing another node is refused
		// (it would take two of three out at once) unless forced.
		if code, _, errOut := w.run("", "recover", "00", "--cluster", "demo", "--replace", "--yes"); code != ExitUnsafe || !strings.Contains(errOut, "node(s) 02 out of service") {
			t.Fatalf("--replace while another node is down: exit %d %s", code, errOut)
		}
		if n := w.e.CountCalls("TerminateInstanceInAutoScalingGroup"); n != 0 {
			t.Fatalf("%d terminations after a refused --replace", n)
		}
		if code, out, _ := w.run("", "recover", "00", "--cluster", "demo", "--replace", "--force", "--dry-run"); code != ExitOK || !strings.Contains(out, "would terminate") {
			t.Fatalf("--replace --force --dry-run: exit %d %s", code, out)
		}
		if code, out, _ := w.run("", "recover", "02", "--cluster", "demo", "--abandon", "--dry-run"); code != ExitOK || !strings.Contains(out, "would complete the lifecycle action") {
			t.Fatalf("dry run: exit %d %s", code, out)
		}
		if n := w.e.CountCalls("CompleteLifecycleAction"); n != 0 {
			t.Fatalf("%d completions before confirmation", n)
		}
		if code, out, errOut := w.run("", "recover", "02", "--cluster", "demo", "--abandon", "--yes"); code != ExitOK {
			t.Fatalf("abandon: exit %d %s %s", code, out, errOut)
		}
		time.Sleep(5 * time.Minute)
		if code, out, _ := w.run("", "status", "--cluster", "demo"); code != ExitOK {
			t.Fatalf("after abandon the group should have a fresh instance in service: exit %d\n%s", code, out)
		}
		if code, _, errOut := w.run("", "recover", "09", "--cluster", "demo"); code != ExitUsage || !strings.Contains(errOut, "00, 01, 02") {
			t.Fatalf("unknown node: exit %d %s", code, errOut)
		}
	})
}

func TestPlanCheckCommand(t *testing.T) {
	t.Parallel()
	dir := "../plancheck/testdata/"
	for file, want := range map[string]int{"pass-new-version.json": ExitOK, "refuse-volume-replaced.json": ExitRefused, "refuse-groups-replaced.json": ExitRefused} {
		var out, errb bytes.Buffer
		code := Execute(context.Background(), []string{"plan-check", dir + file}, IO{In: strings.NewReader(""), Out: &out, Err: &errb})
		if code != want {
			t.Errorf("%s: exit %d, want %d\n%s", file, code, want, out.String())
		}
		if want == ExitRefused && !strings.Contains(out.String(), "cluster_nodes[") {
			t.Errorf("%s: refusal does not list the addresses:\n%s", file, out.String())
		}
	}
	var out, errb bytes.Buffer
	if code := Execute(context.Background(), []string{"plan-check", dir + "refuse-volume-replaced.json", "--allow-volume-loss"}, IO{In: strings.NewReader(""), Out: &out, Err: &errb}); code != ExitOK {
		t.Errorf("--allow-volume-loss: exit %d", code)
	}
	if code := Execute(context.Background(), []string{"plan-check", "/no/such/plan.json"}, IO{In: strings.NewReader(""), Out: &out, Err: &errb}); code != ExitUsage {
		t.Errorf("missing file: exit %d", code)
	}
}

func TestRollByGroupNamesAsTheOriginalDid(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newSimWorld(t, 3, nil)
		w.newVersion()
		code, out, errOut := w.run("", "roll", "--asg", "demo-node-00", "--asg", "demo-node-01,demo-node-02", "--dry-run")
		if code != ExitOK || !strings.Contains(out, "would replace 3 of 3 nodes") || !strings.Contains(out, "00 (v1 -> v2)") {
			t.Fatalf("roll --asg: exit %d\n%s%s", code, out, errOut)
		}
		code, _, errOut = w.run("", "status", "--asg", "demo-node-00", "--asg", "demo-node-07")
		if code != ExitError || !strings.Contains(errOut, "no Auto Scaling group named demo-node-07") {
			t.Fatalf("a missing group: exit %d %s", code, errOut)
		}
		if code, _, errOut := w.run("", "roll", "--asg", "demo-node-00", "--cluster", "demo"); code != ExitUsage || !strings.Contains(errOut, "one of the two") {
			t.Fatalf("--asg with --cluster: exit %d %s", code, errOut)
		}
	})
}

// terminated lists the nodes whose instances the roll terminated, in order.
func (w *simWorld) terminated() []string {
	var out []string
	for _, c := range w.e.Calls() {
		if c.Operation == "TerminateInstanceInAutoScalingGroup" && c.ErrorCode == "" {
			id := *c.Input.(*autoscaling.TerminateInstanceInAutoScalingGroupInput).InstanceId
			res, err := w.e.EC2().DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
			if err != nil {
				w.t.Fatal(err)
			}
			for _, tag := range res.Reservations[0].Instances[0].Tags {
				if *tag.Key == cluster.TagNodeID {
					out = append(out, *tag.Value)
				}
			}
		}
	}
	return out
}

func TestRollBudgetFlags(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newSimWorld(t, 3, nil)
		w.newVersion()
		bad := []struct {
			args []string
			want string
		}{
			{[]string{"--max-unavailable", "0"}, `--max-unavailable must be a whole number of at least 1 or "zone", got "0"`},
			{[]string{"--max-unavailable", "two"}, `got "two"`},
			{[]string{"--max-unavailable", "zone"}, "--max-unavailable zone needs --by-zone"},
			{[]string{"--verify", "true"}, "give --canary N as well"},
			{[]string{"--canary", "-1"}, "--canary must be 0 or more"},
			{[]string{"--pause-after", "-2"}, "--pause-after must be 0"},
			{[]string{"--check-timeout", "0s"}, "--check-timeout must be positive"},
			{[]string{"--only", "01", "--partition", "01"}, "not both"},
			{[]string{"--only", "07"}, "--only names node(s) 07 that the cluster does not have; its nodes are 00, 01, 02"},
			{[]string{"--max-unavailable", "2"}, "--max-unavailable 2 would leave 1 of 3 nodes in service, fewer than the majority of 2 the cluster needs; give --allow-quorum-loss"},
		}
		for _, b := range bad {
			code, _, errOut := w.run("", append([]string{"roll", "--cluster", "demo"}, b.args...)...)
			if code != ExitUsage || !strings.Contains(errOut, b.want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
				t.Errorf("roll %v: exit %d %q; want exit %d and one line saying %q", b.args, code, errOut, ExitUsage, b.want)
			}
		}
		if n := w.e.CountCalls("TerminateInstanceInAutoScalingGroup") + w.e.CountCalls("SuspendProcesses"); n != 0 {
			t.Fatalf("bad flags changed something: %d calls", n)
		}
		// The environment carries the flags, as the Terraform trigger does.
		t.Setenv("STATEFUL_BY_ZONE", "true")
		t.Setenv("STATEFUL_MAX_UNAVAILABLE", "zone")
		t.Setenv("STATEFUL_PAUSE_AFTER", "1")
		code, out, errOut := w.run("", "roll", "--cluster", "demo")
		if code != ExitPaused || !strings.Contains(errOut, "roll paused after 1 replacement(s) as asked; 2 node(s) still to replace: 01, 02; to resume run: stateful roll --cluster demo --max-unavailable zone --by-zone") {
			t.Fatalf("pause after one: exit %d\n%s%s", code, out, errOut)
		}
		if !strings.Contains(out, "one at a time, one zone at a time") {
			t.Errorf("plan does not state the budget:\n%s", out)
		}
		t.Setenv("STATEFUL_PAUSE_AFTER", "0")
		if code, out, errOut := w.run("", "roll", "--cluster", "demo"); code != ExitOK {
			t.Fatalf("resumed roll: exit %d\n%s%s", code, out, errOut)
		}
		if got := strings.Join(w.terminated(), " "); got != "00 01 02" {
			t.Fatalf("terminated %q, want each node once, zone by zone", got)
		}
	})
}

func TestRollCanaryVerifyFailureStopsTheRoll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newSimWorld(t, 3, nil)
		w.newVersion()
		code, out, errOut := w.run("", "roll", "--cluster", "demo", "--canary", "1", "--verify", `test "$STATEFUL_CANARY_NODES" = 99`, "--timeout", "2m")
		if code != ExitStopped || !strings.Contains(errOut, "roll stopped (verify) at node 00") || !strings.Contains(errOut, "no other node was touched") {
			t.Fatalf("failing verify: exit %d\n%s%s", code, out, errOut)
		}
		if got := strings.Join(w.terminated(), " "); got != "00" {
			t.Fatalf("terminated %q; want only the canary 00", got)
		}
		// The same change again: the failure mark refuses it unless cleared
		// (marks_test.go).
		code, out, errOut = w.run("", "roll", "--cluster", "demo", "--canary", "1", "--verify", `test "$STATEFUL_CANARY_NODES" = 01`, "--soak", "30s", "--clear-failure-mark")
		if code != ExitOK || !strings.Contains(out, "verify passed after the canary (01)") || !strings.Contains(out, "soaking the canary for 30s") {
			t.Fatalf("passing verify: exit %d\n%s%s", code, out, errOut)
		}
	})
}

// killedMidReplacement leaves node k as a roll killed between its
// terminate and resume calls leaves it: Launch suspended, instance gone.
func (w *simWorld) killedMidReplacement(k int) {
	w.t.Helper()
	as := w.e.AutoScaling()
	if _, err := as.SuspendProcesses(w.ctx, &autoscaling.SuspendProcessesInput{AutoScalingGroupName: aws.String(w.nodes[k].Group), ScalingProcesses: []string{"Launch"}}); err != nil {
		w.t.Fatal(err)
	}
	id, _ := w.e.InstanceByIP(w.nodes[k].IP)
	if _, err := as.TerminateInstanceInAutoScalingGroup(w.ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{InstanceId: aws.String(id), ShouldDecrementDesiredCapacity: aws.Bool(false)}); err != nil {
		w.t.Fatal(err)
	}
	time.Sleep(2 * time.Minute)
	if m := w.e.Members(w.nodes[k].Group); len(m) != 0 {
		w.t.Fatalf("node %s has %d members with Launch suspended, want none", w.nodes[k].ID, len(m))
	}
}

// status only reads: it shows a Launch a killed roll left suspended, with
// the command that repairs it; recover repairs it holding the cluster's
// lock, and leaves it to a command that holds the lock.
func TestStatusOnlyReadsAndRecoverResumesALaunchAnInterruptedRollLeftSuspended(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newSimWorld(t, 3, nil)
		w.killedMidReplacement(1)
		resumes := func() int { return w.e.CountCalls("ResumeProcesses") }
		code, out, errOut := w.run("", "status", "--cluster", "demo")
		if code != ExitNotInService || resumes() != 0 || strings.Contains(errOut, "resumed") ||
			!strings.Contains(out, "launch-suspended") || !strings.Contains(out, "stateful recover 01 gives it back") {
			t.Fatalf("status: exit %d, %d ResumeProcesses\n%s%s", code, resumes(), out, errOut)
		}
		time.Sleep(3 * time.Minute)
		if code, _, _ := w.run("", "status", "--cluster", "demo"); code != ExitNotInService {
			t.Fatalf("status repaired node 01: exit %d", code)
		}
		// Another command holds the lock: recover leaves the group alone.
		l, err := lock.Acquire(w.ctx, lock.Config{API: w.e.SSM(), Clock: clock.Real{}, Name: lock.Name("demo"), Holder: "stateful roll by test"}, lock.Wait)
		if err != nil {
			t.Fatal(err)
		}
		if code, _, errOut := w.run("", "recover", "01", "--cluster", "demo"); code != ExitOK || resumes() != 0 || !strings.Contains(errOut, "left as it is, for the command holding the lock resumes it") {
			t.Fatalf("recover under another's lock: exit %d, %d ResumeProcesses %s", code, resumes(), errOut)
		}
		if err := l.Release(w.ctx); err != nil {
			t.Fatal(err)
		}
		if code, _, errOut := w.run("", "recover", "01", "--cluster", "demo"); code != ExitOK || !strings.Contains(errOut, "node 01: resumed") {
			t.Fatalf("recover: exit %d %s", code, errOut)
		}
		time.Sleep(3 * time.Minute)
		if code, out, _ := w.run("", "status", "--cluster", "demo"); code != ExitOK {
			t.Fatalf("after recover node 01 should be back: exit %d\n%s", code, out)
		}
	})
}

// Two rolls started together (a Terraform apply and an operator, with
// different --last orders): the second refuses, naming the first, and only
// the first terminates anything. recover --replace is refused too while
// the roll holds the cluster's lock; after the roll, the lock is free.
func TestConcurrentRollsAndReplacementsAreRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newSimWorld(t, 3, nil)
		w.newVersion()
		first := make(chan int, 1)
		go func() {
			code, _, _ := w.run("", "roll", "--cluster", "demo", "--last", "00")
			first <- code
		}()
		time.Sleep(10 * time.Second) // the first roll holds the lock
		code, _, errOut := w.run("", "roll", "--cluster", "demo", "--last", "02")
		if code != ExitRefused || !strings.Contains(errOut, "stateful roll by") || !strings.Contains(errOut, "--break-lock") {
			t.Fatalf("second roll: exit %d %s; want a refusal naming the first", code, errOut)
		}
		code, _, errOut = w.run("", "recover", "00", "--cluster", "demo", "--replace", "--force", "--yes")
		if code != ExitUnsafe || !strings.Contains(errOut, "holds the cluster's lock") {
			t.Fatalf("recover --replace during a roll: exit %d %s", code, errOut)
		}
		if code := <-first; code != ExitOK {
			t.Fatalf("the first roll: exit %d", code)
		}
		seen := map[string]int{}
		for _, c := range w.e.Calls() {
			if in, ok := c.Input.(*autoscaling.TerminateInstanceInAutoScalingGroupInput); ok && c.ErrorCode == "" {
				seen[*in.InstanceId]++
			}
		}
		if len(seen) != 3 {
			t.Fatalf("%d instances terminated, want the first roll's 3: %v", len(seen), seen)
		}
		if code, out, errOut := w.run("", "roll", "--cluster", "demo"); code != ExitOK {
			t.Fatalf("a roll after the first ended: exit %d %s %s", code, out, errOut)
		}
	})
}

// An instance terminated through EC2 stays InService and Healthy in its
// group until the next health check; status must not say the quorum
// holds on Auto Scaling's word alone.
func TestStatusJoinsEC2sViewOfTheInstances(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newSimWorld(t, 3, sim.Sequence(sim.AgentAfter(30*time.Second), sim.AgentAfter(30*time.Second), sim.AgentAfter(30*time.Second), sim.Hang()))
		id, _ := w.e.InstanceByIP(w.nodes[1].IP)
		if _, err := w.e.EC2().TerminateInstances(w.ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
			t.Fatal(err)
		}
		code, out, _ := w.run("", "status", "--cluster", "demo")
		if code != ExitNotInService || !strings.Contains(out, "InService/shutting-down") || !strings.Contains(out, "2 of 3 nodes in service") ||
			!strings.Contains(out, "EC2 says instance "+id+" is shutting-down while Auto Scaling still counts it InService") {
			t.Fatalf("status right after an EC2 termination: exit %d\n%s", code, out)
		}
	})
}
