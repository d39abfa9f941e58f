//go:build !stateful_node

package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/lab"
	"github.com/stateful-aws/stateful/internal/lock"
	"github.com/stateful-aws/stateful/internal/rollout"
)

// TestLabConfigRefusals: the lab's commands name what is wrong with
// --config in one sentence, with the usage exit code, before anything
// starts (they need no root to refuse).
func TestLabConfigRefusals(t *testing.T) {
	t.Parallel()
	run := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := execute(context.Background(), args, IO{In: strings.NewReader(""), Out: &out, Err: &errb}, defaultDeps())
		return code, errb.String()
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"lab", "demo", "--release-dir", t.TempDir()}, "--config is required: a Terraform configuration directory with a module block calling this module, such as examples/etcd"},
		{[]string{"lab", "up", "--config", "no/such/dir"}, "--config no/such/dir is not a directory"},
		// examples/complete builds its own VPC: its subnets are resources.
		{[]string{"lab", "demo", "--config", "../../examples/complete", "--module", "../.."}, "examples/complete/main.tf:252: the lab cannot evaluate `aws_subnet.private` in `[for i, s in aws_subnet.private : {"},
		{[]string{"lab", "demo", "--config", "../../examples/etcd", "--module", "../..", "--var", "subnet_ids=[\"subnet-a\"]"}, "invalid value for variable subnet_ids: The subnet_ids must list exactly three subnets, one per AZ."},
	}
	for _, c := range cases {
		code, errOut := run(c.args...)
		if code != ExitUsage || !strings.Contains(errOut, c.want) {
			t.Errorf("stateful %s: exit %d, stderr %q; want exit %d and %q", strings.Join(c.args, " "), code, errOut, ExitUsage, c.want)
		}
	}
}

// TestLabRollIsTheRollCommand: the demo's roll is `stateful roll`'s code
// (lock, preflight, budget), zone by zone, and the lab sees its typed
// events.
func TestLabRollIsTheRollCommand(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newSimWorld(t, 3, nil)
		w.newVersion()
		roll := labRollWith(func(endpoint, _, clusterName string) (deps, awsFlags) {
			d := deps{clients: func(context.Context, *awsFlags) (awsapi.AutoScaling, awsapi.EC2, error) {
				return w.e.AutoScaling(), w.e.EC2(), nil
			}, params: func(context.Context, *awsFlags) (lock.API, error) { return w.e.SSM(), nil },
				clock: clock.Real{}, terminal: func(any) bool { return false }}
			return d, awsFlags{Cluster: clusterName, Region: "us-east-1", EndpointURL: endpoint, Output: "text"}
		}, lab.Probe{}, func() string { return "" })
		var replaced []string
		if err := roll(w.ctx, "http://lab", "secret", "demo", lab.ByZone, func(e rollout.Event) {
			if e.Kind == "replaced" {
				replaced = append(replaced, e.Node)
			}
		}); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(replaced, " "); got != "00 01 02" {
			t.Errorf("replaced %q, want 00 01 02 one zone at a time", got)
		}
		// The command's cluster lock: taken and released in Parameter Store.
		if w.e.CountCalls("PutParameter") == 0 || w.e.CountCalls("DeleteParameter") == 0 {
			t.Errorf("the roll took no cluster lock: not the stateful roll command")
		}
		// A budget that breaks the quorum is refused by the command's check.
		err := roll(w.ctx, "http://lab", "secret", "demo", rollout.Options{MaxUnavailable: 2}, func(rollout.Event) {})
		if err == nil || !strings.Contains(err.Error(), "--max-unavailable 2 would leave 1 of 3 nodes in service") {
			t.Errorf("--max-unavailable 2: %v", err)
		}
	})
}
