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
	"github.com/stateful-aws/stateful/internal/evict"
	"github.com/stateful-aws/stateful/internal/lock"
	"github.com/stateful-aws/stateful/internal/sim"
)

// runWithIAM runs a command with the simulator's IAM too, as defaultDeps
// has the real one.
func (w *simWorld) runWithIAM(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	d := deps{
		clients: func(context.Context, *awsFlags) (awsapi.AutoScaling, awsapi.EC2, error) {
			return w.e.AutoScaling(), w.e.EC2(), nil
		},
		params:   func(context.Context, *awsFlags) (lock.API, error) { return w.e.SSM(), nil },
		iam:      func(context.Context, *awsFlags) (awsapi.IAM, string, error) { return w.e.IAM(), w.e.Region(), nil },
		clock:    clock.Real{},
		terminal: func(any) bool { return false },
	}
	code := execute(w.ctx, args, IO{In: strings.NewReader(""), Out: &out, Err: &errb}, d)
	return code, out.String(), errb.String()
}

// revokedBefore is the cutoff of the revocation policy on node's role, or
// the zero time when it has none.
func (w *simWorld) revokedBefore(n sim.NodeSpec) time.Time {
	w.t.Helper()
	doc, ok := w.e.RolePolicy(cluster.RoleName(n.Group, w.e.Region()), evict.PolicyName)
	if !ok {
		return time.Time{}
	}
	var p struct {
		Statement []struct {
			Effect    string
			Condition map[string]map[string]string
		}
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil || len(p.Statement) != 1 || p.Statement[0].Effect != "Deny" {
		w.t.Fatalf("node %s's revocation policy: %v %s", n.ID, err, doc)
	}
	at, err := time.Parse(time.RFC3339, p.Statement[0].Condition["DateLessThan"]["aws:TokenIssueTime"])
	if err != nil {
		w.t.Fatalf("node %s's revocation policy: %v %s", n.ID, err, doc)
	}
	return at
}

// current is node n's instance and its launch.
func (w *simWorld) current(n sim.NodeSpec) (string, time.Time) {
	w.t.Helper()
	g, err := w.e.AutoScaling().DescribeAutoScalingGroups(w.ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{n.Group}})
	if err != nil || len(g.AutoScalingGroups) != 1 || len(g.AutoScalingGroups[0].Instances) != 1 {
		w.t.Fatalf("node %s's group: %v %+v", n.ID, err, g)
	}
	id := aws.ToString(g.AutoScalingGroups[0].Instances[0].InstanceId)
	d, err := w.e.EC2().DescribeInstances(w.ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		w.t.Fatal(err)
	}
	return id, aws.ToTime(d.Reservations[0].Instances[0].LaunchTime)
}

// A replaced node's role denies every session issued before its
// replacement launched, after recover --replace and after a roll; the
// replacement's own sessions (issued after its launch) are not cut off,
// and a node not replaced keeps its sessions.
func TestReplacementRevokesTheOldSessions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newSimWorld(t, 3, nil)
		old, _ := w.current(w.nodes[0])
		code, out, errOut := w.runWithIAM("recover", "00", "--cluster", "demo", "--replace", "--yes")
		if code != ExitOK {
			t.Fatalf("recover --replace: exit %d %s %s", code, out, errOut)
		}
		now, launched := w.current(w.nodes[0])
		if now == old {
			t.Fatalf("node 00 still runs %s", old)
		}
		if cut := w.revokedBefore(w.nodes[0]); !cut.Equal(launched.Truncate(time.Second)) {
			t.Fatalf("node 00's sessions revoked before %v, want its replacement's launch %v (%s)", cut, launched, errOut)
		}
		for _, n := range w.nodes[1:] {
			if cut := w.revokedBefore(n); !cut.IsZero() {
				t.Fatalf("node %s was not replaced, but its sessions were revoked before %v", n.ID, cut)
			}
		}

		w.newVersion()
		if code, out, errOut := w.runWithIAM("roll", "--cluster", "demo"); code != ExitOK {
			t.Fatalf("roll: exit %d %s %s", code, out, errOut)
		}
		for _, n := range w.nodes {
			_, launched := w.current(n)
			if cut := w.revokedBefore(n); !cut.Equal(launched.Truncate(time.Second)) {
				t.Errorf("after the roll, node %s's sessions are revoked before %v, want its replacement's launch %v", n.ID, cut, launched)
			}
		}
	})
}
