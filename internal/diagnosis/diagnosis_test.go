package diagnosis

import (
	"strings"
	"testing"
	"time"

	"github.com/stateful-aws/stateful/internal/cluster"
)

var t0 = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// Activities as the simulator and AWS write them.
func launched(id string, start, end time.Duration) cluster.Activity {
	return cluster.Activity{Status: "Successful", Description: "Launching a new EC2 instance: " + id, Start: at(start), End: at(end)}
}

func waitingLaunch(id string, start time.Duration) cluster.Activity {
	return cluster.Activity{Status: "MidLifecycleAction", Description: "Launching a new EC2 instance: " + id, Start: at(start)}
}

func eniRetry(start time.Duration) cluster.Activity {
	msg := "Interface: [eni-0aa] in use. Launching EC2 instance failed."
	return cluster.Activity{Status: "Failed", Description: "Launching a new EC2 instance.  Status Reason: " + msg, Message: msg, Start: at(start), End: at(start)}
}

func cancelled(id, why string, start, end time.Duration) cluster.Activity {
	msg := "Instance failed to complete user's Lifecycle Action: Lifecycle Action with token 1234 was abandoned: " + why
	return cluster.Activity{Status: "Cancelled", Description: "Launching a new EC2 instance: " + id + ".  Status Reason: " + msg, Message: msg, Start: at(start), End: at(end)}
}

func launchFailed(msg string, start time.Duration) cluster.Activity {
	return cluster.Activity{Status: "Failed", Description: "Launching a new EC2 instance.  Status Reason: " + msg, Message: msg, Start: at(start), End: at(start)}
}

func terminating(id string, start time.Duration) cluster.Activity {
	return cluster.Activity{Status: "InProgress", Description: "Terminating EC2 instance: " + id, Start: at(start)}
}

var hooks = []Hook{
	{Name: "demo-node-asg-hook", Transition: LaunchTransition, HeartbeatTimeout: 300 * time.Second, GlobalTimeout: 30000 * time.Second, DefaultResult: "ABANDON"},
	{Name: "demo-node-drain-hook", Transition: TerminateTransition, HeartbeatTimeout: 300 * time.Second},
}

func node(instances ...cluster.Instance) cluster.Node {
	n := cluster.Node{ID: "01", Group: "demo-node-01", ENI: "eni-0aa", ENIStatus: "in-use", Desired: 1, MinSize: 1, MaxSize: 1, Target: 2, Instances: instances,
		Volume: cluster.Volume{ID: "vol-1", State: "in-use"}}
	for _, i := range instances {
		if i.Lifecycle == cluster.InService {
			n.Volume.AttachedTo, n.Volume.Attachment = i.ID, "attached"
		}
	}
	return n
}

func serving(id string) cluster.Instance {
	return cluster.Instance{ID: id, Lifecycle: cluster.InService, Health: "Healthy", Version: 2, EC2State: "running"}
}

func TestDiagnose(t *testing.T) {
	newI := cluster.Instance{ID: "i-new", Lifecycle: cluster.PendingWait, Health: "Healthy", Version: 2, EC2State: "running"}
	cases := []struct {
		name  string
		in    Input
		cause Cause
		// want are phrases the one sentence must carry.
		want []string
		// activity is the status message the diagnosis must point at ("" none).
		activity string
		check    func(t *testing.T, d Diagnosis)
	}{
		{name: "in service and current",
			in:    Input{Node: node(serving("i-1")), Activities: []cluster.Activity{launched("i-1", 0, 40*time.Second)}},
			cause: Serving, want: []string{"i-1 is in service"},
			check: func(t *testing.T, d Diagnosis) {
				if !d.Since.Equal(at(40 * time.Second)) {
					t.Errorf("since = %v, want the end of the launch (in service since then)", d.Since)
				}
			}},
		{name: "in service on an old version",
			in:    Input{Node: func() cluster.Node { n := node(serving("i-1")); n.Target = 3; return n }()},
			cause: Serving, want: []string{"version 2, not its group's 3", "stateful roll"}},
		{name: "hook waiting, times out later; the ENI retries before it do not matter",
			in: Input{Node: node(newI), Hooks: hooks, Now: at(2 * time.Minute),
				Activities: []cluster.Activity{waitingLaunch("i-new", 60*time.Second), eniRetry(50 * time.Second), eniRetry(40 * time.Second), launched("i-old", -time.Hour, -time.Hour+time.Minute)}},
			cause: LaunchHook, want: []string{"i-new waits on launch hook demo-node-asg-hook", "waiting since 10:01:00Z", "times out at 10:06:00Z (in 4m0s) with ABANDON", "recover 01 --abandon"},
			check: func(t *testing.T, d Diagnosis) {
				if !d.TimesOut.Equal(at(6*time.Minute)) || !d.TimesOutLatest.Equal(at(60*time.Second+30000*time.Second)) {
					t.Errorf("times out %v latest %v", d.TimesOut, d.TimesOutLatest)
				}
			}},
		{name: "hook waiting after a launch that timed out: the timeout is named, not the ENI retry after it",
			in: Input{Node: node(newI), Hooks: hooks, Now: at(20 * time.Minute),
				Activities: []cluster.Activity{waitingLaunch("i-new", 15*time.Minute), eniRetry(14 * time.Minute), cancelled("i-prev", "Heartbeat Timeout", 5*time.Minute, 10*time.Minute), eniRetry(4 * time.Minute)}},
			cause: LaunchHook, want: []string{"the launch before it ended in its hook's Heartbeat Timeout at 10:10:00Z"},
			activity: "Heartbeat Timeout"},
		{name: "hook waiting past its first timeout (heartbeats)",
			in:    Input{Node: node(newI), Hooks: hooks, Now: at(20 * time.Minute), Activities: []cluster.Activity{waitingLaunch("i-new", 0)}},
			cause: LaunchHook, want: []string{"past its first timeout at 10:05:00Z", "heartbeats keep it"}},
		{name: "the agent reported its failure and holds the instance",
			in: Input{Node: node(newI), Hooks: hooks, Now: at(2 * time.Minute), Activities: []cluster.Activity{waitingLaunch("i-new", 0)},
				AgentReport: "stateful node bootstrap FAILED for node 01 at step node-script:\n  exit status 3\nlast lines of the node script:\n  | etcd: bad flag"},
			cause: NodeFailed, want: []string{"node agent on i-new failed", "step node-script", "etcd: bad flag", "times out at 10:05:00Z"}},
		{name: "a configuration error: held, one relaunch per hook timeout, fix and abandon",
			in: Input{Node: node(newI), Hooks: hooks, Now: at(2 * time.Minute), History: true, Activities: []cluster.Activity{waitingLaunch("i-new", 0), launched("i-old", -time.Hour, -time.Hour+time.Minute)},
				AgentReport: "prepare-volume: the data volume's owner kafka does not exist", AgentClass: cluster.FailureConfig},
			cause: NodeFailed, want: []string{"a configuration error a relaunch of the same launch-template version cannot fix", "owner kafka does not exist",
				"times out at 10:05:00Z (in 3m0s) with ABANDON: then the group launches again, one launch per hook timeout", "terraform apply, then stateful recover 01 --abandon"}},
		{name: "a refused volume: held, fixed by hand",
			in: Input{Node: node(newI), Hooks: hooks, Now: at(2 * time.Minute), Activities: []cluster.Activity{waitingLaunch("i-new", 0)},
				AgentReport: "prepare-volume: refused", AgentClass: cluster.FailureVolume},
			cause: NodeFailed, want: []string{"a refusal of the data volume", "look at volume vol-1 by hand"}},
		{name: "a first boot is forming: no abandon suggested",
			in:    Input{Node: node(newI), Hooks: hooks, Now: at(2 * time.Minute), History: true, Activities: []cluster.Activity{waitingLaunch("i-new", 0)}},
			cause: Forming, want: []string{"i-new is the node's first boot", "times out at 10:05:00Z"},
			check: func(t *testing.T, d Diagnosis) {
				if d.Fix != "" {
					t.Errorf("a first boot suggests %q", d.Fix)
				}
			}},
		{name: "a first boot before its hook: forming",
			in:    Input{Node: node(cluster.Instance{ID: "i-new", Lifecycle: "Pending"}), Hooks: hooks, Now: at(time.Minute), History: true, Activities: []cluster.Activity{waitingLaunch("i-new", 0)}},
			cause: Forming, want: []string{"first boot (Pending)"}},
		{name: "only the newest activity read: not known to be a first boot",
			in:    Input{Node: node(newI), Hooks: hooks, Now: at(2 * time.Minute), Activities: []cluster.Activity{waitingLaunch("i-new", 0)}},
			cause: LaunchHook, want: []string{"recover 01 --abandon"}},
		{name: "no instance: the last launch's hook timed out, newer ENI retries do not hide it",
			in: Input{Node: node(), Hooks: hooks, Now: at(12 * time.Minute),
				Activities: []cluster.Activity{eniRetry(11 * time.Minute), eniRetry(10*time.Minute + 30*time.Second), cancelled("i-prev", "Heartbeat Timeout", 5*time.Minute, 10*time.Minute), launched("i-old", -time.Hour, -time.Hour+time.Minute)}},
			cause: HookTimedOut, want: []string{"hook timed out at 10:10:00Z (Heartbeat Timeout)"}, activity: "Heartbeat Timeout"},
		{name: "no instance: global timeout",
			in:    Input{Node: node(), Activities: []cluster.Activity{cancelled("i-prev", "Global Timeout", 0, time.Hour)}},
			cause: HookTimedOut, want: []string{"(Global Timeout)"}, activity: "Global Timeout"},
		{name: "no instance: the agent abandoned the launch",
			in:    Input{Node: node(), Activities: []cluster.Activity{eniRetry(3 * time.Minute), cancelled("i-prev", "Lifecycle Action Completed with ABANDON Result", 0, 2*time.Minute)}},
			cause: Abandoned, want: []string{"completed with ABANDON at 10:02:00Z"}, activity: "ABANDON Result"},
		{name: "no instance: the agent abandoned it and left its report",
			in: Input{Node: node(), AbandonedReport: "checksum mismatch for /usr/local/bin/stateful",
				Activities: []cluster.Activity{cancelled("i-prev", "Lifecycle Action Completed with ABANDON Result", 0, 2*time.Minute)}},
			cause: NodeFailed, want: []string{"bootstrap failed and it abandoned the launch at 10:02:00Z: checksum mismatch"}, activity: "ABANDON Result"},
		{name: "hook waiting after a launch the agent abandoned with its report",
			in: Input{Node: node(cluster.Instance{ID: "i-new", Lifecycle: cluster.PendingWait, Health: "Healthy", Version: 2, EC2State: "running"}), Hooks: hooks, Now: at(5 * time.Minute),
				AbandonedReport: "node-script: exit status 3",
				Activities:      []cluster.Activity{waitingLaunch("i-new", 4*time.Minute), eniRetry(3 * time.Minute), cancelled("i-prev", "Lifecycle Action Completed with ABANDON Result", 0, 2*time.Minute)}},
			cause: LaunchHook, want: []string{"i-new waits", "the launch before it ended with ABANDON at 10:02:00Z", ": node-script: exit status 3"}, activity: "ABANDON Result"},
		{name: "no instance: EC2 refuses launches for another reason, amid ENI retries",
			in: Input{Node: node(), Activities: []cluster.Activity{eniRetry(3 * time.Minute),
				launchFailed("We currently do not have sufficient m5.large capacity in the Availability Zone you requested (us-east-1a).", 2*time.Minute), eniRetry(time.Minute)}},
			cause: LaunchFailing, want: []string{"EC2 refuses the group's launches: We currently do not have sufficient m5.large capacity"}, activity: "sufficient"},
		{name: "no instance: only the routine ENI retry",
			in:    Input{Node: node(), Activities: []cluster.Activity{eniRetry(3 * time.Minute), eniRetry(2 * time.Minute), launched("i-old", -time.Hour, -time.Hour+time.Minute)}},
			cause: ENIBusy, want: []string{"ENI eni-0aa is still in use", "routine"}},
		{name: "no instance: the ENI is free now, the next retry takes it",
			in:    Input{Node: func() cluster.Node { n := node(); n.ENIStatus = "available"; return n }(), Activities: []cluster.Activity{eniRetry(3 * time.Minute)}},
			cause: ENIBusy, want: []string{"ENI eni-0aa is free now"}},
		{name: "failures before the last successful launch are history",
			in:    Input{Node: node(), Activities: []cluster.Activity{launched("i-old", -time.Hour, -time.Hour+time.Minute), launchFailed("InsufficientInstanceCapacity", -2*time.Hour)}},
			cause: Launching, want: []string{"it is launching one"}},
		{name: "no instance, nothing failed: launching",
			in:    Input{Node: node()},
			cause: Launching, want: []string{"no instance yet and no failed launch"}},
		{name: "serving while its group's Launch is suspended (a roll stopped between suspend and terminate)",
			in: Input{Node: func() cluster.Node {
				n := node(cluster.Instance{ID: "i-ok", Lifecycle: cluster.InService, Health: "Healthy", Version: 1, EC2State: "running"})
				n.LaunchSuspended = true
				return n
			}()},
			cause: LaunchSuspended, want: []string{"i-ok is in service", "nothing launches its replacement"}},
		{name: "InService without the agent's ready mark: a hook completed by someone else",
			in:    Input{Node: node(cluster.Instance{ID: "i-new", Lifecycle: cluster.InService, Health: "Healthy", Version: 1, EC2State: "running", Tagged: true})},
			cause: VolumeDetached, want: []string{"never marked it ready", "stateful:ready"}},
		{name: "launch suspended",
			in:    Input{Node: func() cluster.Node { n := node(); n.LaunchSuspended = true; return n }(), Activities: []cluster.Activity{eniRetry(0)}},
			cause: LaunchSuspended, want: []string{"Launch process suspended"}},
		{name: "the old instance waits on its drain hook",
			in:    Input{Node: node(cluster.Instance{ID: "i-old", Lifecycle: "Terminating:Wait", Health: "Healthy"}), Hooks: hooks, Activities: []cluster.Activity{terminating("i-old", 0)}},
			cause: DrainHook, want: []string{"i-old waits on termination hook demo-node-drain-hook", "--continue"}},
		{name: "the old instance is terminating, no failure",
			in:    Input{Node: node(cluster.Instance{ID: "i-old", Lifecycle: "Terminating", Health: "Healthy"}), Activities: []cluster.Activity{terminating("i-old", 0)}},
			cause: Terminating, want: []string{"old instance i-old is Terminating"}},
		{name: "desired 0: capacity, not launching",
			in:    Input{Node: func() cluster.Node { n := node(); n.Desired, n.MinSize = 0, 0; return n }()},
			cause: Capacity, want: []string{"desired 0, min 0, max 1", "launches no instance"}},
		{name: "desired 2 with launches failing forever while the node serves",
			in: Input{Node: func() cluster.Node { n := node(serving("i-1")); n.Desired, n.MaxSize = 2, 2; return n }(),
				Activities: []cluster.Activity{eniRetry(3 * time.Minute), eniRetry(2 * time.Minute)}},
			cause: Capacity, want: []string{"desired 2, min 1, max 2", "1 more instance(s)"}, activity: "in use"},
		{name: "EC2 stopped it, Auto Scaling has not noticed",
			in:    Input{Node: node(cluster.Instance{ID: "i-1", Lifecycle: cluster.InService, Health: "Healthy", Version: 2, EC2State: "stopped"})},
			cause: Impaired, want: []string{"EC2 says instance i-1 is stopped"}},
		{name: "unhealthy",
			in:    Input{Node: node(cluster.Instance{ID: "i-1", Lifecycle: cluster.InService, Health: "Unhealthy", Version: 2, EC2State: "running"})},
			cause: Impaired, want: []string{"i-1 is Unhealthy"}},
		{name: "in service without its volume",
			in: Input{Node: func() cluster.Node {
				n := node(serving("i-1"))
				n.Volume = cluster.Volume{ID: "vol-1", State: "available"}
				return n
			}()},
			cause: VolumeDetached, want: []string{"vol-1 is not attached to any instance"}},
		{name: "in service, volume attached to another instance",
			in: Input{Node: func() cluster.Node {
				n := node(serving("i-1"))
				n.Volume = cluster.Volume{ID: "vol-1", State: "in-use", AttachedTo: "i-9", Attachment: "attached"}
				return n
			}()},
			cause: VolumeDetached, want: []string{"attached to i-9, another instance"}},
		{name: "a group moved to a launch configuration, serving",
			in: Input{Node: func() cluster.Node {
				n := node(serving("i-1"))
				n.Unsupported, n.Target = "uses the launch configuration legacy, not a launch template", 0
				return n
			}()},
			cause: Unsupported, want: []string{"uses the launch configuration legacy", "no roll replaces it"}},
		{name: "standby",
			in:    Input{Node: node(cluster.Instance{ID: "i-1", Lifecycle: "Standby", Health: "Healthy"})},
			cause: Standby, want: []string{"i-1 is in Standby", "exit-standby"}},
		{name: "detached",
			in:    Input{Node: node(cluster.Instance{ID: "i-1", Lifecycle: "Detaching", Health: "Healthy"})},
			cause: Detached, want: []string{"i-1 is detaching"}},
		{name: "booting",
			in:    Input{Node: node(cluster.Instance{ID: "i-1", Lifecycle: "Pending", Health: "Healthy"}), Activities: []cluster.Activity{waitingLaunch("i-1", 0)}},
			cause: Launching, want: []string{"i-1 is booting"}},
		{name: "a roll's old instance terminating beside the new one waiting: the new one is the node",
			in: Input{Node: node(cluster.Instance{ID: "i-old", Lifecycle: "Terminating", Health: "Healthy"}, newI), Hooks: hooks, Now: at(time.Minute),
				Activities: []cluster.Activity{waitingLaunch("i-new", 30*time.Second), terminating("i-old", 0)}},
			cause: LaunchHook, want: []string{"i-new waits"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Diagnose(c.in)
			if d.Cause != c.cause {
				t.Fatalf("cause %q, want %q: %s", d.Cause, c.cause, d.Summary)
			}
			for _, w := range c.want {
				if !strings.Contains(d.Summary, w) && !strings.Contains(d.Fix, w) {
					t.Errorf("diagnosis lacks %q:\n  %s\n  fix: %s", w, d.Summary, d.Fix)
				}
			}
			if strings.Contains(d.Summary, "\n") {
				t.Errorf("not one line: %q", d.Summary)
			}
			switch {
			case c.activity == "" && d.Activity != nil && c.cause != LaunchHook && c.cause != ENIBusy:
				t.Errorf("points at activity %q, want none", d.Activity.Message)
			case c.activity != "" && (d.Activity == nil || !strings.Contains(d.Activity.Message, c.activity)):
				t.Errorf("activity %+v, want the one saying %q", d.Activity, c.activity)
			}
			if c.check != nil {
				c.check(t, d)
			}
		})
	}
}

// Whatever the order and number of routine ENI retries around it, a real
// failure since the last successful launch is the one named.
func TestENIRetriesNeverHideTheRealCause(t *testing.T) {
	real := []cluster.Activity{
		cancelled("i-p", "Heartbeat Timeout", 0, time.Minute),
		cancelled("i-p", "Lifecycle Action Completed with ABANDON Result", 0, time.Minute),
		launchFailed("You are not authorized to perform this operation.", 0),
	}
	wants := []Cause{HookTimedOut, Abandoned, LaunchFailing}
	for k, r := range real {
		for before := 0; before < 4; before++ {
			for after := 0; after < 4; after++ {
				var acts []cluster.Activity
				for range before {
					acts = append(acts, eniRetry(2*time.Minute))
				}
				acts = append(acts, r)
				for range after {
					acts = append(acts, eniRetry(-time.Minute))
				}
				acts = append(acts, launched("i-old", -time.Hour, -time.Hour+time.Minute))
				if d := Diagnose(Input{Node: node(), Activities: acts}); d.Cause != wants[k] || d.Activity == nil || d.Activity.Message != r.Message {
					t.Errorf("%d retries before, %d after %q: %s (%s)", before, after, r.Message, d.Cause, d.Summary)
				}
			}
		}
	}
}

func TestNeedsAttentionNamesEveryFlaggedGroup(t *testing.T) {
	ok := node(serving("i-1"))
	wide := node(serving("i-2"))
	wide.ID, wide.Group, wide.Desired, wide.MaxSize = "02", "demo-node-02", 2, 2
	bad := node(serving("i-3"))
	bad.ID, bad.Group, bad.Volume.AttachedTo = "03", "demo-node-03", ""
	down := node()
	down.ID, down.Group = "04", "demo-node-04"
	nodes := []cluster.Node{ok, wide, bad, down}
	diags := map[string]Diagnosis{}
	for _, n := range nodes {
		diags[n.ID] = Diagnose(Input{Node: n})
	}
	flags := NeedsAttention(nodes, diags)
	if len(flags) != 2 || flags[0].Node != "02" || flags[0].Cause != Capacity || flags[1].Node != "03" || flags[1].Cause != VolumeDetached {
		t.Fatalf("flags: %+v", flags)
	}
	want := "refusing to roll: stateful status flags 2 groups as needing attention: demo-node-02 (node 02: capacity 2/1/2 desired/min/max, not 1/1/1), demo-node-03 (node 03: volume-not-attached); fix them first (stateful status says how for each)"
	if got := Refusal(flags); got != want {
		t.Fatalf("refusal:\n got %s\nwant %s", got, want)
	}
	if Refusal(nil) != "" {
		t.Fatal("a refusal without flags")
	}
}
