package cli

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/stateful-aws/stateful/internal/lock"
	"github.com/stateful-aws/stateful/internal/sim"
)

// operatorSSM is the Parameter Store client the commands of the system
// property test use (the lock, the failure mark): over the command's own
// link, so its writes' answers may be lost and it dies with a hard kill.
type operatorSSM struct {
	lock.API
	o *operatorLink
}

func (c operatorSSM) GetParameter(ctx context.Context, in *ssm.GetParameterInput, opt ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	return relay(c.o, ctx, in, func(ctx context.Context, in *ssm.GetParameterInput) (*ssm.GetParameterOutput, error) {
		return c.API.GetParameter(ctx, in, opt...)
	}, false)
}

func (c operatorSSM) PutParameter(ctx context.Context, in *ssm.PutParameterInput, opt ...func(*ssm.Options)) (*ssm.PutParameterOutput, error) {
	return relay(c.o, ctx, in, func(ctx context.Context, in *ssm.PutParameterInput) (*ssm.PutParameterOutput, error) {
		return c.API.PutParameter(ctx, in, opt...)
	}, true)
}

func (c operatorSSM) DeleteParameter(ctx context.Context, in *ssm.DeleteParameterInput, opt ...func(*ssm.Options)) (*ssm.DeleteParameterOutput, error) {
	return relay(c.o, ctx, in, func(ctx context.Context, in *ssm.DeleteParameterInput) (*ssm.DeleteParameterOutput, error) {
		return c.API.DeleteParameter(ctx, in, opt...)
	}, true)
}

// What `terraform apply` does while a roll runs (issue 20), as faults of
// the system property test: the roll under test started as the module's
// trigger starts it; at random moments an apply that rewrites every
// group's tags to the configuration's (the provider's tag blocks are
// authoritative: a tag a command wrote is removed), some of them with a
// change that starts a second trigger roll.
type applyFaults struct {
	trigger bool          // the first roll is the trigger's, not an operator's
	wait    time.Duration // STATEFUL_LOCK_WAIT in the trigger's environment (0: unset)
	applies []applyAt
}

type applyAt struct {
	at   time.Duration
	roll bool // the apply's change starts a trigger roll
}

// newApplyFaults draws after every other fault of the schedule, so that
// the schedules of the other faults stay what they were for each seed.
func newApplyFaults(rng *rand.Rand, roll int) applyFaults {
	a := applyFaults{trigger: rng.Intn(2) == 0}
	if rng.Intn(2) == 0 {
		a.wait = time.Duration(5+rng.Intn(20)) * time.Minute
	}
	for range rng.Intn(3) {
		a.applies = append(a.applies, applyAt{at: time.Duration(rng.Intn(roll+1)) * time.Second, roll: rng.Intn(2) == 0})
	}
	return a
}

func (a applyFaults) describe() []string {
	var out []string
	if a.trigger {
		out = append(out, "the roll started by the trigger")
	}
	if a.wait > 0 {
		out = append(out, fmt.Sprintf("the trigger waits %s for the lock", a.wait))
	}
	for _, ap := range a.applies {
		if ap.roll {
			out = append(out, fmt.Sprintf("terraform apply at %s (tags rewritten, a second trigger roll)", ap.at))
		} else {
			out = append(out, fmt.Sprintf("terraform apply at %s (tags rewritten)", ap.at))
		}
	}
	return out
}

// triggerEnv is the environment the module's terraform_data.roll gives
// `stateful roll` (roll.tf, templates/roll.sh.tftpl: `stateful roll` with
// no arguments), with var.roll's and asg_inservice_timeout_in_mins'
// defaults: the whole cluster by its tag, the region, the budget, no
// pre-check, no application check, stop on a failure. (The account check,
// STATEFUL_EXPECT_ACCOUNT, is in the real clients the test replaces.)
func (r *safetyRun) triggerEnv() map[string]string {
	env := map[string]string{
		"STATEFUL_CLUSTER": "c", "AWS_REGION": "us-east-1", "STATEFUL_REGION": "us-east-1", "STATEFUL_TIMEOUT": "10m",
		"STATEFUL_MAX_UNAVAILABLE": "1", "STATEFUL_BY_ZONE": "false", "STATEFUL_CANARY": "0", "STATEFUL_VERIFY": "", "STATEFUL_SOAK": "0s",
		"STATEFUL_PRE_CHECK": "", "STATEFUL_APP": "", "STATEFUL_ON_FAILURE": "stop",
	}
	if r.s.apply.wait > 0 {
		env["STATEFUL_LOCK_WAIT"] = r.s.apply.wait.String()
	}
	return env
}

// firstRoll is the roll under test: an operator's, or the trigger's.
func (r *safetyRun) firstRoll(ctx context.Context, link *operatorLink) (int, string) {
	if r.s.apply.trigger {
		return r.commandEnv(ctx, link, r.triggerEnv(), "roll")
	}
	return r.command(ctx, link, "roll", "--cluster", "c", "--timeout", "20m")
}

// startApplyFaults schedules the applies: the configuration's tags are the
// groups' tags now, before any command ran.
func (r *safetyRun) startApplyFaults(at func(time.Duration, func())) {
	config := map[string][]sim.GroupTag{}
	for _, n := range r.nodes {
		config[n.Group] = r.e.GroupTags(n.Group)
	}
	for _, ap := range r.s.apply.applies {
		at(ap.at, func() {
			r.e.ApplyGroupTags(config)
			count("terraform apply: every group's tags rewritten")
			if !ap.roll {
				return
			}
			code, _ := r.commandEnv(r.ctx, r.link(), r.triggerEnv(), "roll")
			if code != ExitOK && code != ExitRefused && code != ExitStopped && code != ExitError && code != ExitUnreachable {
				r.t.Errorf("the second trigger roll exited %d", code)
			}
		})
	}
}

// lockCallFailed says whether a command's call about the lock failed, so
// that it may have left the lock behind.
func lockCallFailed(stderr string) bool {
	for _, s := range []string{"reading the cluster's lock", "taking the cluster's lock", "renewing the cluster's lock", "releasing the cluster's lock",
		"the cluster's lock could not be renewed", "is no longer held by this command"} {
		if strings.Contains(stderr, s) {
			return true
		}
	}
	return false
}

// pastFailureMark: a roll refused by the failure mark that a fault of the
// schedule left (a boot that never started its agent, a node script that
// failed once) is run again as the operator who knows the change is not
// to blame runs it: with --clear-failure-mark.
func (r *safetyRun) pastFailureMark(ctx context.Context, link *operatorLink, timeout string, code int, errOut string) (int, string) {
	if code != ExitRefused || !strings.Contains(errOut, "this change failed before") {
		return code, errOut
	}
	count("roll: run again with --clear-failure-mark, the failure the schedule's")
	return r.command(ctx, link, "roll", "--cluster", "c", "--timeout", timeout, "--clear-failure-mark")
}

// envPrefix shows a trigger roll's environment in the commands' log.
func envPrefix(env map[string]string) string {
	if env == nil {
		return ""
	}
	var b strings.Builder
	for _, k := range []string{"STATEFUL_CLUSTER", "STATEFUL_TIMEOUT", "STATEFUL_LOCK_WAIT"} {
		if v, ok := env[k]; ok {
			fmt.Fprintf(&b, "%s=%s ", k, v)
		}
	}
	return b.String()
}
