package lab

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/stateful-aws/stateful/internal/clock"
)

// Issue 25 item 1, end to end: a data volume owned by a user the node
// script creates comes up (the agent applies the owner after
// configure_cluster_node; the script's health wait checks it).
func TestAnOwnerTheNodeScriptCreatesComesUp(t *testing.T) {
	l := startLab(t, "testdata/owner-created")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	group := l.Nodes()[0].Group
	for {
		if m := l.Engine.Members(group); len(m) == 1 && m[0].Lifecycle == "InService" {
			break
		}
		for _, c := range l.Engine.Calls() {
			if in, ok := c.Input.(*autoscaling.CompleteLifecycleActionInput); ok && *in.LifecycleActionResult == "ABANDON" {
				t.Fatalf("the node abandoned its launch: %+v", c)
			}
		}
		if err := clock.Sleep(ctx, clock.Real{}, 250*time.Millisecond); err != nil {
			t.Fatalf("node 00 not in service within 3 minutes: %v", l.agentsFailed())
		}
	}
}

// A volume owned by a user nothing creates: the agent holds its instance
// (no relaunch loop), and the demo says the failure as it happens and stops
// at once, with no empty report.
func TestAConfigurationErrorIsHeldAndSaidAtOnce(t *testing.T) {
	l := startLab(t, "testdata/owner-missing")
	var progress bytes.Buffer
	start := time.Now()
	r, err := l.Demo(context.Background(), DefaultScenario, &progress)
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "the data volume's owner stlabnone:stlabnone does not exist even after configure_cluster_node ran") ||
		!strings.Contains(err.Error(), "a relaunch cannot fix it") {
		t.Fatalf("demo: %v\n%s", err, progress.String())
	}
	if took > 2*time.Minute {
		t.Errorf("the demo stopped %s after it started: the failure was not said as it happened", took.Round(time.Second))
	}
	if !strings.Contains(progress.String(), "node 00: the agent on i-") {
		t.Errorf("the failure is not in the timeline:\n%s", progress.String())
	}
	var report bytes.Buffer
	r.Print(&report)
	if strings.Contains(report.String(), "0 of 0") || !strings.Contains(report.String(), "agent failure: node 00") {
		t.Errorf("report:\n%s", report.String())
	}
	launches, abandons := 0, 0
	for _, c := range l.Engine.Calls() {
		if in, ok := c.Input.(*autoscaling.CompleteLifecycleActionInput); ok && *in.LifecycleActionResult == "ABANDON" {
			abandons++
		}
	}
	for _, m := range l.Engine.Members(l.Nodes()[0].Group) {
		launches++
		if m.Lifecycle != "Pending:Wait" {
			t.Errorf("instance %s is %s, want held in Pending:Wait", m.ID, m.Lifecycle)
		}
	}
	if abandons != 0 || launches != 1 {
		t.Errorf("%d ABANDONs, %d instances: want the one instance held", abandons, launches)
	}
}

// agentsFailed is what the agents' logs say went wrong, for a message.
func (l *Lab) agentsFailed() []AgentFailure {
	w := &agentWatch{read: map[string]int64{}, seen: map[string]bool{}}
	return w.scan(l)
}
