package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/diagnosis"
	"github.com/stateful-aws/stateful/internal/lock"
	"github.com/stateful-aws/stateful/internal/sim"
)

// The tests of this file go through issue 15's items as an operator meets
// them, against the simulator, in text and in JSON.

// jsonLines decodes JSON-lines output into events.
func jsonLines(t *testing.T, out string) []Event {
	t.Helper()
	var evs []Event
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev Event
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("not a JSON line: %q (%v)", l, err)
		}
		evs = append(evs, ev)
	}
	return evs
}

func lastEvent(t *testing.T, out string) Event {
	evs := jsonLines(t, out)
	return evs[len(evs)-1]
}

// Item 1: a node whose launch hook timed out, followed by routine ENI
// retries while the abandoned instance shut down, is explained by the
// timeout (by the roll's failure message, recover in text and JSON, and
// status); once the group relaunched and that boot hangs too, by the hook
// holding it, with when it times out and the timeout before it.
func TestDiagnosisNamesTheTimeoutNotTheENIRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ok := sim.AgentAfter(30 * time.Second)
		w := newSimWorld(t, 3, sim.Sequence(ok, ok, ok, sim.Hang()))
		w.newVersion()
		code, rollOut, errOut := w.run("", "roll", "--cluster", "demo", "--timeout", "8m")
		if code != ExitStopped || !strings.Contains(errOut, "diagnosis: the last launch's hook timed out") || !strings.Contains(errOut, "Heartbeat Timeout") || strings.Contains(errOut, "in use") {
			t.Fatalf("the roll's failure should name the timeout, not the ENI retry: exit %d\n%s", code, errOut)
		}
		if strings.Count(rollOut, "event=failed") != 1 || !strings.Contains(rollOut, "event=failed node_id=00 instance_id=i-") || !strings.Contains(rollOut, "exit_code=4") ||
			!strings.Contains(rollOut, `command="stateful recover 00 --cluster demo"`) {
			t.Fatalf("one failed event with the exit code and the command:\n%s", rollOut)
		}
		time.Sleep(time.Minute) // amid the ENI retries, before the relaunch
		var retries int
		acts, _ := w.e.AutoScaling().DescribeScalingActivities(w.ctx, &autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: aws.String("demo-node-00")})
		for _, a := range acts.Activities {
			if strings.Contains(aws.ToString(a.StatusMessage), "in use") {
				retries++
			}
		}
		if retries == 0 || !strings.Contains(aws.ToString(acts.Activities[0].StatusMessage), "in use") {
			t.Fatal("the newest activity should be a routine ENI retry, or the test proves nothing")
		}
		code, out, _ := w.run("", "recover", "00", "--cluster", "demo")
		if code != ExitOK || !strings.Contains(out, "diagnosis (hook-timed-out): the last launch's hook timed out") || !strings.Contains(out, "scaling activity") || strings.Contains(out, "in use") {
			t.Fatalf("recover after %d ENI retries: exit %d\n%s", retries, code, out)
		}
		code, out, _ = w.run("", "recover", "00", "--cluster", "demo", "-o", "json")
		if ev := lastEvent(t, out); code != ExitOK || ev.Kind != "diagnosis" || ev.Diagnosis == nil || ev.Diagnosis.Cause != diagnosis.HookTimedOut ||
			ev.Diagnosis.Activity == nil || !strings.HasSuffix(ev.Diagnosis.Activity.Message, "Heartbeat Timeout") {
			t.Fatalf("recover -o json: exit %d\n%s", code, out)
		}
		if code, out, _ := w.run("", "status", "--cluster", "demo"); code != ExitNotInService || !strings.Contains(out, "hook-timed-out") || strings.Contains(out, "in use") {
			t.Fatalf("status: exit %d\n%s", code, out)
		}
		time.Sleep(2 * time.Minute) // the ENI is free; the relaunch hangs too
		code, out, _ = w.run("", "recover", "00", "--cluster", "demo")
		for _, want := range []string{"diagnosis (launch-hook)", "times out at", "the launch before it ended in its hook's Heartbeat Timeout"} {
			if code != ExitOK || !strings.Contains(out, want) {
				t.Errorf("recover of the relaunch lacks %q (exit %d):\n%s", want, code, out)
			}
		}
		code, out, _ = w.run("", "recover", "00", "--cluster", "demo", "-o", "json")
		if ev := lastEvent(t, out); code != ExitOK || ev.Diagnosis == nil || ev.Diagnosis.Cause != diagnosis.LaunchHook || ev.Diagnosis.TimesOut.IsZero() {
			t.Fatalf("recover -o json of the relaunch: exit %d\n%s", code, out)
		}
	})
}

// The agent's failure summary, left on its instance, is what recover and
// status show for a launch it abandoned, and beside the hook holding the
// launch after it.
func TestDiagnosisShowsTheAgentsFailureSummary(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ok := sim.AgentAfter(30 * time.Second)
		report := "node-script: the node script failed: exit status 3; script output: etcd: unknown flag --bogus"
		w := newSimWorld(t, 3, sim.Sequence(ok, ok, ok, sim.FailAfter(30*time.Second, report), sim.Hang()))
		id, _ := w.e.InstanceByIP(w.nodes[2].IP)
		_ = w.e.LoseInstance(id)
		time.Sleep(2 * time.Minute) // the relaunch boots and its agent fails
		code, out, _ := w.run("", "recover", "02", "--cluster", "demo")
		if code != ExitOK || !strings.Contains(out, "diagnosis (node-failed): the node agent's bootstrap failed and it abandoned the launch") || !strings.Contains(out, "etcd: unknown flag --bogus") {
			t.Fatalf("recover after the agent abandoned: exit %d\n%s", code, out)
		}
		code, out, _ = w.run("", "status", "--cluster", "demo", "-o", "json")
		var doc struct {
			Nodes []nodeStatus `json:"nodes"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil || code != ExitNotInService {
			t.Fatalf("exit %d %v\n%s", code, err, out)
		}
		if d := doc.Nodes[2].Diagnosis; d.Cause != diagnosis.NodeFailed || !strings.Contains(d.Summary, "exit status 3") {
			t.Fatalf("node 02's diagnosis in JSON: %+v", d)
		}
		time.Sleep(3 * time.Minute) // the next launch hangs in its hook
		if code, out, _ := w.run("", "recover", "02", "--cluster", "demo"); code != ExitOK || !strings.Contains(out, "diagnosis (launch-hook)") || !strings.Contains(out, "etcd: unknown flag --bogus") {
			t.Fatalf("recover of the launch after it: exit %d\n%s", code, out)
		}
	})
}

// Item 2: --dry-run with a node out of service prints the plan and why the
// roll would wait, at once, in text and JSON.
func TestDryRunNeverWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ok := sim.AgentAfter(30 * time.Second)
		w := newSimWorld(t, 3, sim.Sequence(ok, ok, ok, sim.Hang()))
		w.newVersion()
		id, _ := w.e.InstanceByIP(w.nodes[1].IP)
		_ = w.e.LoseInstance(id)
		time.Sleep(time.Minute)
		for _, output := range []string{"text", "json"} {
			start := time.Now()
			code, out, errOut := w.run("", "roll", "--cluster", "demo", "--dry-run", "-o", output)
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("%s: the dry run waited %s of simulated time", output, took)
			}
			if code != ExitRefused || !strings.Contains(out, "would replace 3 of 3 nodes") || !strings.Contains(errOut, "would wait up to 10m0s") {
				t.Fatalf("%s: exit %d\n%s%s", output, code, out, errOut)
			}
			if output == "json" {
				if ev := lastEvent(t, out); ev.Kind != "failed" || ev.Node != "01" || ev.Diagnosis == nil || ev.Cause == "" || ev.ExitCode == nil || *ev.ExitCode != ExitRefused {
					t.Fatalf("the last JSON event should be the failed one naming node 01 and its diagnosis:\n%s", out)
				}
			}
		}
		if n := w.e.CountCalls("TerminateInstanceInAutoScalingGroup") + w.e.CountCalls("SuspendProcesses") + w.e.CountCalls("ResumeProcesses") + w.e.CountCalls("CreateOrUpdateTags"); n != 0 {
			t.Fatalf("a dry run made %d changing calls", n)
		}
	})
}

// Item 4: a roll interrupted by a signal, or by losing AWS, ends with one
// sentence naming the node it was replacing, the state it left and the
// command that resumes, with exit codes other than "a node failed"; the
// command it names finishes the roll.
func TestInterruptedRollSaysWhereItStopped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newSimWorld(t, 3, nil)
		w.newVersion()
		ctx, cancel := context.WithCancel(w.ctx)
		var code int
		var out, errOut string
		done := make(chan struct{})
		go func() {
			defer close(done)
			sw := *w
			sw.ctx = ctx
			code, out, errOut = sw.run("", "roll", "--cluster", "demo", "-o", "json")
		}()
		time.Sleep(20 * time.Second) // node 00 is mid-replacement
		cancel()
		<-done
		if code != ExitInterrupted || !strings.Contains(errOut, "roll interrupted by a signal: node 00's old instance i-") || !strings.Contains(errOut, "run stateful roll --cluster demo to resume") {
			t.Fatalf("Ctrl-C: exit %d\n%s", code, errOut)
		}
		if ev := lastEvent(t, out); ev.Kind != "interrupted" || ev.Node != "00" || ev.Instance == "" || ev.Command != "stateful roll --cluster demo" || *ev.ExitCode != ExitInterrupted {
			t.Fatalf("interrupted event: %+v", ev)
		}
		// Lost AWS: every call fails to connect once node 01 is under way.
		var terminations int
		lost := func(string) bool { return terminations > 0 }
		d := deps{
			clients: func(context.Context, *awsFlags) (awsapi.AutoScaling, awsapi.EC2, error) {
				return &flakyAS{AutoScaling: w.e.AutoScaling(), down: lost, terminated: &terminations}, w.e.EC2(), nil
			},
			params: func(context.Context, *awsFlags) (lock.API, error) {
				return flakySSM{API: w.e.SSM(), down: func() bool { return terminations > 0 }}, nil
			},
			clock: clock.Real{}, terminal: func(any) bool { return false },
		}
		var o, e strings.Builder
		code = execute(w.ctx, []string{"roll", "--cluster", "demo"}, IO{In: strings.NewReader(""), Out: &o, Err: &e}, d)
		if code != ExitUnreachable || !strings.Contains(e.String(), "roll lost AWS (cannot reach AWS for autoscaling:DescribeAutoScalingGroups: connection refused") || !strings.Contains(e.String(), "node 01's old instance i-") ||
			!strings.Contains(e.String(), "run stateful roll --cluster demo to resume") || !strings.Contains(o.String(), "event=interrupted node_id=01") {
			t.Fatalf("lost AWS: exit %d\n%s%s", code, o.String(), e.String())
		}
		if !strings.Contains(e.String(), "lock could not be released: the next command takes it after watching it unrenewed for its lease (--lock-wait 11m), or sooner with --break-lock") {
			t.Fatalf("with AWS lost the lock stays; the message should say so:\n%s", e.String())
		}
		if code, out, errOut := w.run("", "roll", "--cluster", "demo", "--break-lock"); code != ExitOK {
			t.Fatalf("the resume command should finish the roll: exit %d\n%s%s", code, out, errOut)
		}
	})
}

// flakyAS fails every Auto Scaling call with a connection error once down
// says so, and counts terminations.
type flakyAS struct {
	awsapi.AutoScaling
	down       func(op string) bool
	terminated *int
}

func refused(op string) error {
	return &smithy.OperationError{ServiceID: "Auto Scaling", OperationName: op, Err: &smithyhttp.RequestSendError{Err: &connRefused{}}}
}

type connRefused struct{}

func (*connRefused) Error() string { return "dial tcp 127.0.0.1:443: connect: connection refused" }

func (f *flakyAS) DescribeAutoScalingGroups(ctx context.Context, in *autoscaling.DescribeAutoScalingGroupsInput, o ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error) {
	if f.down("DescribeAutoScalingGroups") {
		return nil, refused("DescribeAutoScalingGroups")
	}
	return f.AutoScaling.DescribeAutoScalingGroups(ctx, in, o...)
}

func (f *flakyAS) DeleteTags(ctx context.Context, in *autoscaling.DeleteTagsInput, o ...func(*autoscaling.Options)) (*autoscaling.DeleteTagsOutput, error) {
	if f.down("DeleteTags") {
		return nil, refused("DeleteTags")
	}
	return f.AutoScaling.DeleteTags(ctx, in, o...)
}

func (f *flakyAS) TerminateInstanceInAutoScalingGroup(ctx context.Context, in *autoscaling.TerminateInstanceInAutoScalingGroupInput, o ...func(*autoscaling.Options)) (*autoscaling.TerminateInstanceInAutoScalingGroupOutput, error) {
	out, err := f.AutoScaling.TerminateInstanceInAutoScalingGroup(ctx, in, o...)
	if err == nil {
		*f.terminated++
	}
	return out, err
}

// Item 5: capacity mistakes are seen: a group at desired 0 is not
// "launching", a group at desired 2 whose extra launches fail is not "in
// service, exit 0"; status shows desired/min/max where it is not 1/1/1.
func TestStatusSeesCapacityMistakes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newSimWorld(t, 3, nil)
		set := func(group string, min, desired, max int32) {
			if _, err := w.e.AutoScaling().UpdateAutoScalingGroup(w.ctx, &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String(group),
				MinSize: aws.Int32(min), MaxSize: aws.Int32(max), DesiredCapacity: aws.Int32(desired)}); err != nil {
				t.Fatal(err)
			}
		}
		set("demo-node-01", 0, 0, 1)
		set("demo-node-02", 1, 2, 2)
		time.Sleep(3 * time.Minute)
		code, out, _ := w.run("", "status", "--cluster", "demo")
		for _, want := range []string{"CAPACITY", "0/0/1", "2/1/2", "node 01: group demo-node-01 has desired 0, min 0, max 1: it launches no instance",
			"node 02: group demo-node-02 has desired 2, min 1, max 2", "update-auto-scaling-group"} {
			if !strings.Contains(out, want) {
				t.Errorf("status lacks %q:\n%s", want, out)
			}
		}
		if code != ExitNotInService || strings.Contains(out, "launching") {
			t.Fatalf("exit %d, want %d:\n%s", code, ExitNotInService, out)
		}
		code, out, _ = w.run("", "status", "--cluster", "demo", "-o", "json")
		var doc struct {
			Nodes []nodeStatus `json:"nodes"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil || code != ExitNotInService {
			t.Fatalf("exit %d, %v\n%s", code, err, out)
		}
		if n := doc.Nodes[2]; n.Desired != 2 || n.MinSize != 1 || n.MaxSize != 2 || n.Diagnosis.Cause != diagnosis.Capacity || !n.InService {
			t.Fatalf("node 02 in JSON: %+v", n)
		}
		if n := doc.Nodes[1]; n.Diagnosis.Cause != diagnosis.Capacity || n.InService {
			t.Fatalf("node 01 in JSON: %+v", n)
		}
	})
}

// Item 7: every output mode complete: status fits 120 columns in every
// state (wide for more), counts SINCE from the last state change, shows
// IP and volume with --asg, and does not pass a node without its volume;
// roll's refusal emits a failed event in key=value and JSON with the same
// keys; --last with an unknown node is refused.
func TestOutputModesAreComplete(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ok := sim.AgentAfter(30 * time.Second)
		w := newSimWorld(t, 3, sim.Sequence(ok, ok, ok, sim.ContinueAfter(30*time.Second), sim.Hang()))
		time.Sleep(time.Hour)
		// Node 01 comes back without its volume (a boot that skipped the
		// attach); node 02 hangs in its hook.
		for _, k := range []int{1, 2} {
			id, _ := w.e.InstanceByIP(w.nodes[k].IP)
			_ = w.e.LoseInstance(id)
			time.Sleep(3 * time.Minute)
		}
		code, out, _ := w.run("", "status", "--cluster", "demo")
		for _, l := range strings.Split(out, "\n") {
			if len(l) > 120 {
				t.Errorf("a %d-column line: %q", len(l), l)
			}
		}
		if code != ExitNotInService || !strings.Contains(out, "node 01: instance i-") || !strings.Contains(out, "volume-not-attached") {
			t.Fatalf("a node without its volume: exit %d\n%s", code, out)
		}
		// SINCE counts from the state change: node 00 has served for over
		// an hour, node 01 for under three minutes.
		rows := map[string]string{}
		for _, l := range strings.Split(out, "\n") {
			if f := strings.Fields(l); len(f) > 0 {
				rows[f[0]] = l
			}
		}
		if !strings.Contains(rows["00"], " 1h") || strings.Contains(rows["01"], " 1h") {
			t.Errorf("SINCE should count from the last state change:\n%s", out)
		}
		if _, wide, _ := w.run("", "status", "--cluster", "demo", "-o", "wide"); !strings.Contains(wide, "LAST ACTIVITY") || !strings.Contains(wide, w.nodes[0].Volume) {
			t.Errorf("wide table:\n%s", wide)
		}
		if _, byASG, _ := w.run("", "status", "--asg", "demo-node-00"); !strings.Contains(byASG, w.nodes[0].IP) || !strings.Contains(byASG, "attached") {
			t.Errorf("status --asg should show the IP and the volume:\n%s", byASG)
		}
		w.newVersion()
		code, out, _ = w.run("", "roll", "--cluster", "demo", "--timeout", "1m")
		// The roll agrees with status: node 01, InService without its
		// volume, is out of service too, and named first.
		if code != ExitRefused || !strings.Contains(out, "event=failed node_id=01") || !strings.Contains(out, "exit_code=3") || !strings.Contains(out, "cause=volume-not-attached") {
			t.Fatalf("refusal in key=value: exit %d\n%s", code, out)
		}
		code, out, _ = w.run("", "roll", "--cluster", "demo", "--timeout", "1m", "-o", "json")
		if ev := lastEvent(t, out); code != ExitRefused || ev.Kind != "failed" || ev.Node != "01" || !strings.Contains(out, `"node_id":"01"`) || strings.Contains(out, `"node":`) {
			t.Fatalf("refusal in JSON: exit %d\n%s", code, out)
		}
		if code, _, errOut := w.run("", "roll", "--cluster", "demo", "--last", "07"); code != ExitUsage || !strings.Contains(errOut, "--last names node(s) 07 that the cluster does not have") {
			t.Fatalf("--last 07: exit %d %s", code, errOut)
		}
		if code, _, errOut := w.run("", "recover", "01", "--cluster", "demo", "--abandon", "--yes", "-o", "json"); code != ExitUsage || !strings.Contains(errOut, "no instance waiting") {
			t.Fatalf("recover refusal: exit %d %s", code, errOut)
		}
	})
}

// Every event kind renders in every mode, with the same keys in key=value
// and JSON.
func TestEveryEventKindRendersInEveryMode(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d := diagnosis.Diagnosis{Cause: diagnosis.LaunchHook, Summary: "instance i-2 waits on launch hook h", Instance: "i-2"}
	for kind := range EventKinds {
		ev := Event{At: start.Add(time.Second), Kind: kind, Node: "01", Instance: "i-2", Message: kind + " message", Nodes: []string{"01", "02"},
			Took: time.Second, Cause: string(d.Cause), Diagnosis: &d, Command: "stateful roll --cluster demo", ExitCode: exitCode(3)}
		for _, mode := range []struct {
			output string
			tty    bool
		}{{"text", true}, {"text", false}, {"json", false}} {
			var b strings.Builder
			w := newEventWriter(&b, mode.output, mode.tty, start)
			w.write(ev)
			got := b.String()
			switch {
			case kind == "progress" && mode.tty:
				if !strings.Contains(got, "progress message") {
					t.Errorf("%s on a terminal: %q", kind, got)
				}
			case kind == "progress":
				if got != "" {
					t.Errorf("progress off a terminal should print nothing: %q", got)
				}
			case mode.output == "json":
				var back Event
				if err := json.Unmarshal([]byte(got), &back); err != nil || back.Kind != kind || back.Node != "01" || back.Instance != "i-2" || back.Command == "" || back.Diagnosis == nil || *back.ExitCode != 3 {
					t.Errorf("%s in JSON: %q", kind, got)
				}
				for _, key := range []string{`"event"`, `"node_id"`, `"instance_id"`, `"nodes"`, `"took_ns"`, `"cause"`, `"exit_code"`, `"command"`, `"message"`} {
					if !strings.Contains(got, key) {
						t.Errorf("%s in JSON lacks %s: %q", kind, key, got)
					}
				}
			case mode.tty:
				if !strings.Contains(got, kind+" message") || !strings.Contains(got, "run: stateful roll") {
					t.Errorf("%s on a terminal: %q", kind, got)
				}
			default:
				for _, kv := range []string{"event=" + kind, "node_id=01", "instance_id=i-2", "nodes=01,02", "took_ns=1000000000", "cause=launch-hook", "exit_code=3", `command="stateful roll --cluster demo"`} {
					if !strings.Contains(got, kv) {
						t.Errorf("%s in key=value lacks %s: %q", kind, kv, got)
					}
				}
			}
		}
	}
}

// Issue 25 item 4: the roll refuses groups status flags as needing
// attention, naming them, and terminates nothing.
func TestRollRefusesGroupsStatusFlags(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newSimWorld(t, 3, nil)
		if _, err := w.e.AutoScaling().UpdateAutoScalingGroup(w.ctx, &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String("demo-node-02"),
			MinSize: aws.Int32(1), MaxSize: aws.Int32(2), DesiredCapacity: aws.Int32(2)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Minute)
		w.newVersion()
		code, out, errOut := w.run("", "roll", "--cluster", "demo")
		want := "refusing to roll: stateful status flags 1 group as needing attention: demo-node-02 (node 02: capacity 2/1/2 desired/min/max, not 1/1/1)"
		if code != ExitRefused || !strings.Contains(out+errOut, want) || w.e.CountCalls("TerminateInstanceInAutoScalingGroup") != 0 {
			t.Fatalf("exit %d, %d terminations:\n%s%s", code, w.e.CountCalls("TerminateInstanceInAutoScalingGroup"), out, errOut)
		}
	})
}
