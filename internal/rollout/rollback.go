package rollout

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/stateful-aws/stateful/internal/cluster"
)

// OnFailure says what a roll does with a node whose replacement failed.
type OnFailure string

const (
	// Stop leaves the node as the failure left it (the default).
	Stop OnFailure = "stop"
	// Rollback puts the node back on its last good launch-template
	// version, with its own volume and IP, then stops.
	Rollback OnFailure = "rollback"
)

// RolledBack is a roll that stopped at a failed replacement and put that
// node back on its last good version.
const RolledBack FailureKind = "rolled-back"

// CheckFailed: a replacement came into service but the application's
// check never passed.
const CheckFailed FailureKind = "check"

// rollbackNodes are the nodes a failure's rollback puts back: the node
// whose own replacement failed (its launch abandoned, its application
// check failing), or every node replaced when the canary's verify
// failed. Other failures (nothing terminated, another node lost, a
// version changed under the roll) roll nothing back. Pure.
func rollbackNodes(f *Failure, res *Result) []string {
	switch f.Kind {
	case Abandoned, CheckFailed:
		return []string{f.Node}
	case Verify:
		return replacedIDs(res)
	}
	return nil
}

// rollback, after a failure, puts each failed node back on the version
// it ran when the roll began: its group's launch template version is set
// to that number, then the node alone is rolled again (its volume and
// ENI follow it as on every replacement). It returns the failure that
// says what happened and what Terraform's next apply will do.
func (r *roller) rollback(ctx context.Context, res *Result, err error) error {
	f, ok := IsFailure(err)
	if r.cfg.OnFailure != Rollback || !ok || ctx.Err() != nil {
		return err
	}
	ids := rollbackNodes(f, res)
	if len(ids) == 0 {
		return err
	}
	var done []string
	var fixes []string
	for _, id := range ids {
		n, _ := r.snap.Node(id)
		was, _ := r.app.first.Node(id)
		good := int64(0)
		if len(was.Instances) > 0 {
			good = was.Instances[0].Version
		}
		if good == 0 || good == n.Target {
			continue // nothing to go back to
		}
		if uerr := r.setVersion(ctx, n, good); uerr != nil {
			return fmt.Errorf("%w; rolling node %s back failed: %v", err, id, uerr)
		}
		r.emit(Event{Kind: EventRollback, Node: id, Message: fmt.Sprintf("rolling node %s back: its group %s now launches version %d, its last good version (was %d); replacing it again, keeping its volume and IP", id, n.Group, good, n.Target)})
		done = append(done, id)
		fixes = append(fixes, fmt.Sprintf("group %s from version %d back to %d", n.Group, good, n.Target))
	}
	if len(done) == 0 {
		return err
	}
	sub := r.cfg
	sub.Options = Options{Only: done, MaxUnavailable: 1}
	sub.App, sub.PreCheck, sub.Verify, sub.Canary, sub.Soak, sub.PauseAfter, sub.OnFailure = nil, nil, nil, 0, 0, 0, Stop
	if events := r.cfg.Events; events != nil {
		// The rollback's own roll says what it does, not "plan" or "done":
		// the roll as a whole has stopped.
		sub.Events = func(e Event) {
			if e.Kind != "plan" && e.Kind != "done" {
				events(e)
			}
		}
	}
	if _, serr := Run(ctx, sub); serr != nil {
		return fmt.Errorf("%w; rolling node(s) %s back did not finish: %v", err, strings.Join(done, ", "), serr)
	}
	for _, id := range done {
		n, _ := r.snap.Node(id)
		if cerr := r.caughtUp(ctx, n, cluster.Instance{}); cerr != nil {
			return fmt.Errorf("%w; node(s) %s went back to their last good version but did not catch up: %v", err, strings.Join(done, ", "), cerr)
		}
	}
	rb := *f
	rb.Kind, rb.Recover, rb.Diagnosis, rb.Activity = RolledBack, "", "", ""
	why := f.Detail
	if f.Diagnosis != "" {
		why += " (" + f.Diagnosis + ")"
	} else if f.Activity != "" {
		why += " (last scaling activity: " + f.Activity + ")"
	}
	rb.Detail = fmt.Sprintf("its replacement failed (%[2]s): %[1]s; node(s) %[3]s went back to their last good launch-template version with their own volume and IP and are in service again; no other node was touched. Terraform's next apply will move %[4]s (in place, replacing no instance), after which the next roll would bring the failed change back: fix the change first, apply it, then roll",
		why, f.Kind, strings.Join(done, ", "), strings.Join(fixes, ", "))
	r.emit(Event{Kind: EventRolledBack, Node: f.Node, Nodes: done, Message: rb.Error()})
	return &rb
}

// setVersion points node n's group at launch-template version v.
func (r *roller) setVersion(ctx context.Context, n cluster.Node, v int64) error {
	lt := &astypes.LaunchTemplateSpecification{Version: aws.String(strconv.FormatInt(v, 10))}
	if n.LaunchTemplateID != "" {
		lt.LaunchTemplateId = aws.String(n.LaunchTemplateID)
	} else {
		lt.LaunchTemplateName = aws.String(n.LaunchTemplateName)
	}
	return r.retry(ctx, r.now().Add(r.cfg.Timeout), func() error {
		if err := r.cfg.Pace.Wait(ctx); err != nil {
			return err
		}
		_, err := r.cfg.AutoScaling.UpdateAutoScalingGroup(ctx, &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String(n.Group), LaunchTemplate: lt})
		if err != nil {
			return fmt.Errorf("setting group %s's launch template version to %d: %w", n.Group, v, err)
		}
		return nil
	})
}
