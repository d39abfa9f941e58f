package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/inventory"
	"github.com/stateful-aws/stateful/internal/rollout"
	"github.com/stateful-aws/stateful/internal/sim"
)

// Report is what the demo saw.
type Report struct {
	Timeline     []Event
	Replacements []rollout.Replacement
	Probe        Probe         // the application's client the demo ran
	RollProbes   [2]int        // probes acknowledged, run during the roll
	AllProbes    [2]int        // the same over the whole demo
	RollSlowest  time.Duration // the slowest probe run during the roll
	// RollUp and RollTime: how long the probe succeeded during the roll,
	// of the roll's wall time (probe.go's byTime); RollGap the longest
	// stretch of failures.
	RollUp, RollTime, RollGap time.Duration
	Lost                      []int          // acknowledged SEQs the check did not read back
	Checked                   int            // SEQs the check read back
	Formats                   map[string]int // volume -> formats seen in the agents' events
	Agents                    []AgentRun     // every bootstrap, from the agents' events
	// AgentFailures are the failed bootstraps, said as they happened.
	AgentFailures []AgentFailure
	SameIPs       bool // every node back on its planned IP
	// SameIdentity: the probe's identity command printed the same before
	// the roll and at the end (every member kept its identity: its data).
	SameIdentity bool
	KillRecovery time.Duration
	RollErr      error
	Total        time.Duration
}

// Event is a line of the timeline.
type Event struct {
	At   time.Duration
	What string
}

// Scenario picks what the demo does after the cluster is up.
type Scenario struct {
	// LoseDuringRoll loses this node's instance while the roll replaces
	// another node ("" for none): the roll must stop.
	LoseDuringRoll string
	// KillAfter kills this node's instance after the roll ("" for none):
	// its group must bring it back.
	KillAfter string
	// Roll is how the roll goes (a zero value: one node at a time).
	Roll rollout.Options
}

// ByZone rolls a whole zone at a time: the lab's three nodes sit in three
// zones, so one node at a time, as a three-member quorum requires.
var ByZone = rollout.Options{ByZone: true, WholeZone: true}

// DefaultScenario is `make demo`: a full roll zone by zone, then a node loss.
var DefaultScenario = Scenario{KillAfter: "01", Roll: ByZone}

// Demo runs a scenario on a running lab.
func (l *Lab) Demo(ctx context.Context, sc Scenario, progress io.Writer) (*Report, error) {
	start := l.cfg.Clock.Now()
	r := &Report{Formats: map[string]int{}}
	var noteMu sync.Mutex // the roll, the agents' watch and the demo note
	note := func(format string, args ...any) {
		noteMu.Lock()
		defer noteMu.Unlock()
		e := Event{At: l.cfg.Clock.Now().Sub(start).Round(100 * time.Millisecond), What: fmt.Sprintf(format, args...)}
		r.Timeline = append(r.Timeline, e)
		fmt.Fprintf(progress, "[%7s] %s\n", e.At, e.What)
	}
	clients, err := awsapi.New(ctx, awsapi.Config{Region: "us-east-1", EndpointURL: l.Endpoint, MaxAttempts: 5, MaxBackoff: 200 * time.Millisecond,
		Credentials: l.Credentials()})
	if err != nil {
		return nil, err
	}
	inv, err := inventory.New(inventory.Config{AutoScaling: clients.AutoScaling, EC2: clients.EC2, Clock: l.cfg.Clock})
	if err != nil {
		return nil, err
	}
	sel := inventory.Selector{Cluster: l.spec.Name}
	probe := l.cfg.Probe
	runner := probeRunner{netns: l.cpNetns(), dir: l.cfg.Source.Dir}
	for _, n := range l.cluster.Nodes {
		runner.ips = append(runner.ips, n.IP)
	}
	r.Probe = probe

	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	l.agents = l.watchAgents(wctx, func(f AgentFailure) { note("%s", f) })
	defer func() { r.AgentFailures = l.agents.failures() }()
	note("%d nodes booting through their launch hooks", len(l.cluster.Nodes))
	if err := l.awaitCluster(ctx, inv, sel, runner, probe, 3*time.Minute); err != nil {
		return r, err
	}
	note("cluster in service: every node InService, the application ready")
	var identity string
	if probe.Identity != "" {
		if identity, err = runner.run(ctx, probe.Identity, -1, 30*time.Second); err != nil {
			return r, fmt.Errorf("the probe's identity command: %w", err)
		}
	}

	pctx, stopProbe := context.WithCancel(ctx)
	p := &prober{r: runner, cmd: probe.Write, clock: l.cfg.Clock}
	var wg sync.WaitGroup
	if probe.Write != "" {
		wg.Add(1)
		go func() { defer wg.Done(); p.run(pctx) }()
	}
	defer func() { stopProbe(); wg.Wait() }()
	_ = clock.Sleep(ctx, l.cfg.Clock, time.Second)

	if err := sim.NewVersions(ctx, clients.EC2, l.cluster.Nodes, "stateful lab demo: new image"); err != nil {
		return r, err
	}
	note("launch template version 2 created for every node; rolling")
	if sc.LoseDuringRoll != "" {
		go l.loseWhenOthersReplaced(ctx, sc.LoseDuringRoll, note)
	}
	rollStart := l.cfg.Clock.Now()
	// The replacements, from the roll's typed events: a terminate starts
	// one, a replaced ends it.
	var mu sync.Mutex
	started := map[string]rollout.Event{}
	rollErr := l.cfg.Roll(ctx, l.Endpoint, l.secret, l.spec.Name, sc.Roll, func(e rollout.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch e.Kind {
		case rollout.EventTerminate:
			started[e.Node] = e
		case rollout.EventReplaced:
			s := started[e.Node]
			r.Replacements = append(r.Replacements, rollout.Replacement{Node: e.Node, Old: s.Instance, New: e.Instance, AZ: l.azOf(e.Node),
				Took: e.Took, Started: s.At, Detected: e.At})
		}
		switch e.Kind {
		case rollout.EventTerminate, rollout.EventResumeLaunch, rollout.EventReplaced, rollout.EventFailed, rollout.EventPreCheck,
			rollout.EventLeader, rollout.EventMoveLeader, rollout.EventCheck, rollout.EventRollback, rollout.EventRolledBack:
			note("roll: %s", e.Message)
		}
	})
	rollEnd := l.cfg.Clock.Now()
	r.RollErr = rollErr
	r.RollProbes[0], r.RollProbes[1], r.RollSlowest = p.availability(rollStart, rollEnd)
	r.RollUp, r.RollTime, r.RollGap = p.availabilityByTime(rollStart, rollEnd)
	if rollErr != nil {
		note("roll stopped: %v", rollErr)
		if err := l.awaitCluster(ctx, inv, sel, runner, probe, 3*time.Minute); err != nil {
			return r, err
		}
		note("cluster recovered: the lost node was replaced")
	} else {
		note("roll done: %d nodes replaced", len(r.Replacements))
	}

	if sc.KillAfter != "" {
		id, ok := l.instanceOf(sc.KillAfter)
		if !ok {
			return r, fmt.Errorf("node %s has no instance to kill", sc.KillAfter)
		}
		killAt := l.cfg.Clock.Now()
		if _, err := clients.EC2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
			return r, err
		}
		note("killed node %s's instance %s (outside Auto Scaling, as a host failure)", sc.KillAfter, id)
		if err := l.awaitReplaced(ctx, inv, sel, runner, probe, sc.KillAfter, id, 3*time.Minute); err != nil {
			return r, err
		}
		r.KillRecovery = l.cfg.Clock.Now().Sub(killAt)
		note("node %s back: new instance, same IP, same data, after %s", sc.KillAfter, r.KillRecovery.Round(100*time.Millisecond))
	}
	_ = clock.Sleep(ctx, l.cfg.Clock, time.Second)
	stopProbe()
	wg.Wait()

	r.AllProbes[0], r.AllProbes[1], _ = p.availability(start, l.cfg.Clock.Now())
	if probe.Check != "" {
		out, err := runner.run(ctx, probe.Check, -1, time.Minute)
		if err != nil {
			return r, fmt.Errorf("the probe's check command: %w", err)
		}
		r.Checked = len(strings.Fields(out))
		r.Lost = p.lost(out)
	}
	if probe.Identity != "" {
		after, err := runner.run(ctx, probe.Identity, -1, 30*time.Second)
		if err != nil {
			return r, fmt.Errorf("the probe's identity command: %w", err)
		}
		r.SameIdentity = after == identity
		if !r.SameIdentity {
			note("identity before the roll:\n%s\nidentity at the end:\n%s", identity, after)
		}
	}
	r.SameIPs = true
	for _, n := range l.cluster.Nodes {
		id, ok := l.instanceOf(n.ID)
		ip, _ := l.Engine.Metadata(id, "meta-data/local-ipv4")
		if !ok || ip != n.IP {
			r.SameIPs = false
		}
	}
	r.Formats, r.Agents = l.agentLogs()
	r.Total = l.cfg.Clock.Now().Sub(start)
	note("demo done in %s", r.Total.Round(100*time.Millisecond))
	return r, nil
}

// azOf is the node's zone.
func (l *Lab) azOf(node string) string {
	for _, n := range l.cluster.Nodes {
		if n.ID == node {
			return n.AZ
		}
	}
	return ""
}

// instanceOf is the node's current in-service instance.
func (l *Lab) instanceOf(node string) (string, bool) {
	for _, n := range l.cluster.Nodes {
		if n.ID == node {
			for _, m := range l.Engine.Members(n.Group) {
				if m.Lifecycle == "InService" {
					return m.ID, true
				}
			}
		}
	}
	return "", false
}

// awaitCluster waits until every node is InService and the application
// is ready (the probe's ready command, else its write, passes).
func (l *Lab) awaitCluster(ctx context.Context, inv *inventory.Inventory, sel inventory.Selector, r probeRunner, p Probe, limit time.Duration) error {
	deadline := l.cfg.Clock.Now().Add(limit)
	ready := p.Ready
	if ready == "" {
		ready = p.Write
	}
	var last error
	for {
		// A failure no relaunch fixes ends the wait at once: the agent
		// holds its instance until the hook times out, the cluster forms
		// only once the configuration is fixed.
		if f, ok := l.agents.permanent(); ok {
			return fmt.Errorf("%s; instance logs are in %s", f, l.dir("logs"))
		}
		snap, err := inv.Observe(ctx, sel, inventory.Groups, nil)
		if err == nil && len(snap.NotServing()) == 0 {
			if ready == "" {
				return nil
			}
			if _, last = r.run(ctx, ready, 1<<30, probeTimeout); last == nil {
				return nil
			}
		}
		if !l.cfg.Clock.Now().Before(deadline) {
			if last != nil {
				return fmt.Errorf("the cluster was not ready within %s (%v); instance logs are in %s", limit, last, l.dir("logs"))
			}
			return fmt.Errorf("the cluster was not in service within %s; instance logs are in %s", limit, l.dir("logs"))
		}
		if err := clock.Sleep(ctx, l.cfg.Clock, 250*time.Millisecond); err != nil {
			return err
		}
	}
}

func (l *Lab) awaitReplaced(ctx context.Context, inv *inventory.Inventory, sel inventory.Selector, r probeRunner, p Probe, node, old string, limit time.Duration) error {
	deadline := l.cfg.Clock.Now().Add(limit)
	for {
		if id, ok := l.instanceOf(node); ok && id != old {
			if err := l.awaitCluster(ctx, inv, sel, r, p, deadline.Sub(l.cfg.Clock.Now())); err == nil {
				return nil
			}
		}
		if !l.cfg.Clock.Now().Before(deadline) {
			return fmt.Errorf("node %s was not replaced within %s", node, limit)
		}
		if err := clock.Sleep(ctx, l.cfg.Clock, 250*time.Millisecond); err != nil {
			return err
		}
	}
}

// loseWhenOthersReplaced loses node's instance as soon as the roll has
// terminated some other node: a second node lost mid-roll.
func (l *Lab) loseWhenOthersReplaced(ctx context.Context, node string, note func(string, ...any)) {
	for ctx.Err() == nil {
		if l.Engine.CountCalls("TerminateInstanceInAutoScalingGroup") > 0 {
			if id, ok := l.instanceOf(node); ok {
				_ = l.Engine.LoseInstance(id)
				note("lost node %s's instance %s in the middle of the roll", node, id)
			}
			return
		}
		_ = clock.Sleep(ctx, l.cfg.Clock, 100*time.Millisecond)
	}
}

// AgentRun is one bootstrap as its agent logged it.
type AgentRun struct {
	Duration, Overhead time.Duration // overhead: all but the node script
	MaxRSSKiB          int64
}

// agentLogs reads the agents' events (the event field of their JSON log
// lines) from the instances' cloud-init logs (kept under logs/ when an
// instance goes): per volume, how many agents formatted it, and every
// bootstrap's figures.
func (l *Lab) agentLogs() (map[string]int, []AgentRun) {
	formats := map[string]int{}
	var runs []AgentRun
	kept, _ := filepath.Glob(l.dir("logs", "*-cloud-init-output.log"))
	live, _ := filepath.Glob(l.dir("instances", "*", "upper/var/log/cloud-init-output.log"))
	files := append(kept, live...)
	sort.Strings(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			var rec struct {
				Event     string `json:"event"`
				Volume    string `json:"volume_id"`
				Formatted bool   `json:"formatted"`
				Duration  int64  `json:"duration_ms"`
				Overhead  int64  `json:"overhead_ms"`
				MaxRSS    int64  `json:"max_rss_kb"`
			}
			if json.Unmarshal([]byte(line), &rec) != nil {
				continue
			}
			switch rec.Event {
			case "volume_ready":
				if rec.Formatted {
					formats[rec.Volume]++
				}
			case "bootstrap_done":
				runs = append(runs, AgentRun{Duration: time.Duration(rec.Duration) * time.Millisecond,
					Overhead: time.Duration(rec.Overhead) * time.Millisecond, MaxRSSKiB: rec.MaxRSS})
			}
		}
	}
	return formats, runs
}

// Print writes the report.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintln(w, "\n== stateful lab report ==")
	for _, rep := range r.Replacements {
		fmt.Fprintf(w, "node %s replaced in %s (%s -> %s)\n", rep.Node, rep.Took.Round(100*time.Millisecond), rep.Old, rep.New)
	}
	pct := func(x [2]int) float64 {
		if x[1] == 0 {
			return 0
		}
		return 100 * float64(x[0]) / float64(x[1])
	}
	for _, f := range r.AgentFailures {
		fmt.Fprintf(w, "agent failure: %s\n", f)
	}
	if r.Total == 0 && r.AllProbes[1] == 0 && len(r.Replacements) == 0 {
		// Stopped before the cluster served: nothing was measured, and
		// figures of zero would read as results.
		fmt.Fprintln(w, "the demo stopped before the cluster was in service: no probe ran, nothing was rolled (the error below says why)")
		return
	}
	switch {
	case r.Probe.Write != "" && r.AllProbes[1] == 0:
		fmt.Fprintln(w, "probe: none ran: availability not measured")
	case r.Probe.Write != "":
		fmt.Fprintf(w, "probe availability during the roll, by time: %.2f%% (up %s of %s; longest gap %s)\n", byTimePct(r.RollUp, r.RollTime), r.RollUp.Round(time.Millisecond), r.RollTime.Round(time.Millisecond), r.RollGap.Round(time.Millisecond))
		fmt.Fprintf(w, "probe availability during the roll, by count: %.2f%% (%d of %d probes, one every %s or when the last ended; slowest %s)\n", pct(r.RollProbes), r.RollProbes[0], r.RollProbes[1], probeEvery, r.RollSlowest.Round(time.Millisecond))
		fmt.Fprintf(w, "probe availability overall: %.2f%% (%d of %d)\n", pct(r.AllProbes), r.AllProbes[0], r.AllProbes[1])
	default:
		fmt.Fprintln(w, "probe: none (give --probe or a lab.hcl): availability not measured")
	}
	if r.Probe.Check != "" {
		fmt.Fprintf(w, "acknowledged writes lost: %d (the check read back %d)\n", len(r.Lost), r.Checked)
	}
	line := fmt.Sprintf("every node on its own IP: %v", r.SameIPs)
	if r.Probe.Identity != "" {
		line += fmt.Sprintf("; every member kept its identity (its data): %v", r.SameIdentity)
	}
	fmt.Fprintln(w, line)
	var vols []string
	for v, n := range r.Formats {
		vols = append(vols, fmt.Sprintf("%s:%d", v, n))
	}
	sort.Strings(vols)
	fmt.Fprintf(w, "formats per volume: %s\n", strings.Join(vols, " "))
	if len(r.Agents) > 0 {
		var worst AgentRun
		var sum time.Duration
		for _, a := range r.Agents {
			sum += a.Overhead
			worst.Overhead = max(worst.Overhead, a.Overhead)
			worst.MaxRSSKiB = max(worst.MaxRSSKiB, a.MaxRSSKiB)
		}
		fmt.Fprintf(w, "node agent: %d bootstraps; overhead beyond the node script %s mean, %s worst (volume wait, attach, format on first boot, mount included); peak memory %.1f MiB\n",
			len(r.Agents), (sum / time.Duration(len(r.Agents))).Round(time.Millisecond), worst.Overhead.Round(time.Millisecond), float64(worst.MaxRSSKiB)/1024)
	}
	if r.KillRecovery > 0 {
		fmt.Fprintf(w, "node loss recovered in %s\n", r.KillRecovery.Round(100*time.Millisecond))
	}
	if r.RollErr != nil {
		fmt.Fprintf(w, "roll stopped: %v\n", r.RollErr)
	}
	fmt.Fprintf(w, "benchmark: demo finished in %s on %d cores\n", r.Total.Round(100*time.Millisecond), runtime.NumCPU())
}
