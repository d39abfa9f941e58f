package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"

	"github.com/stateful-aws/stateful/internal/clock"
)

// Probe is the application's own client, run by the demo from the lab
// network (the control plane's namespace, the host's filesystem) in bash,
// in the configuration's directory, with STATEFUL_NODE_IPS (the nodes'
// IPs, space separated) in its environment. Each command is optional.
type Probe struct {
	// Ready exits 0 once the application serves: before the roll and
	// after a node loss (default: Write succeeding once).
	Ready string
	// Write runs every 100ms through the whole run with STATEFUL_PROBE_SEQ
	// (0, 1, 2, ...): exit 0 means it wrote item SEQ (and read it back);
	// the report's availability is the share of exits 0.
	Write string
	// Check runs once at the end and prints, whitespace separated, the
	// SEQs it reads back: an acknowledged SEQ missing is a lost write.
	Check string
	// Identity runs before the roll and at the end: the same output means
	// every member kept its identity, hence its data.
	Identity string
	// App names the roll's built-in check (stateful roll --app), asked
	// from the lab network; OnFailure is its --on-failure.
	App, OnFailure string
}

// ProbeFile is the file of a configuration's directory that gives its
// probe: HCL attributes ready, probe, check and identity, and the roll's
// built-in check: app and on_failure.
const ProbeFile = "lab.hcl"

// probeEvery is the probe's period.
const probeEvery = 100 * time.Millisecond

// probeTimeout bounds one run of a probe command: the application's client
// may retry within it (while a quorum elects a leader, as real clients
// do); the report gives the slowest run.
const probeTimeout = 10 * time.Second

// LoadProbe reads dir/lab.hcl; a missing file is no probe.
func LoadProbe(dir string) (Probe, error) {
	var p Probe
	if err := trustedDir(dir); err != nil {
		return p, err
	}
	path := filepath.Join(dir, ProbeFile)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return p, nil
	}
	f, diags := hclparse.NewParser().ParseHCLFile(path)
	if diags.HasErrors() {
		return p, fmt.Errorf("reading %s: %s", path, diags.Error())
	}
	attrs, diags := f.Body.JustAttributes()
	if diags.HasErrors() {
		return p, fmt.Errorf("reading %s: %s", path, diags.Error())
	}
	fields := map[string]*string{"ready": &p.Ready, "probe": &p.Write, "check": &p.Check, "identity": &p.Identity, "app": &p.App, "on_failure": &p.OnFailure}
	for name, a := range attrs {
		to, ok := fields[name]
		if !ok {
			return p, fmt.Errorf("%s:%d: %s is not a probe setting: %s allows ready, probe, check, identity, app and on_failure", path, a.Range.Start.Line, name, ProbeFile)
		}
		v, diags := a.Expr.Value(&hcl.EvalContext{})
		if diags.HasErrors() || v.Type() != cty.String || v.IsNull() {
			return p, fmt.Errorf("%s:%d: %s must be a literal string", path, a.Range.Start.Line, name)
		}
		*to = v.AsString()
	}
	return p, nil
}

// Override sets the commands given (flags win over the file).
func (p Probe) Override(o Probe) Probe {
	for _, f := range []struct{ to, from *string }{{&p.Ready, &o.Ready}, {&p.Write, &o.Write}, {&p.Check, &o.Check}, {&p.Identity, &o.Identity}, {&p.App, &o.App}, {&p.OnFailure, &o.OnFailure}} {
		if *f.from != "" {
			*f.to = *f.from
		}
	}
	return p
}

// probeRunner runs probe commands from the lab network.
type probeRunner struct {
	netns, dir string
	ips        []string
}

// run runs a command with seq (-1: none) and returns its standard output.
func (r probeRunner) run(ctx context.Context, command string, seq int, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", command)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(), "STATEFUL_NODE_IPS="+strings.Join(r.ips, " "))
	if seq >= 0 {
		cmd.Env = append(cmd.Env, "STATEFUL_PROBE_SEQ="+strconv.Itoa(seq))
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	// Its own process group, so that a timeout ends the client bash started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	// A process started from a thread inside the namespace is inside it.
	if err := inNetns(netnsPath(r.netns), cmd.Start); err != nil {
		return "", fmt.Errorf("starting %q in the lab network: %w", command, err)
	}
	if err := cmd.Wait(); err != nil {
		return out.String(), fmt.Errorf("%s: %w: %s", command, err, strings.TrimSpace(lastLine(errb.String())))
	}
	return out.String(), nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// prober runs Write every probeEvery and keeps every attempt, to measure
// availability and find lost writes.
type prober struct {
	r     probeRunner
	cmd   string
	clock clock.Clock
	mu    sync.Mutex
	tries []attempt
}

type attempt struct {
	at   time.Time
	took time.Duration
	seq  int
	ok   bool // the write was acknowledged (and read back)
}

func (p *prober) run(ctx context.Context) {
	for seq := 0; ctx.Err() == nil; seq++ {
		start := p.clock.Now()
		_, err := p.r.run(ctx, p.cmd, seq, probeTimeout)
		if ctx.Err() != nil {
			return
		}
		p.mu.Lock()
		p.tries = append(p.tries, attempt{at: start, took: p.clock.Now().Sub(start), seq: seq, ok: err == nil})
		p.mu.Unlock()
		if rest := probeEvery - p.clock.Now().Sub(start); rest > 0 {
			_ = clock.Sleep(ctx, p.clock, rest)
		}
	}
}

// availability counts the attempts between from and to, those
// acknowledged, and the slowest.
func (p *prober) availability(from, to time.Time) (ok, total int, slowest time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range p.tries {
		if !a.at.Before(from) && a.at.Before(to) {
			total++
			if a.ok {
				ok++
			}
			slowest = max(slowest, a.took)
		}
	}
	return ok, total, slowest
}

// byTime measures availability by time between from and to: each run
// stands for the time from its start to the next run's start (the last
// one's until to; the time before the first run in the window takes the
// state of the run before it), so a fast failure, run again and again,
// weighs no more than the time it covers. It returns the time the probe
// succeeded, the window's length and the longest stretch of consecutive
// failures. Pure: tries are in start order.
func byTime(tries []attempt, from, to time.Time) (up, total, longestGap time.Duration) {
	if !to.After(from) {
		return 0, 0, 0
	}
	total = to.Sub(from)
	var gap time.Duration
	for k, a := range tries {
		start := a.at
		end := to
		if k+1 < len(tries) {
			end = tries[k+1].at
		}
		if start.Before(from) {
			start = from
		}
		if end.After(to) {
			end = to
		}
		if !end.After(start) {
			continue
		}
		if a.ok {
			up += end.Sub(start)
			gap = 0
			continue
		}
		gap += end.Sub(start)
		longestGap = max(longestGap, gap)
	}
	return up, total, longestGap
}

// availabilityByTime is byTime over the runs so far.
func (p *prober) availabilityByTime(from, to time.Time) (up, total, longestGap time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return byTime(p.tries, from, to)
}

// DialIn dials from the lab network of the lab whose id is given
// (State.ID), as the probe runs: the roll's built-in checks reach the
// nodes' client ports through it.
func DialIn(labID string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	path := netnsPath((&Lab{id: labID}).cpNetns())
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := inNetns(path, func() error {
			var d net.Dialer
			var err error
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}

// ID is the lab's id (State.ID).
func (l *Lab) ID() string { return l.id }

// Dial dials from the lab's network (DialIn).
func (l *Lab) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	return DialIn(l.id)(ctx, network, addr)
}

// lost are the acknowledged SEQs that the check's output lacks.
func (p *prober) lost(checked string) []int {
	seen := map[string]bool{}
	for _, f := range strings.Fields(checked) {
		seen[f] = true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []int
	for _, a := range p.tries {
		if a.ok && !seen[strconv.Itoa(a.seq)] {
			out = append(out, a.seq)
		}
	}
	return out
}

// byTimePct is up as a percentage of total (100 for an empty window).
func byTimePct(up, total time.Duration) float64 {
	if total <= 0 {
		return 100
	}
	return 100 * float64(up) / float64(total)
}
