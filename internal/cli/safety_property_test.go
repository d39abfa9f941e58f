package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/stateful-aws/stateful/internal/agent"
	"github.com/stateful-aws/stateful/internal/agent/agenttest"
	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/cluster"
	"github.com/stateful-aws/stateful/internal/lock"
	"github.com/stateful-aws/stateful/internal/sim"
	"github.com/stateful-aws/stateful/internal/sim/simtest"
)

// The README's safety promises, as properties of the whole system: the
// `roll` and `recover` commands as an operator runs them, the real agent
// on every instance (simulated disks, agenttest), and the simulator, in
// virtual time, under a random schedule of faults:
//
//   - throttling bursts on every client, agents included;
//   - responses lost after the call took effect (the operator commands'
//     connection drops);
//   - an instance lost at any moment; launches failing; stale reads;
//   - a boot whose agent never starts (its launch hook times out) or whose
//     node script fails (the agent abandons);
//   - a drain whose unmount fails (a writer that will not stop);
//   - the roll killed at any of its calls, gently (Ctrl-C: it releases
//     its lock) or hard (its lock stays), and restarted as an operator
//     would (--break-lock only when its holder is known dead);
//   - a second roll, `recover --replace` and `recover --abandon` started
//     at random moments;
//   - what `terraform apply` does (safety_lock_test.go): the roll started
//     as the module's trigger starts it, every group's tags rewritten to
//     the configuration's, a second trigger-started roll.
//
// Checked at every termination and every 500 ms of virtual time:
//
//   - a termination by any command never leaves fewer nodes in service
//     than all but the one it replaces (the default budget of 1): every
//     other node serves, counting EC2's own state and the commands' own
//     terminations, unless it left service too recently for any command to
//     know (less than the stale-read window plus a poll interval ago);
//   - the cluster's lock never outlives its holders: a command that finds
//     it held once every other has finished fails the test, unless a
//     holder died (a hard kill) or a call about the lock failed;
//   - no instance is terminated twice;
//   - no volume holding anything is formatted, none is mounted by two live
//     instances, none by another node's instance (agenttest's disks);
//   - once the faults stop, one more `roll` finishes and every node serves
//     on the current version, on its own volume, formatted once in its life.
//
// Each schedule is a seed; a failure prints the schedule and the command
// that replays it. SAFETY_SCHEDULES=N sets how many run (default 1000).

func safetySchedules() int {
	if n, err := strconv.Atoi(os.Getenv("SAFETY_SCHEDULES")); err == nil && n > 0 {
		return n
	}
	return 1000
}

// safetySchedule is one seed's faults; times are after the new version.
type safetySchedule struct {
	seed  int64
	nodes int

	throttleAt, throttleFor time.Duration
	throttleP               float64
	lossP                   float64 // per operator call: the response is lost after the call took effect
	loseAt                  time.Duration
	loseNode                int
	failAt                  time.Duration
	failNode, failCount     int
	stale                   time.Duration
	skipNode, skipBoot      int // the agent never starts on that boot of that node (0: none)
	failScriptNode          int
	failScriptBoot          int
	busyNode                int // -1: none; its first drain cannot unmount
	killAtCall              int // 0: the roll is not killed
	hardKill                bool
	secondAt                time.Duration // 0: no second roll
	secondLast              int
	replaceAt               time.Duration // 0: no recover --replace
	replaceNode             int
	abandonAt               time.Duration // 0: no recover --abandon
	abandonNode             int
	replaceAfter            int // a recover --replace of this node once the roll ended (-1: none)
	apply                   applyFaults
}

func newSafetySchedule(seed int64) safetySchedule {
	rng := rand.New(rand.NewSource(seed))
	s := safetySchedule{seed: seed, nodes: 3, busyNode: -1}
	if rng.Intn(4) == 0 {
		s.nodes = 5
	}
	d := func(lo, hi int) time.Duration { return time.Duration(lo+rng.Intn(hi-lo+1)) * time.Second }
	// A replacement takes about 75 s: the faults fall within the roll.
	roll := 75 * s.nodes
	coin := func(n int) bool { return rng.Intn(n) == 0 }
	if coin(2) {
		s.throttleAt, s.throttleFor, s.throttleP = d(0, roll), d(10, 120), 0.1+0.5*rng.Float64()
	}
	if coin(3) {
		s.lossP = 0.05 + 0.15*rng.Float64()
	}
	if coin(2) {
		s.loseAt, s.loseNode = d(1, roll), rng.Intn(s.nodes)
	}
	if coin(3) {
		s.failAt, s.failNode, s.failCount = d(0, roll), rng.Intn(s.nodes), 1+rng.Intn(3)
	}
	if coin(4) {
		s.stale = d(1, 8)
	}
	if coin(4) {
		s.skipNode, s.skipBoot = rng.Intn(s.nodes), 2+rng.Intn(2)
	}
	if coin(4) {
		s.failScriptNode, s.failScriptBoot = rng.Intn(s.nodes), 2+rng.Intn(2)
	}
	if coin(3) {
		s.busyNode = rng.Intn(s.nodes)
	}
	if coin(2) {
		s.killAtCall, s.hardKill = 1+rng.Intn(60), coin(2)
	}
	if coin(2) {
		s.secondAt, s.secondLast = d(0, roll), rng.Intn(s.nodes)
	}
	if coin(3) {
		s.replaceAt, s.replaceNode = d(0, roll), rng.Intn(s.nodes)
	}
	if coin(4) {
		s.abandonAt, s.abandonNode = d(0, roll), rng.Intn(s.nodes)
	}
	s.replaceAfter = -1
	if coin(3) {
		s.replaceAfter = rng.Intn(s.nodes)
	}
	s.apply = newApplyFaults(rng, roll)
	return s
}

func (s safetySchedule) String() string {
	parts := []string{fmt.Sprintf("%d nodes", s.nodes)}
	add := func(ok bool, format string, args ...any) {
		if ok {
			parts = append(parts, fmt.Sprintf(format, args...))
		}
	}
	add(s.throttleFor > 0, "throttling %.0f%% from %s for %s", 100*s.throttleP, s.throttleAt, s.throttleFor)
	add(s.lossP > 0, "%.0f%% of the commands' responses lost", 100*s.lossP)
	add(s.loseAt > 0, "node %02d lost at %s", s.loseNode, s.loseAt)
	add(s.failAt > 0, "%d launch failures of node %02d from %s", s.failCount, s.failNode, s.failAt)
	add(s.stale > 0, "stale reads %s", s.stale)
	add(s.skipBoot > 0, "boot %d of node %02d never starts its agent", s.skipBoot, s.skipNode)
	add(s.failScriptBoot > 0, "boot %d of node %02d fails its node script", s.failScriptBoot, s.failScriptNode)
	add(s.busyNode >= 0, "node %02d's first drain cannot unmount", s.busyNode)
	add(s.killAtCall > 0, "roll killed (hard: %t) at its call %d", s.hardKill, s.killAtCall)
	add(s.secondAt > 0, "a second roll --last %02d at %s", s.secondLast, s.secondAt)
	add(s.replaceAt > 0, "recover %02d --replace at %s", s.replaceNode, s.replaceAt)
	add(s.abandonAt > 0, "recover %02d --abandon at %s", s.abandonNode, s.abandonAt)
	add(s.replaceAfter >= 0, "recover %02d --replace after the roll", s.replaceAfter)
	parts = append(parts, s.apply.describe()...)
	return strings.Join(parts, ", ")
}

// safetyStats counts what the schedules did, to show that the faults and
// the rival commands really met the roll.
var safetyStats = struct {
	sync.Mutex
	m map[string]int
}{m: map[string]int{}}

func count(what string) {
	safetyStats.Lock()
	defer safetyStats.Unlock()
	safetyStats.m[what]++
}

func TestSafetyUnderRandomFaults(t *testing.T) {
	n := safetySchedules()
	t.Cleanup(func() {
		safetyStats.Lock()
		defer safetyStats.Unlock()
		keys := slices.Sorted(maps.Keys(safetyStats.m))
		var b strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b, "\n  %5d %s", safetyStats.m[k], k)
		}
		t.Logf("%d schedules:%s", n, b.String())
	})
	// A machine too slow for n schedules within go test's -timeout fails
	// with a sentence that says so, not with the runtime's goroutine dump:
	// schedules not started a margin before the deadline fail at once.
	deadline, bounded := t.Deadline()
	var late sync.Once
	for k := range n {
		seed := int64(7919*k + 11)
		s := newSafetySchedule(seed)
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			if bounded && time.Until(deadline) < time.Minute {
				late.Do(func() {
					t.Errorf("TestSafetyUnderRandomFaults: schedules from seed %d on were not run: less than a minute is left before go test's -timeout; give it more (GO_TEST_TIMEOUT) or fewer schedules (SAFETY_SCHEDULES=%d)", seed, k)
				})
				t.SkipNow()
			}
			t.Logf("schedule: %s; replay: go test ./internal/cli -run 'TestSafetyUnderRandomFaults/seed=%d$' -v", s, seed)
			synctest.Test(t, func(t *testing.T) { runSafety(t, s) })
		})
	}
}

// truth is the test's view of the world, read from the engine directly.
type truth struct {
	e        *sim.Engine
	nodes    []sim.NodeSpec
	grace    time.Duration // how long a node must be out for the commands to know it
	mu       sync.Mutex
	outSince map[string]time.Time // node -> first seen out of service
	taken    map[string]string    // node -> instance a command terminated, until the node serves again
	killed   map[string]int       // successful terminate calls per instance
	faults   []string
}

// serving says whether node n serves, and on which instance: one member,
// InService and Healthy in its group, and running in EC2.
func (w *truth) serving(n sim.NodeSpec) (string, bool) {
	m := w.e.Members(n.Group)
	if len(m) == 1 && m[0].Lifecycle == cluster.InService && m[0].Health == cluster.Healthy && m[0].State == "running" {
		return m[0].ID, true
	}
	return "", false
}

func (w *truth) violate(format string, args ...any) {
	w.faults = append(w.faults, time.Now().Format("15:04:05.000")+" "+fmt.Sprintf(format, args...))
}

// look updates who is out and checks the commands' own terminations
// against the budget; it also checks each volume's attachment.
func (w *truth) look() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, n := range w.nodes {
		id, ok := w.serving(n)
		switch {
		case !ok && w.outSince[n.ID].IsZero():
			w.outSince[n.ID] = time.Now()
		case ok:
			delete(w.outSince, n.ID)
		}
		if old, taken := w.taken[n.ID]; taken && ok && id != old {
			delete(w.taken, n.ID)
		}
		if inst, _ := w.e.Attachment(n.Volume); inst != "" {
			if g := w.groupOf(inst); g != "" && g != n.Group {
				w.violate("volume %s of node %s is attached to %s of group %s", n.Volume, n.ID, inst, g)
			}
		}
	}
	if len(w.taken) > 1 {
		w.violate("%d nodes out because of the commands at once (budget 1): %v", len(w.taken), w.taken)
	}
}

func (w *truth) groupOf(instance string) string {
	for _, n := range w.nodes {
		for _, m := range w.e.Members(n.Group) {
			if m.ID == instance {
				return n.Group
			}
		}
	}
	return ""
}

// terminating checks a termination as its call goes out.
func (w *truth) terminating(instance string) {
	w.look()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.killed[instance] > 0 {
		return // a retry of a call already made: the first one was checked
	}
	var target string
	for _, n := range w.nodes {
		if id, ok := w.serving(n); ok && id == instance {
			target = n.ID
		}
	}
	if target == "" {
		return
	}
	// A command decides on a look at most a poll interval (1 s) old, of a
	// world its reads see up to the stale window late: a node out for
	// longer than both is one it saw.
	var out []string
	for _, n := range w.nodes {
		since := w.outSince[n.ID]
		_, taken := w.taken[n.ID]
		if n.ID != target && (taken || (!since.IsZero() && time.Since(since) >= w.grace)) {
			out = append(out, fmt.Sprintf("%s %+v", n.ID, w.e.Members(n.Group)))
		}
	}
	if len(out) > 0 {
		w.violate("node %s's instance %s was terminated while %d other node(s) were out of service: %s", target, instance, len(out), strings.Join(out, "; "))
	}
}

// terminated records a terminate call that took effect.
func (w *truth) terminated(instance string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.killed[instance]++
	if w.killed[instance] == 2 {
		w.violate("instance %s terminated twice", instance)
	}
	for _, n := range w.nodes {
		for _, m := range w.e.Members(n.Group) {
			if m.ID == instance {
				w.taken[n.ID] = instance
			}
		}
	}
}

// operatorAS is the Auto Scaling client the commands use: it reports
// terminations to the truth, may lose responses, and dies with a hard kill.
type operatorAS struct {
	awsapi.AutoScaling
	o *operatorLink
}

type operatorEC2 struct {
	awsapi.EC2
	o *operatorLink
}

// operatorLink is one command's connection to AWS.
type operatorLink struct {
	w     *truth
	rng   *rand.Rand // shared, under w.mu
	lossP float64
	// killAt cancels the command at its killAt-th call; after a hard kill
	// every call fails, as the process is gone.
	killAt int
	kill   context.CancelFunc
	hard   bool
	mu     sync.Mutex
	calls  int
	dead   bool
}

// errConnectionReset is what the SDK returns when a response is lost and
// its own retries are spent.
var errConnectionReset = &smithyhttp.RequestSendError{Err: &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}}

// before counts a call and says whether it may go out.
func (o *operatorLink) before(ctx context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.dead {
		return errors.New("the process was killed")
	}
	o.calls++
	if o.killAt > 0 && o.calls == o.killAt {
		o.kill()
		o.dead = o.hard
	}
	return ctx.Err()
}

// killed says whether the command was hard-killed.
func (o *operatorLink) killed() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.dead
}

// lost says whether the response of a call that took effect is lost.
func (o *operatorLink) lost() bool {
	o.w.mu.Lock()
	defer o.w.mu.Unlock()
	return o.lossP > 0 && o.rng.Float64() < o.lossP
}

func relay[I, O any](o *operatorLink, ctx context.Context, in *I, call func(context.Context, *I) (*O, error), mutates bool) (*O, error) {
	if err := o.before(ctx); err != nil {
		return nil, err
	}
	out, err := call(ctx, in)
	if err == nil && mutates && o.lost() {
		return nil, errConnectionReset
	}
	return out, err
}

func (c operatorAS) TerminateInstanceInAutoScalingGroup(ctx context.Context, in *autoscaling.TerminateInstanceInAutoScalingGroupInput, opt ...func(*autoscaling.Options)) (*autoscaling.TerminateInstanceInAutoScalingGroupOutput, error) {
	if err := c.o.before(ctx); err != nil {
		return nil, err
	}
	c.o.w.terminating(aws.ToString(in.InstanceId))
	out, err := c.AutoScaling.TerminateInstanceInAutoScalingGroup(ctx, in, opt...)
	if err == nil {
		c.o.w.terminated(aws.ToString(in.InstanceId))
		if c.o.lost() {
			return nil, errConnectionReset
		}
	}
	return out, err
}

func (c operatorAS) DescribeAutoScalingGroups(ctx context.Context, in *autoscaling.DescribeAutoScalingGroupsInput, opt ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error) {
	return relay(c.o, ctx, in, func(ctx context.Context, in *autoscaling.DescribeAutoScalingGroupsInput) (*autoscaling.DescribeAutoScalingGroupsOutput, error) {
		return c.AutoScaling.DescribeAutoScalingGroups(ctx, in, opt...)
	}, false)
}

func (c operatorAS) DescribeAutoScalingInstances(ctx context.Context, in *autoscaling.DescribeAutoScalingInstancesInput, opt ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingInstancesOutput, error) {
	return relay(c.o, ctx, in, func(ctx context.Context, in *autoscaling.DescribeAutoScalingInstancesInput) (*autoscaling.DescribeAutoScalingInstancesOutput, error) {
		return c.AutoScaling.DescribeAutoScalingInstances(ctx, in, opt...)
	}, false)
}

func (c operatorAS) DescribeScalingActivities(ctx context.Context, in *autoscaling.DescribeScalingActivitiesInput, opt ...func(*autoscaling.Options)) (*autoscaling.DescribeScalingActivitiesOutput, error) {
	return relay(c.o, ctx, in, func(ctx context.Context, in *autoscaling.DescribeScalingActivitiesInput) (*autoscaling.DescribeScalingActivitiesOutput, error) {
		return c.AutoScaling.DescribeScalingActivities(ctx, in, opt...)
	}, false)
}

func (c operatorAS) DescribeLifecycleHooks(ctx context.Context, in *autoscaling.DescribeLifecycleHooksInput, opt ...func(*autoscaling.Options)) (*autoscaling.DescribeLifecycleHooksOutput, error) {
	return relay(c.o, ctx, in, func(ctx context.Context, in *autoscaling.DescribeLifecycleHooksInput) (*autoscaling.DescribeLifecycleHooksOutput, error) {
		return c.AutoScaling.DescribeLifecycleHooks(ctx, in, opt...)
	}, false)
}

func (c operatorAS) CompleteLifecycleAction(ctx context.Context, in *autoscaling.CompleteLifecycleActionInput, opt ...func(*autoscaling.Options)) (*autoscaling.CompleteLifecycleActionOutput, error) {
	return relay(c.o, ctx, in, func(ctx context.Context, in *autoscaling.CompleteLifecycleActionInput) (*autoscaling.CompleteLifecycleActionOutput, error) {
		return c.AutoScaling.CompleteLifecycleAction(ctx, in, opt...)
	}, true)
}

func (c operatorAS) SuspendProcesses(ctx context.Context, in *autoscaling.SuspendProcessesInput, opt ...func(*autoscaling.Options)) (*autoscaling.SuspendProcessesOutput, error) {
	return relay(c.o, ctx, in, func(ctx context.Context, in *autoscaling.SuspendProcessesInput) (*autoscaling.SuspendProcessesOutput, error) {
		return c.AutoScaling.SuspendProcesses(ctx, in, opt...)
	}, true)
}

func (c operatorAS) ResumeProcesses(ctx context.Context, in *autoscaling.ResumeProcessesInput, opt ...func(*autoscaling.Options)) (*autoscaling.ResumeProcessesOutput, error) {
	return relay(c.o, ctx, in, func(ctx context.Context, in *autoscaling.ResumeProcessesInput) (*autoscaling.ResumeProcessesOutput, error) {
		return c.AutoScaling.ResumeProcesses(ctx, in, opt...)
	}, true)
}

func (c operatorAS) CreateOrUpdateTags(ctx context.Context, in *autoscaling.CreateOrUpdateTagsInput, opt ...func(*autoscaling.Options)) (*autoscaling.CreateOrUpdateTagsOutput, error) {
	return relay(c.o, ctx, in, func(ctx context.Context, in *autoscaling.CreateOrUpdateTagsInput) (*autoscaling.CreateOrUpdateTagsOutput, error) {
		return c.AutoScaling.CreateOrUpdateTags(ctx, in, opt...)
	}, true)
}

func (c operatorAS) DeleteTags(ctx context.Context, in *autoscaling.DeleteTagsInput, opt ...func(*autoscaling.Options)) (*autoscaling.DeleteTagsOutput, error) {
	return relay(c.o, ctx, in, func(ctx context.Context, in *autoscaling.DeleteTagsInput) (*autoscaling.DeleteTagsOutput, error) {
		return c.AutoScaling.DeleteTags(ctx, in, opt...)
	}, true)
}

func (c operatorEC2) DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, opt ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	return relay(c.o, ctx, in, func(ctx context.Context, in *ec2.DescribeInstancesInput) (*ec2.DescribeInstancesOutput, error) {
		return c.EC2.DescribeInstances(ctx, in, opt...)
	}, false)
}

func (c operatorEC2) DescribeLaunchTemplates(ctx context.Context, in *ec2.DescribeLaunchTemplatesInput, opt ...func(*ec2.Options)) (*ec2.DescribeLaunchTemplatesOutput, error) {
	return relay(c.o, ctx, in, func(ctx context.Context, in *ec2.DescribeLaunchTemplatesInput) (*ec2.DescribeLaunchTemplatesOutput, error) {
		return c.EC2.DescribeLaunchTemplates(ctx, in, opt...)
	}, false)
}

func (c operatorEC2) DescribeLaunchTemplateVersions(ctx context.Context, in *ec2.DescribeLaunchTemplateVersionsInput, opt ...func(*ec2.Options)) (*ec2.DescribeLaunchTemplateVersionsOutput, error) {
	return relay(c.o, ctx, in, func(ctx context.Context, in *ec2.DescribeLaunchTemplateVersionsInput) (*ec2.DescribeLaunchTemplateVersionsOutput, error) {
		return c.EC2.DescribeLaunchTemplateVersions(ctx, in, opt...)
	}, false)
}

func (c operatorEC2) DescribeNetworkInterfaces(ctx context.Context, in *ec2.DescribeNetworkInterfacesInput, opt ...func(*ec2.Options)) (*ec2.DescribeNetworkInterfacesOutput, error) {
	return relay(c.o, ctx, in, func(ctx context.Context, in *ec2.DescribeNetworkInterfacesInput) (*ec2.DescribeNetworkInterfacesOutput, error) {
		return c.EC2.DescribeNetworkInterfaces(ctx, in, opt...)
	}, false)
}

func (c operatorEC2) DescribeVolumes(ctx context.Context, in *ec2.DescribeVolumesInput, opt ...func(*ec2.Options)) (*ec2.DescribeVolumesOutput, error) {
	return relay(c.o, ctx, in, func(ctx context.Context, in *ec2.DescribeVolumesInput) (*ec2.DescribeVolumesOutput, error) {
		return c.EC2.DescribeVolumes(ctx, in, opt...)
	}, false)
}

// safetyRun is one schedule's world.
type safetyRun struct {
	t       *testing.T
	s       safetySchedule
	e       *sim.Engine
	ctx     context.Context
	w       *truth
	disks   *agenttest.Disks
	boot    *agenttest.Booter
	rng     *rand.Rand
	running atomic.Int32 // commands running
	mayLeak atomic.Bool  // a command may have left the lock behind
	nodes   []sim.NodeSpec
	log     bytes.Buffer // the commands' output, shown on failure
	logMu   sync.Mutex
}

// command runs one command as an operator would, over its own link.
func (r *safetyRun) command(ctx context.Context, link *operatorLink, args ...string) (int, string) {
	return r.commandEnv(ctx, link, nil, args...)
}

// commandEnv runs a command with env as its STATEFUL_* environment (nil:
// the process's), as the module's trigger runs `stateful roll`.
func (r *safetyRun) commandEnv(ctx context.Context, link *operatorLink, env map[string]string, args ...string) (int, string) {
	var out, errb bytes.Buffer
	d := deps{
		clients: func(context.Context, *awsFlags) (awsapi.AutoScaling, awsapi.EC2, error) {
			return operatorAS{AutoScaling: r.e.AutoScaling(), o: link}, operatorEC2{EC2: r.e.EC2(), o: link}, nil
		},
		params:   func(context.Context, *awsFlags) (lock.API, error) { return operatorSSM{API: r.e.SSM(), o: link}, nil },
		clock:    clock.Real{},
		terminal: func(any) bool { return false },
	}
	if args[0] == "roll" || slices.Contains(args, "--replace") {
		// The lock's waits allow for reads that lag by up to
		// --lock-read-lag (internal/lock).
		args = append(args, "--lock-read-lag", (r.s.stale + time.Second).String())
	}
	r.running.Add(1)
	if env != nil {
		ctx = withEnviron(ctx, env)
	}
	code := execute(ctx, args, IO{In: strings.NewReader(""), Out: &out, Err: &errb}, d)
	if e := errb.String(); link.killed() || lockCallFailed(e) || strings.Contains(e, "could not release the cluster's lock") ||
		strings.Contains(e, "could not take back the cluster's lock") || strings.Contains(e, "lock could not be released") {
		r.mayLeak.Store(true)
	}
	r.running.Add(-1)
	what := args[0]
	for _, a := range args {
		if a == "--replace" || a == "--abandon" {
			what += " " + a
		}
	}
	if env != nil {
		what += " (trigger)"
	}
	if strings.Contains(errb.String(), "holds the cluster's lock") {
		what += " (lock held)"
	}
	count(fmt.Sprintf("%s: exit %d", what, code))
	r.logMu.Lock()
	fmt.Fprintf(&r.log, "%s $ %sstateful %s -> exit %d\n%s%s", time.Now().Format("15:04:05"), envPrefix(env), strings.Join(args, " "), code, out.String(), errb.String())
	r.logMu.Unlock()
	return code, errb.String()
}

// rollAsOperator runs a roll as an operator would after a failure: when
// the lock refuses it and no other command runs, it runs again with
// --break-lock if a holder may have died holding it (a hard kill, a failed
// call about the lock); otherwise the lock leaked, which fails the test.
// While another command runs, it waits for it.
func (r *safetyRun) rollAsOperator(ctx context.Context, link *operatorLink, timeout string) int {
	for alone := 0; ; {
		code, errOut := r.command(ctx, link, "roll", "--cluster", "c", "--timeout", timeout)
		code, errOut = r.pastFailureMark(ctx, link, timeout, code, errOut)
		if code != ExitRefused || !strings.Contains(errOut, "if it is dead, pass --break-lock") {
			return code
		}
		if r.running.Load() == 0 {
			// A stale read may still show a lock released a moment ago:
			// look again a minute later before calling it leaked.
			if alone++; alone == 1 {
				time.Sleep(time.Minute)
				continue
			}
			if !r.mayLeak.Swap(false) {
				r.t.Errorf("the cluster's lock is held though every command finished and none could have left it: %s", errOut)
				return code
			}
			count("roll: run again with --break-lock, its holder dead")
			code, _ := r.command(ctx, link, "roll", "--cluster", "c", "--timeout", timeout, "--break-lock")
			if code != ExitOK && code != ExitStopped {
				r.mayLeak.Store(true) // it may have stopped before it took the lock
			}
			return code
		}
		alone = 0 // another command runs: wait for it, then look afresh
		time.Sleep(time.Minute)
	}
}

func (r *safetyRun) link() *operatorLink {
	return &operatorLink{w: r.w, rng: r.rng, lossP: r.s.lossP}
}

func runSafety(t *testing.T, s safetySchedule) {
	r := &safetyRun{t: t, s: s, rng: rand.New(rand.NewSource(s.seed ^ 0x5eed))}
	var faulty atomic.Bool // the boot faults apply until the faults stop
	faulty.Store(true)
	defer func() {
		if t.Failed() || testing.Verbose() {
			r.logMu.Lock()
			t.Logf("commands:\n%s", r.log.String())
			r.logMu.Unlock()
		}
	}()
	r.boot = &agenttest.Booter{
		Config: func(n sim.NodeSpec) *agent.Config {
			return &agent.Config{Version: 1, Cluster: "c", NodeID: n.ID, NodeIP: n.IP, Region: "us-east-1", ASGName: n.Group,
				LaunchHook: n.LaunchHook, TerminateHook: cluster.DrainHookName("c"),
				Volume: agent.Volume{MountPath: "/data", FileSystem: "xfs"}, Script: agent.Script{InlineBase64: "Cg=="},
				Timeouts: agent.Timeouts{Command: 600, Volume: 300, Device: 120, Heartbeat: 40, DrainHeartbeat: 100}}
		},
		Script: func(n sim.NodeSpec, boot int) agenttest.Script {
			return agenttest.Script{Takes: 20 * time.Second, Fail: faulty.Load() && s.failScriptBoot > 0 && n.ID == fmt.Sprintf("%02d", s.failScriptNode) && boot == s.failScriptBoot}
		},
		Skip: func(n sim.NodeSpec, boot int) bool {
			return faulty.Load() && s.skipBoot > 0 && n.ID == fmt.Sprintf("%02d", s.skipNode) && boot == s.skipBoot
		},
		TempDir: t.TempDir,
	}
	disks := agenttest.NewDisks()
	r.disks, r.boot.Disks = disks, disks
	e, ctx := simtest.Start(t, sim.Config{Clock: clock.Real{}, Seed: s.seed, Timings: sim.DefaultTimings(), Boot: r.boot.Boot,
		Observe: func(c sim.Change) { disks.Observe(c); r.boot.Observe(c) }, VolumeMounted: disks.Mounted})
	r.e, r.ctx = e, ctx
	r.boot.Ctx = ctx
	// The volumes exist once the cluster does; the instances reach running
	// (and boot) seconds later, in virtual time.
	nodes := simtest.Cluster(t, ctx, e, sim.ClusterSpec{Name: "c", Nodes: s.nodes, HookTimeout: 120})
	r.nodes = nodes
	disks.Add(nodes)
	r.boot.SetNodes(nodes)
	for _, n := range nodes {
		if _, err := e.AutoScaling().PutLifecycleHook(ctx, &autoscaling.PutLifecycleHookInput{AutoScalingGroupName: aws.String(n.Group),
			LifecycleHookName: aws.String(cluster.DrainHookName("c")), LifecycleTransition: aws.String(sim.HookTerminating),
			HeartbeatTimeout: aws.Int32(300), DefaultResult: aws.String("CONTINUE")}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(5 * time.Minute)
	r.w = &truth{e: e, nodes: nodes, grace: s.stale + time.Second, outSince: map[string]time.Time{}, taken: map[string]string{}, killed: map[string]int{}}
	for _, n := range nodes {
		if _, ok := r.w.serving(n); !ok {
			t.Fatalf("node %s is not in service after provisioning: %+v", n.ID, e.Members(n.Group))
		}
	}
	simtest.NewVersion(t, ctx, e, nodes)

	// The monitor.
	mctx, stopMonitor := context.WithCancel(ctx)
	monitorDone := make(chan struct{})
	go func() {
		defer close(monitorDone)
		for mctx.Err() == nil {
			r.w.look()
			_ = clock.Sleep(mctx, clock.Real{}, 500*time.Millisecond)
		}
	}()

	// Faults and the other operators, each at its time.
	fctx, stopFaults := context.WithCancel(ctx)
	var actors sync.WaitGroup
	at := func(d time.Duration, f func()) {
		actors.Add(1)
		go func() {
			defer actors.Done()
			if clock.Sleep(fctx, clock.Real{}, d) == nil {
				f()
			}
		}()
	}
	node := func(k int) sim.NodeSpec { return nodes[k] }
	if s.throttleFor > 0 {
		at(s.throttleAt, func() { e.AddFaults(sim.Throttle(s.throttleP)...) })
		at(s.throttleAt+s.throttleFor, e.ClearFaults)
	}
	if s.loseAt > 0 {
		at(s.loseAt, func() {
			if id, ok := e.InstanceByIP(node(s.loseNode).IP); ok {
				_ = e.LoseInstance(id)
			}
		})
	}
	if s.failAt > 0 {
		at(s.failAt, func() {
			_ = e.FailLaunches(node(s.failNode).Group, s.failCount, "InsufficientInstanceCapacity", "We currently do not have sufficient t3.micro capacity in the Availability Zone you requested")
		})
	}
	if s.busyNode >= 0 {
		if id, ok := e.InstanceByIP(node(s.busyNode).IP); ok {
			disks.Busy(id, true)
		}
	}
	if s.stale > 0 {
		e.SetStaleReadsUpTo(s.stale)
	}
	if s.secondAt > 0 {
		at(s.secondAt, func() {
			code, _ := r.command(ctx, r.link(), "roll", "--cluster", "c", "--last", node(s.secondLast).ID, "--timeout", "20m")
			// ExitUnreachable: AWS lost mid-roll (the faults drop answers).
			if code != ExitOK && code != ExitRefused && code != ExitStopped && code != ExitError && code != ExitUnreachable {
				t.Errorf("the second roll exited %d", code)
			}
		})
	}
	if s.replaceAt > 0 {
		at(s.replaceAt, func() {
			code, _ := r.command(ctx, r.link(), "recover", node(s.replaceNode).ID, "--cluster", "c", "--replace", "--yes")
			if code != ExitOK && code != ExitUnsafe && code != ExitUsage && code != ExitError {
				t.Errorf("recover --replace exited %d", code)
			}
		})
	}
	if s.abandonAt > 0 {
		at(s.abandonAt, func() {
			code, _ := r.command(ctx, r.link(), "recover", node(s.abandonNode).ID, "--cluster", "c", "--abandon", "--yes")
			if code != ExitOK && code != ExitUsage && code != ExitError {
				t.Errorf("recover --abandon exited %d", code)
			}
		})
	}

	r.startApplyFaults(at)

	// The roll, killed at one of its calls and restarted at once.
	rctx, kill := context.WithCancel(ctx)
	first := r.link()
	first.killAt, first.kill, first.hard = s.killAtCall, kill, s.hardKill
	code, _ := r.firstRoll(rctx, first)
	kill()
	if first.calls >= s.killAtCall && s.killAtCall > 0 {
		code = r.rollAsOperator(ctx, r.link(), "20m")
	}
	if code != ExitOK && code != ExitRefused && code != ExitStopped && code != ExitError && code != ExitUnreachable {
		t.Errorf("the roll exited %d", code)
	}
	if s.replaceAfter >= 0 {
		// Under the same faults, once the roll is over: the replacement
		// usually goes through.
		code, _ := r.command(ctx, r.link(), "recover", node(s.replaceAfter).ID, "--cluster", "c", "--replace", "--yes")
		if code != ExitOK && code != ExitUnsafe && code != ExitUsage && code != ExitError {
			t.Errorf("recover --replace after the roll exited %d", code)
		}
	}

	// The faults stop; every operator is done; one more roll converges.
	stopFaults()
	actors.Wait()
	faulty.Store(false)
	e.ClearFaults()
	e.SetStaleReads(0)
	for _, n := range nodes {
		for _, m := range e.Members(n.Group) {
			disks.Busy(m.ID, false)
		}
	}
	time.Sleep(3 * time.Minute)
	if code := r.rollAsOperator(ctx, &operatorLink{w: r.w, rng: r.rng}, "30m"); code != ExitOK {
		t.Errorf("the roll after the faults stopped exited %d", code)
	}
	stopMonitor()
	<-monitorDone
	r.w.look()

	for _, v := range append(r.w.faults, disks.Violations()...) {
		t.Error(v)
	}
	results := r.boot.Results()
	for _, n := range nodes {
		id, ok := r.w.serving(n)
		if !ok {
			t.Errorf("node %s does not serve at the end: %+v", n.ID, e.Members(n.Group))
			continue
		}
		if m := e.Members(n.Group); m[0].Version != 2 {
			t.Errorf("node %s serves on version %d at the end, want 2", n.ID, m[0].Version)
		}
		if inst, state := e.Attachment(n.Volume); inst != id || state != "attached" || disks.MountedBy(n.Volume) != id {
			t.Errorf("node %s's volume %s: attached to %q (%s), mounted by %q; its instance is %s", n.ID, n.Volume, inst, state, disks.MountedBy(n.Volume), id)
		}
		if err, done := results[id]; !done || err != nil {
			t.Errorf("node %s's agent on %s: finished %t, %v", n.ID, id, done, err)
		}
	}
	if disks.BusyRefusals() > 0 {
		count("drain: unmount failed, volume left attached")
	}
	if f := disks.Formats(); f != len(nodes) {
		t.Errorf("%d formats for %d volumes: each must be formatted once in its life", f, len(nodes))
	}
}
