package lab

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/inventory"
	"github.com/stateful-aws/stateful/internal/release"
	"github.com/stateful-aws/stateful/internal/rollout"
)

// releaseDir builds this source's release binary for this machine's nodes
// into a release directory, as make demo does into dist/, and checks that
// it is the one the module pins: the lab's nodes download and check it as a
// user's do.
func releaseDir(t *testing.T) string {
	t.Helper()
	if err := Preflight(); err != nil {
		t.Skipf("the end-to-end lab test needs what the lab needs (CI has it): %v", err)
	}
	pin, err := release.ReadPin("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	root, _ := filepath.Abs("../..")
	bin := filepath.Join(dir, filepath.FromSlash(release.Path(pin.Version, release.Target{OS: "linux", Arch: runtime.GOARCH})))
	if err := release.Build(context.Background(), "go", root, pin.Version, release.Target{OS: "linux", Arch: runtime.GOARCH}, bin); err != nil {
		t.Fatal(err)
	}
	if err := CheckRelease("../..", dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// hostNetwork is the host namespace's addresses, routes and rules.
func hostNetwork(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, args := range [][]string{{"-o", "addr"}, {"route", "show", "table", "all"}, {"rule"}} {
		out, err := exec.Command("ip", args...).Output()
		if err != nil {
			t.Fatalf("ip %v: %v", args, err)
		}
		b.Write(out)
	}
	return b.String()
}

func startLab(t *testing.T, config string) *Lab { return startLabWith(t, config, releaseDir(t)) }

func startLabWith(t *testing.T, config, releaseDir string) *Lab {
	t.Helper()
	work := t.TempDir()
	before := hostNetwork(t)
	probe, err := LoadProbe(config)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Up(context.Background(), Config{Source: Source{Dir: config, ModuleDir: "../.."}, Probe: probe, Roll: rollLikeTheCommand, WorkDir: work, Release: releaseDir})
	if err != nil {
		t.Fatal(err)
	}
	if now := hostNetwork(t); now != before {
		t.Errorf("the lab changed the host's addresses, routes or rules:\nbefore:\n%s\nafter:\n%s", before, now)
	}
	t.Cleanup(func() {
		if t.Failed() {
			l.KeepLogs()
			t.Logf("instance logs kept in %s", l.LogDir())
		}
		if err := l.Down(); err != nil {
			t.Errorf("teardown: %v", err)
		}
		assertNothingLeft(t, l, work)
		if now := hostNetwork(t); now != before {
			t.Errorf("after teardown the host's network differs:\nbefore:\n%s\nafter:\n%s", before, now)
		}
	})
	return l
}

// assertNothingLeft checks that the lab removed every namespace, loop
// device, mount and file it made.
func assertNothingLeft(t *testing.T, l *Lab, work string) {
	t.Helper()
	if out, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(out), l.id) {
		t.Errorf("namespaces left behind:\n%s", out)
	}
	if out, _ := exec.Command("losetup", "-a").Output(); strings.Contains(string(out), work) {
		t.Errorf("loop devices left behind:\n%s", out)
	}
	if b, _ := os.ReadFile("/proc/mounts"); strings.Contains(string(b), work) {
		t.Errorf("mounts left behind under %s", work)
	}
	if _, err := os.Stat(l.dir()); !os.IsNotExist(err) {
		t.Errorf("lab directory %s left behind", l.dir())
	}
}

// callsFor lists, in order, the node of each successful call of op.
func (l *Lab) nodesOfCalls(op string) []string {
	var out []string
	for _, c := range l.Engine.Calls() {
		if c.Operation != op || c.ErrorCode != "" {
			continue
		}
		switch in := c.Input.(type) {
		case *autoscaling.TerminateInstanceInAutoScalingGroupInput:
			out = append(out, l.nodeOfInstance(*in.InstanceId))
		case *autoscaling.CompleteLifecycleActionInput:
			out = append(out, *in.LifecycleHookName+"/"+*in.LifecycleActionResult)
		}
	}
	return out
}

func (l *Lab) nodeOfInstance(id string) string {
	ip, _ := l.Engine.Metadata(id, "meta-data/local-ipv4")
	for _, n := range l.cluster.Nodes {
		if n.IP == ip {
			return n.ID
		}
	}
	for _, c := range l.Engine.Calls() { // terminated already: by its hook calls
		if in, ok := c.Input.(*autoscaling.CompleteLifecycleActionInput); ok && *in.InstanceId == id {
			for _, n := range l.cluster.Nodes {
				if n.Group == *in.AutoScalingGroupName {
					return n.ID
				}
			}
		}
	}
	return "?"
}

func TestDemoRollsWithoutDowntimeAndHealsANodeLoss(t *testing.T) {
	l := startLab(t, "../../examples/etcd")
	r, err := l.Demo(context.Background(), DefaultScenario, testWriter{t})
	if r != nil {
		r.Print(testWriter{t})
	}
	if err != nil {
		t.Fatal(err)
	}
	if r.RollErr != nil || len(r.Replacements) != 3 {
		t.Fatalf("roll: %v, %d replacements", r.RollErr, len(r.Replacements))
	}
	if ok, total := r.RollProbes[0], r.RollProbes[1]; total < 50 || float64(ok) < 0.99*float64(total) {
		t.Errorf("during the roll %d of %d probes (a write read back at once) passed; want at least 99%%", ok, total)
	}
	if float64(r.RollUp) < 0.99*float64(r.RollTime) || r.RollGap > time.Second {
		t.Errorf("during the roll the probe succeeded %s of %s, longest gap %s; want at least 99%% by time and no gap over 1s", r.RollUp, r.RollTime, r.RollGap)
	}
	if len(r.Lost) > 0 || r.Checked < r.AllProbes[0] {
		t.Errorf("%d acknowledged writes lost (%v); the check read back %d of %d", len(r.Lost), r.Lost, r.Checked, r.AllProbes[0])
	}
	if !r.SameIPs || !r.SameIdentity {
		t.Errorf("same IPs %v, same etcd members (data kept) %v", r.SameIPs, r.SameIdentity)
	}
	if len(r.Formats) != 3 {
		t.Errorf("formats %v: want each of the 3 volumes formatted exactly once", r.Formats)
	}
	// Seven instances came and went on the bridge: its MAC stayed the one
	// the lab gave it, so no running instance's neighbour entry for the
	// simulator and IMDS went stale.
	if out, err := exec.Command("ip", "-n", l.cpNetns(), "-o", "link", "show", "br0").Output(); err != nil || !strings.Contains(string(out), "link/ether "+bridgeMAC) {
		t.Errorf("the bridge's MAC after the roll: %s (%v); want %s", out, err, bridgeMAC)
	}
	for v, n := range r.Formats {
		if n != 1 {
			t.Errorf("volume %s formatted %d times", v, n)
		}
	}
	// Zone by zone: the three nodes sit in three zones, one zone (one
	// node) at a time as the quorum requires: no two replacements overlap.
	zones := map[string]bool{}
	for k, rep := range r.Replacements {
		zones[rep.AZ] = true
		if k > 0 && rep.Started.Before(r.Replacements[k-1].Detected) {
			t.Errorf("node %s's replacement started at %s, before node %s was back at %s", rep.Node, rep.Started, r.Replacements[k-1].Node, r.Replacements[k-1].Detected)
		}
	}
	if len(zones) != 3 {
		t.Errorf("replacements in zones %v, want three zones", zones)
	}
	// The simulator's record: the roll terminated 00, 01, 02 in order; the
	// node loss was not a roll termination.
	if got := strings.Join(l.nodesOfCalls("TerminateInstanceInAutoScalingGroup"), " "); got != "00 01 02" {
		t.Errorf("roll terminations %q, want 00 01 02", got)
	}
	// Seven instances came up through their agents (3, then 3 in the roll,
	// then the lost node's replacement), each completing its launch hook
	// with CONTINUE; the three rolled instances drained through their
	// termination hooks.
	launch, drain := 0, 0
	for _, c := range l.nodesOfCalls("CompleteLifecycleAction") {
		switch {
		case c == l.Cluster().Nodes[0].LaunchHook+"/CONTINUE":
			launch++
		case c == l.Cluster().Nodes[0].DrainHook+"/CONTINUE":
			drain++
		default:
			t.Errorf("unexpected completion %s", c)
		}
	}
	if launch != 7 || drain != 3 {
		t.Errorf("%d launch completions (want 7), %d drain completions (want 3)", launch, drain)
	}
}

func TestSecondNodeLostMidRollStopsTheRoll(t *testing.T) {
	l := startLab(t, "../../examples/etcd")
	r, err := l.Demo(context.Background(), Scenario{LoseDuringRoll: "02"}, testWriter{t})
	if err != nil {
		t.Fatalf("the cluster did not recover after the lost node was replaced: %v", err)
	}
	f, ok := rollout.IsFailure(r.RollErr)
	if !ok || f.Kind != rollout.NodeLost || f.Node != "02" {
		t.Fatalf("roll error %v; want a stop because node 02 was lost", r.RollErr)
	}
	if got := strings.Join(l.nodesOfCalls("TerminateInstanceInAutoScalingGroup"), " "); got != "00" {
		t.Fatalf("the roll terminated %q; after the loss no further node may be touched", got)
	}
	if len(r.Lost) > 0 {
		t.Errorf("%d acknowledged writes lost", len(r.Lost))
	}
}

func TestLabRefusesABudgetThatBreaksItsQuorum(t *testing.T) {
	l := startLab(t, "../../examples/etcd")
	ctx := context.Background()
	clients, err := awsapi.New(ctx, awsapi.Config{Region: "us-east-1", EndpointURL: l.Endpoint, MaxAttempts: 5, MaxBackoff: 200 * time.Millisecond,
		Credentials: l.Credentials()})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.New(inventory.Config{AutoScaling: clients.AutoScaling, EC2: clients.EC2, Clock: l.cfg.Clock})
	if err != nil {
		t.Fatal(err)
	}
	roll := func(opts rollout.Options, dry bool) error {
		_, err := rollout.Run(ctx, rollout.Config{AutoScaling: clients.AutoScaling, Inventory: inv, Clock: l.cfg.Clock, Selector: inventory.Selector{Cluster: l.Cluster().Name},
			Timeout: 3 * time.Minute, Poll: rollout.Poll{Fast: 250 * time.Millisecond, Slow: 2 * time.Second}, Options: opts, DryRun: dry})
		return err
	}
	err = roll(rollout.Options{MaxUnavailable: 2}, false)
	var q *rollout.QuorumError
	if !errors.As(err, &q) || !strings.Contains(err.Error(), "--max-unavailable 2 would leave 1 of 3 nodes in service, fewer than the majority of 2 the cluster needs; give --allow-quorum-loss") {
		t.Fatalf("--max-unavailable 2 on the three-node etcd: %v; want the quorum refusal", err)
	}
	if n := l.Engine.CountCalls("SuspendProcesses") + l.Engine.CountCalls("TerminateInstanceInAutoScalingGroup"); n != 0 {
		t.Fatalf("the refused roll made %d suspend or terminate calls, want none", n)
	}
	// Zone by zone is one node at a time here, and passes.
	if err := roll(ByZone, true); err != nil {
		t.Fatalf("--by-zone --max-unavailable zone: %v", err)
	}
}

// rollLikeTheCommand stands in for cli's labRoll (the stateful roll
// command's code), which this package cannot import: cli imports the lab.
// The command's own path is covered by cli's TestLabRollIsTheRollCommand.
func rollLikeTheCommand(ctx context.Context, endpoint, secret, clusterName string, opts rollout.Options, events func(rollout.Event)) error {
	clients, err := awsapi.New(ctx, awsapi.Config{Region: "us-east-1", EndpointURL: endpoint, MaxAttempts: 5, MaxBackoff: 200 * time.Millisecond,
		Credentials: credentials.NewStaticCredentialsProvider(AccessKeyID, secret, "")})
	if err != nil {
		return err
	}
	inv, err := inventory.New(inventory.Config{AutoScaling: clients.AutoScaling, EC2: clients.EC2, Clock: clock.Real{}})
	if err != nil {
		return err
	}
	_, err = rollout.Run(ctx, rollout.Config{AutoScaling: clients.AutoScaling, Inventory: inv, Clock: clock.Real{}, Selector: inventory.Selector{Cluster: clusterName},
		Options: opts, Timeout: 3 * time.Minute, Poll: rollout.Poll{Fast: 250 * time.Millisecond, Slow: 2 * time.Second}, Events: events})
	return err
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

var _ io.Writer = testWriter{}

// TestTamperedAgentIsRefusedAndTheHookAbandoned serves, in the release
// layout, a binary that is not the pinned one: the node's user data
// refuses it, its summary names the file and both sums, and it completes
// the launch hook with ABANDON itself (a CompleteLifecycleAction call, not
// the hook's timeout).
func TestTamperedAgentIsRefusedAndTheHookAbandoned(t *testing.T) {
	if err := Preflight(); err != nil {
		t.Skipf("the end-to-end lab test needs what the lab needs (CI has it): %v", err)
	}
	pin, err := release.ReadPin("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tampered := []byte("#!/bin/sh\necho this is not the stateful agent\n")
	path := filepath.Join(dir, filepath.FromSlash(release.Path(pin.Version, release.Target{OS: "linux", Arch: runtime.GOARCH})))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, tampered, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := CheckRelease("../..", dir); err == nil || !strings.Contains(err.Error(), "run make release VERSION="+pin.Version) {
		t.Fatalf("CheckRelease of a tampered release: %v", err)
	}
	l := startLabWith(t, "testdata/one-node", dir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var instance string
	for instance == "" {
		for _, c := range l.Engine.Calls() {
			if in, ok := c.Input.(*autoscaling.CompleteLifecycleActionInput); ok && c.ErrorCode == "" {
				if *in.LifecycleActionResult != "ABANDON" || *in.LifecycleHookName != l.Nodes()[0].LaunchHook {
					t.Fatalf("the node completed %s with %s; want its launch hook abandoned", *in.LifecycleHookName, *in.LifecycleActionResult)
				}
				instance = *in.InstanceId
			}
		}
		if err := clock.Sleep(ctx, clock.Real{}, 100*time.Millisecond); err != nil {
			t.Fatal("no CompleteLifecycleAction ABANDON within 2 minutes: the node did not abandon its hook")
		}
	}
	// The abandoned instance's output, kept when it is torn down.
	sum := sha256.Sum256(tampered)
	logFile := filepath.Join(l.dir("logs"), instance+"-cloud-init-output.log")
	want := []string{"stateful node bootstrap FAILED for node 00 at step get-agent",
		fmt.Sprintf("downloaded from %s/%s has sha256 %s, not the pinned %s: refusing to run it", BaseURL(), release.Path(pin.Version, release.Target{OS: "linux", Arch: runtime.GOARCH}), hex.EncodeToString(sum[:]), pin.Sum(release.Target{OS: "linux", Arch: runtime.GOARCH})),
		"completing the launch hook " + l.Nodes()[0].LaunchHook + " with ABANDON"}
	for {
		b, _ := os.ReadFile(logFile)
		missing := ""
		for _, w := range want {
			if !strings.Contains(string(b), w) {
				missing = w
			}
		}
		if missing == "" {
			break
		}
		if err := clock.Sleep(ctx, clock.Real{}, 100*time.Millisecond); err != nil {
			t.Fatalf("the node's output %s lacks %q:\n%s", logFile, missing, b)
		}
	}
	for _, c := range l.Engine.Calls() {
		if c.Operation == "RecordLifecycleActionHeartbeat" && c.ErrorCode == "" {
			if in := c.Input.(*autoscaling.RecordLifecycleActionHeartbeatInput); *in.InstanceId == instance {
				t.Errorf("the refused instance %s heartbeated its hook: an agent ran", instance)
			}
		}
	}
}

// A running lab's host endpoint refuses a request without the lab's
// secret (a local user creating a launch-template version with their own
// user data, which the lab would run as root), and an instance's processes
// live in their own PID namespace: the host's PIDs, init included, are not
// there to nsenter into.
func TestLabEndpointNeedsItsSecretAndInstancesSeeNoHostPIDs(t *testing.T) {
	l := startLab(t, "../../examples/etcd")
	res, err := http.Post(l.Endpoint, "application/x-www-form-urlencoded", strings.NewReader(
		"Action=CreateLaunchTemplateVersion&Version=2016-11-15&LaunchTemplateName=etcd-node-00&SourceVersion=$Latest&LaunchTemplateData.UserData=ZWNobyBwd25lZA=="))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "AuthFailure") {
		t.Fatalf("an unsigned request: %d %s", res.StatusCode, body)
	}
	for _, c := range l.Engine.Calls() {
		if c.Operation == "CreateLaunchTemplateVersion" {
			t.Fatalf("the refused request reached the simulator: %+v", c)
		}
	}
	// The lab's own commands sign with its secret.
	clients, err := awsapi.New(context.Background(), awsapi.Config{Region: "us-east-1", EndpointURL: l.Endpoint, MaxAttempts: 1, Credentials: l.Credentials()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := clients.AutoScaling.DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{}); err != nil {
		t.Fatalf("a signed request: %v", err)
	}

	// An instance's process: in a PID namespace of its own, where PID 1 is
	// the instance's first process and the host's processes do not exist.
	var inst *instance
	for range 600 {
		l.mu.Lock()
		for _, i := range l.instances {
			inst = i
			break
		}
		l.mu.Unlock()
		if inst != nil {
			break
		}
		time.Sleep(100 * time.Millisecond) // the lab boots instances on the wall clock
	}
	if inst == nil {
		t.Fatal("no instance started within a minute")
	}
	var pid int
	for range 600 {
		if pids := pidsInNamed(inst.netns); len(pids) > 0 {
			for _, p := range pids {
				// Nested (two PIDs) and already in the instance's root,
				// where setup mounted the namespace's own /proc.
				b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", p))
				root, _ := os.Readlink(fmt.Sprintf("/proc/%d/root", p))
				if strings.Contains(string(b), "\nNSpid:\t") && len(strings.Fields(strings.SplitN(strings.SplitN(string(b), "\nNSpid:\t", 2)[1], "\n", 2)[0])) == 2 && root != "/" && root != "" {
					pid = p
				}
			}
		}
		if pid != 0 {
			break
		}
		time.Sleep(100 * time.Millisecond) // the lab boots instances on the wall clock
	}
	if pid == 0 {
		t.Fatalf("no process of instance %s runs in a nested PID namespace", inst.id)
	}
	self, _ := os.Readlink("/proc/self/ns/pid")
	theirs, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid))
	if theirs == "" || theirs == self {
		t.Fatalf("instance process %d shares the host's PID namespace (%s)", pid, theirs)
	}
	// What the instance sees in its /proc: its own processes only.
	out, err := exec.Command("nsenter", "-t", strconv.Itoa(pid), "-m", "-p", "-r", "-w", "sh", "-c", "cd / && cat /proc/1/cmdline | tr '\\0' ' '; echo; ls /proc | grep -c '^[0-9]'").Output()
	if err != nil {
		t.Fatalf("nsenter: %v %s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	init1, _ := os.ReadFile("/proc/1/cmdline")
	if len(lines) != 2 || strings.TrimSpace(lines[0]) == strings.TrimSpace(strings.ReplaceAll(string(init1), "\x00", " ")) {
		t.Fatalf("inside the instance, PID 1 is the host's init: %q", out)
	}
	seen, _ := strconv.Atoi(strings.TrimSpace(lines[1]))
	host, _ := os.ReadDir("/proc")
	if seen == 0 || seen >= len(host)/2 {
		t.Fatalf("inside the instance %d processes are visible (the host has about %d entries in /proc)", seen, len(host))
	}
	if _, err := os.Stat(filepath.Join(l.cfg.WorkDir)); err == nil {
		if st, _ := os.Stat(l.cfg.WorkDir); st.Mode().Perm() != 0o700 {
			t.Errorf("the lab's work directory is %o, want 0700", st.Mode().Perm())
		}
	}
}
