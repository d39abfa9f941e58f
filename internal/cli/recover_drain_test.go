package cli

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/stateful-aws/stateful/internal/cluster"
	"github.com/stateful-aws/stateful/internal/sim"
)

// recover --replace of a node upgraded from v0.8.0 (its instance carries
// no cluster tag) in a group with an hour-long drain hook: recover
// completes the hook itself, so the replacement comes up in minutes; a
// tagged instance's hook is left to its agent.
func TestRecoverReplaceCompletesTheDrainHookOnlyOfAnInstanceNoAgentDrains(t *testing.T) {
	for _, untag := range []bool{true, false} {
		name := map[bool]string{true: "untagged", false: "tagged"}[untag]
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := newSimWorld(t, 3, nil)
				n := w.nodes[0]
				if _, err := w.e.AutoScaling().PutLifecycleHook(w.ctx, &autoscaling.PutLifecycleHookInput{AutoScalingGroupName: aws.String(n.Group),
					LifecycleHookName: aws.String(cluster.DrainHookName("demo")), LifecycleTransition: aws.String(sim.HookTerminating),
					HeartbeatTimeout: aws.Int32(3600), DefaultResult: aws.String("CONTINUE")}); err != nil {
					t.Fatal(err)
				}
				old, ok := w.e.InstanceByIP(n.IP)
				if !ok {
					t.Fatal("node 00 has no instance")
				}
				if untag {
					if _, err := w.e.EC2().DeleteTags(w.ctx, &ec2.DeleteTagsInput{Resources: []string{old},
						Tags: []ec2types.Tag{{Key: aws.String(cluster.TagCluster)}, {Key: aws.String(cluster.TagReady)}}}); err != nil {
						t.Fatal(err)
					}
				}
				code, out, errOut := w.run("", "recover", "00", "--cluster", "demo", "--replace", "--yes")
				if code != ExitOK {
					t.Fatalf("recover --replace: exit %d %s", code, errOut)
				}
				said := strings.Contains(out, "completed drain hook "+cluster.DrainHookName("demo"))
				completed := w.e.CountCalls("CompleteLifecycleAction")
				if untag && (!said || completed != 1) {
					t.Fatalf("untagged: %d CompleteLifecycleAction calls, output %q; want the drain hook completed once and said", completed, out)
				}
				if !untag && (said || completed != 0) {
					t.Fatalf("tagged: %d CompleteLifecycleAction calls, output %q; want its hook left to its agent", completed, out)
				}
				time.Sleep(5 * time.Minute)
				id, ok := w.e.InstanceByIP(n.IP)
				back := ok && id != old
				if back != untag {
					t.Fatalf("%s: 5 minutes after recover, node 00's IP is on %q (was %s); want a replacement only when recover completed the hook", name, id, old)
				}
			})
		})
	}
}
