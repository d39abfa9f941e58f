// Package agenttest boots the real node agent on every instance of a
// simulated cluster, with simulated disks, for tests that run the whole
// system (roll, agents, recover) in virtual time.
//
// The disks model what the data-safety promises are about: what a volume
// holds (nothing, or the filesystem of the node that formatted it)
// and which instance has it mounted. They decide with the agent's own
// DecideVolume and record every breach of the promises as a violation: a
// non-blank volume formatted, a volume mounted by two live instances, a
// volume mounted by an instance of another node.
package agenttest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/stateful-aws/stateful/internal/agent"
	"github.com/stateful-aws/stateful/internal/blockdev"
	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/sim"
)

// volume is one data volume's contents and mount.
type volume struct {
	node     string // the node the volume belongs to
	contents string // "" blank, or the stamp label of the node that formatted it
	mounted  string // the instance that has it mounted, "" none
}

// Disks are the data volumes of a simulated cluster.
type Disks struct {
	mu         sync.Mutex
	volumes    map[string]*volume
	dead       map[string]bool // instances EC2 terminated: their mounts are gone
	busy       map[string]bool // instances whose unmount fails (a writer that will not stop)
	formats    int
	refusals   int // unmounts refused as busy
	violations []string
}

// NewDisks makes an empty set of disks: the engine's hooks can point at
// them before the cluster exists.
func NewDisks() *Disks {
	return &Disks{volumes: map[string]*volume{}, dead: map[string]bool{}, busy: map[string]bool{}}
}

// Add gives each node's volume a blank disk.
func (d *Disks) Add(nodes []sim.NodeSpec) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, n := range nodes {
		d.volumes[n.Volume] = &volume{node: n.ID}
	}
}

// Busy makes every unmount on instance fail, as a writer that ignores its
// signals does.
func (d *Disks) Busy(instance string, busy bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.busy[instance] = busy
}

// Observe is the engine's Observe hook: an instance EC2 terminated has
// unmounted everything (its shutdown did).
func (d *Disks) Observe(c sim.Change) {
	if c.State != "terminated" {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dead[c.Instance] = true
	for _, v := range d.volumes {
		if v.mounted == c.Instance {
			v.mounted = ""
		}
	}
}

// Mounted is the engine's VolumeMounted hook: a detach of a mounted volume
// sticks in busy, as on EC2. It runs under the engine's lock and takes
// only the disks' own.
func (d *Disks) Mounted(volumeID string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	v := d.volumes[volumeID]
	return v != nil && v.mounted != ""
}

// MountedBy says which instance has a volume mounted ("" none).
func (d *Disks) MountedBy(volumeID string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.volumes[volumeID].mounted
}

// Formats counts the formats so far.
func (d *Disks) Formats() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.formats
}

// BusyRefusals counts the unmounts refused because the volume was busy.
func (d *Disks) BusyRefusals() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.refusals
}

// Violations are the breaches recorded so far.
func (d *Disks) Violations() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.violations...)
}

func (d *Disks) violate(format string, args ...any) {
	d.violations = append(d.violations, fmt.Sprintf(format, args...))
}

// disk is one instance's view of the disks: the volumes EC2 has attached
// to it appear as devices.
type disk struct {
	d        *Disks
	e        *sim.Engine
	instance string
	node     string
}

const devicePrefix = "/dev/sim/"

func (k disk) Find(volumeID, _ string, _ int64) (string, error) {
	if inst, state := k.e.Attachment(volumeID); inst == k.instance && state == "attached" {
		return devicePrefix + volumeID, nil
	}
	return "", blockdev.ErrNotFound
}

// Prepare inspects the device as blockdev.Inspect would see it, decides
// with the agent's DecideVolume, and formats or mounts.
func (k disk) Prepare(_ context.Context, dev string, want agent.Stamp, _ agent.Volume) (bool, error) {
	id := dev[len(devicePrefix):]
	// Read the attachment before taking the disks' lock: the engine calls
	// Mounted under its own lock.
	inst, state := k.e.Attachment(id)
	k.d.mu.Lock()
	defer k.d.mu.Unlock()
	v := k.d.volumes[id]
	if inst != k.instance || state != "attached" {
		return false, fmt.Errorf("%s: no such device (volume %s is attached to %q, %s)", dev, id, inst, state)
	}
	insp := blockdev.Inspection{Device: dev, Probe: blockdev.Probe{NoSignature: v.contents == ""}}
	insp.HeadZero, insp.TailZero = v.contents == "", v.contents == ""
	if v.contents != "" {
		insp.Probe.Type, insp.Probe.UUID, insp.Probe.Label = "xfs", "uuid-"+id, v.contents
	}
	if v.mounted == k.instance {
		insp.InUse = "mounted"
	}
	action, why := agent.DecideVolume(insp, want)
	switch action {
	case agent.VolumeRefuse:
		return false, fmt.Errorf("%w: %s", agent.ErrRefused, why)
	case agent.VolumeFormat:
		if v.contents != "" {
			k.d.violate("instance %s of node %s formatted volume %s, which held %q", k.instance, k.node, id, v.contents)
		}
		k.d.formats++
		v.contents = want.Label()
	}
	if v.contents != want.Label() {
		return action == agent.VolumeFormat, fmt.Errorf("the stamp on volume %s names %q, not %q", id, v.contents, want.Label())
	}
	if v.node != k.node {
		k.d.violate("instance %s of node %s mounted volume %s of node %s", k.instance, k.node, id, v.node)
	}
	if other := v.mounted; other != "" && other != k.instance && !k.d.dead[other] {
		k.d.violate("instance %s of node %s mounted volume %s while instance %s still had it mounted", k.instance, k.node, id, other)
	}
	v.mounted = k.instance
	return action == agent.VolumeFormat, nil
}

func (k disk) Release(_ context.Context, mountPath, dev string) error {
	k.d.mu.Lock()
	defer k.d.mu.Unlock()
	if k.d.busy[k.instance] {
		k.d.refusals++
		return fmt.Errorf("umount %s: target is busy", mountPath)
	}
	if v := k.d.volumes[dev[len(devicePrefix):]]; v != nil && v.mounted == k.instance {
		v.mounted = ""
	}
	return nil
}

// Script is what the node script does on one boot: run for Takes, then
// succeed or fail.
type Script struct {
	Takes time.Duration
	Fail  bool
}

// Booter boots every instance of a simulated cluster with the real agent.
type Booter struct {
	Disks *Disks
	// Config makes a node's agent config (Validate is called on it).
	Config func(n sim.NodeSpec) *agent.Config
	// Script says what the node script does on an instance's boot; the
	// boot is the instance's count of boots of its node, from 1.
	Script func(n sim.NodeSpec, boot int) Script
	// Skip, when it returns true, leaves the instance to its hook's
	// timeout: the agent never starts (user data broke before it).
	Skip    func(n sim.NodeSpec, boot int) bool
	Ctx     context.Context
	Logger  *slog.Logger
	TempDir func() string

	mu      sync.Mutex
	nodes   []sim.NodeSpec
	boots   map[string]int   // per node
	results map[string]error // bootstrap result per instance
	stop    map[string]context.CancelFunc
}

// Observe is the engine's Observe hook: the agent of an instance EC2
// terminated stops, as the instance's processes do.
func (b *Booter) Observe(c sim.Change) {
	if c.State != "terminated" {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if stop := b.stop[c.Instance]; stop != nil {
		stop()
	}
}

// SetNodes says which nodes the groups belong to, once provisioned.
func (b *Booter) SetNodes(nodes []sim.NodeSpec) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.nodes = nodes
}

// Results are the bootstrap results so far, per instance.
func (b *Booter) Results() map[string]error {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]error, len(b.results))
	for k, v := range b.results {
		out[k] = v
	}
	return out
}

// Boot is the engine's BootFunc. The agent runs as on an instance: launch
// hook first, then the drain watcher once in service.
func (b *Booter) Boot(e *sim.Engine, inst sim.Instance) {
	var node sim.NodeSpec
	b.mu.Lock()
	for _, n := range b.nodes {
		if n.Group == inst.Group {
			node = n
		}
	}
	if b.boots == nil {
		b.boots, b.results, b.stop = map[string]int{}, map[string]error{}, map[string]context.CancelFunc{}
	}
	ctx, stop := context.WithCancel(b.Ctx)
	b.stop[inst.ID] = stop
	b.boots[node.ID]++
	boot := b.boots[node.ID]
	b.mu.Unlock()
	if b.Skip != nil && b.Skip(node, boot) {
		return
	}
	cfg := b.Config(node)
	if err := cfg.Validate(); err != nil {
		panic(fmt.Sprintf("agenttest: the config of node %s: %v", node.ID, err))
	}
	s := Script{}
	if b.Script != nil {
		s = b.Script(node, boot)
	}
	logger := b.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var a *agent.Agent
	d := agent.Deps{EC2: e.EC2(), AutoScaling: e.AutoScaling(), IMDS: sim.IMDS{Engine: e, InstanceID: inst.ID}, Clock: clock.Real{},
		Logger: logger, StateDir: b.TempDir(), Disk: disk{d: b.Disks, e: e, instance: inst.ID, node: node.ID}, Shell: shell(s)}
	d.StartDrain = func() error {
		go func() { _ = a.Drain(ctx) }()
		return nil
	}
	a, err := agent.New(cfg, d)
	if err != nil {
		panic(fmt.Sprintf("agenttest: %v", err))
	}
	go func() {
		err := a.Bootstrap(ctx)
		b.mu.Lock()
		b.results[inst.ID] = err
		b.mu.Unlock()
	}()
}

// shell runs the node script's functions in virtual time: the drain
// function returns at once, the rest as s says.
func shell(s Script) agent.Shell {
	return func(ctx context.Context, r agent.Run) error {
		if strings.Contains(r.Program, "drain_cluster_node") {
			return nil
		}
		if err := clock.Sleep(ctx, clock.Real{}, s.Takes); err != nil {
			return err
		}
		if s.Fail {
			return errors.New("wait_for_healthy_cluster: exit status 1")
		}
		return nil
	}
}
