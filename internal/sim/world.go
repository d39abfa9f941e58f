package sim

import (
	"maps"
	"slices"
	"time"

	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// world is everything the simulated region holds. Entities are plain values
// so that a snapshot (for stale reads) is a cheap copy.
type world struct {
	vpcs      map[string]*vpc
	subnets   map[string]*subnet
	enis      map[string]*eni
	volumes   map[string]*volume
	templates map[string]*launchTemplate // by ID
	// launchConfigs by name; immutable once created, so shared by clones.
	launchConfigs map[string]*launchConfig
	instances     map[string]*instance
	order         []string // instance IDs in launch order
	groups        map[string]*group
	activities    map[string][]*activity // by group, oldest first
	// params is SSM Parameter Store, by name (ssm.go): part of the world
	// so that GetParameter reads lag like every other read.
	params map[string]*parameter
}

func newWorld() *world {
	return &world{
		vpcs: map[string]*vpc{}, subnets: map[string]*subnet{}, enis: map[string]*eni{},
		volumes: map[string]*volume{}, templates: map[string]*launchTemplate{}, launchConfigs: map[string]*launchConfig{},
		instances: map[string]*instance{}, groups: map[string]*group{},
		activities: map[string][]*activity{}, params: map[string]*parameter{},
	}
}

type tags map[string]string

type vpc struct {
	ID, CIDR string
	Tags     tags
}

type subnet struct {
	ID, VpcID, AZ, CIDR string
	Tags                tags
}

type eni struct {
	ID, SubnetID, VpcID, AZ, IP, MAC, Description string
	Groups                                        []string
	Status                                        string // available | in-use
	InstanceID, AttachmentID                      string
	AttachTime                                    time.Time
	Tags                                          tags
}

type volume struct {
	ID, AZ, Type, KmsKeyID string
	Size, Iops, Throughput int32
	Encrypted              bool
	State                  string // creating | available | in-use
	Att                    *attachment
	CreateTime             time.Time
	Tags                   tags
}

type attachment struct {
	InstanceID, Device, State string // attaching | attached | detaching
	AttachTime                time.Time
	DeleteOnTermination       bool
}

type launchTemplate struct {
	ID, Name       string
	DefaultVersion int64
	LatestVersion  int64
	Versions       map[int64]*templateVersion
	CreateTime     time.Time
	Tags           tags
	CreatedBy      string
}

type templateVersion struct {
	Number      int64
	Description string
	Data        ec2types.RequestLaunchTemplateData
	CreateTime  time.Time
}

type instance struct {
	ID, AZ, SubnetID, VpcID, ENI, IP, MAC string
	ImageID, Type, KeyName, UserData      string
	State                                 string // pending | running | shutting-down | terminated
	StateReason                           string
	LaunchTime                            time.Time
	TemplateID, TemplateName              string
	TemplateVersion                       int64
	LaunchConfig                          string // set instead of the template's fields
	Group                                 string
	Lifecycle                             string // Auto Scaling lifecycle state; "" outside a group
	Health                                string // Healthy | Unhealthy
	Target                                string // IMDS autoscaling/target-lifecycle-state
	InServiceAt                           time.Time
	Action                                *lifecycleAction
	LaunchActivity, TerminateActivity     string
	Tags                                  tags
	HopLimit                              int32
}

// lifecycleAction is an instance held in a *:Wait state by a hook.
type lifecycleAction struct {
	Hook, Transition, Token, DefaultResult string
	Heartbeat                              time.Duration
	Deadline, GlobalDeadline               time.Time
}

type group struct {
	Name, ARN                 string
	Min, Max, Desired         int32
	Template                  templateRef
	LaunchConfig              string   // set instead of Template by a launch configuration
	Mixed                     bool     // a mixed instances policy with Template and MixedTypes
	MixedTypes                []string // its overrides' instance types
	AZs                       []string
	VPCZoneIdentifier         string
	HealthCheckType           string
	GracePeriod               int32
	Hooks                     []hook
	Tags                      []groupTag
	Created                   time.Time
	Instances                 []string // members, including those terminating
	LaunchFailures            int
	NextLaunch                time.Time
	LaunchScheduled           bool
	HealthCheckScheduled      bool
	InjectedLaunchFailures    int
	InjectedLaunchFailureCode string
	InjectedLaunchFailureText string
	// Suspended are the group's suspended processes (SuspendProcesses),
	// in the order they were suspended, with when.
	Suspended []suspension
}

type suspension struct {
	Process string
	At      time.Time
}

type templateRef struct{ ID, Name, Version string }

type hook struct {
	Name, Transition, DefaultResult, Metadata string
	Heartbeat                                 int32
}

type groupTag struct {
	Key, Value        string
	PropagateAtLaunch bool
}

type activity struct {
	ID, Group, Description, Cause, Status, StatusMessage, Details string
	Start, End                                                    time.Time
	Progress                                                      int32
}

func (w *world) clone() *world {
	c := &world{
		vpcs:    cloneMap(w.vpcs, func(v vpc) vpc { v.Tags = maps.Clone(v.Tags); return v }),
		subnets: cloneMap(w.subnets, func(s subnet) subnet { s.Tags = maps.Clone(s.Tags); return s }),
		enis: cloneMap(w.enis, func(n eni) eni {
			n.Groups, n.Tags = slices.Clone(n.Groups), maps.Clone(n.Tags)
			return n
		}),
		volumes: cloneMap(w.volumes, func(v volume) volume {
			if v.Att != nil {
				a := *v.Att
				v.Att = &a
			}
			v.Tags = maps.Clone(v.Tags)
			return v
		}),
		launchConfigs: maps.Clone(w.launchConfigs),
		templates: cloneMap(w.templates, func(t launchTemplate) launchTemplate {
			t.Versions = maps.Clone(t.Versions) // versions are immutable
			t.Tags = maps.Clone(t.Tags)
			return t
		}),
		instances: cloneMap(w.instances, func(i instance) instance {
			if i.Action != nil {
				a := *i.Action
				i.Action = &a
			}
			i.Tags = maps.Clone(i.Tags)
			return i
		}),
		order: slices.Clone(w.order),
		// A parameter's versions are immutable: clipping the slice makes
		// the next put copy it instead of writing into a snapshot's array.
		params: cloneMap(w.params, func(p parameter) parameter { p.versions = slices.Clip(p.versions); return p }),
		groups: cloneMap(w.groups, func(g group) group {
			g.AZs, g.Hooks, g.Tags, g.Instances, g.Suspended = slices.Clone(g.AZs), slices.Clone(g.Hooks), slices.Clone(g.Tags), slices.Clone(g.Instances), slices.Clone(g.Suspended)
			g.MixedTypes = slices.Clone(g.MixedTypes)
			return g
		}),
		activities: map[string][]*activity{},
	}
	for k, list := range w.activities {
		cp := make([]*activity, len(list))
		for i, a := range list {
			v := *a
			cp[i] = &v
		}
		c.activities[k] = cp
	}
	return c
}

func cloneMap[T any](m map[string]*T, f func(T) T) map[string]*T {
	out := make(map[string]*T, len(m))
	for k, v := range m {
		c := f(*v)
		out[k] = &c
	}
	return out
}

// snapshot is the world as it was at a time, for stale reads.
type snapshot struct {
	at time.Time
	w  *world
}

// SetStaleReads makes every Describe call answer with the world as it was
// window ago, as AWS's eventual consistency may after a write. Zero turns it
// off.
func (e *Engine) SetStaleReads(window time.Duration) { e.setStaleReads(window, false) }

// SetStaleReadsUpTo makes every Describe call answer with the world as it
// was some time ago, drawn for each call from [0, window]: reads that lag
// by different amounts, as different AWS endpoints may.
func (e *Engine) SetStaleReadsUpTo(window time.Duration) { e.setStaleReads(window, true) }

func (e *Engine) setStaleReads(window time.Duration, varied bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stale, e.staleVaried = window, varied
	e.history = nil
	e.snapshotIfStale()
}

func (e *Engine) snapshotIfStale() {
	if e.stale <= 0 {
		return
	}
	now := e.now()
	e.history = append(e.history, snapshot{at: now, w: e.w.clone()})
	// Keep the newest snapshot older than the window, and everything after.
	cut := 0
	for i, s := range e.history {
		if !s.at.After(now.Add(-e.stale)) {
			cut = i
		}
	}
	e.history = e.history[cut:]
}

// readWorld is what a Describe call sees.
func (e *Engine) readWorld() *world {
	if e.stale <= 0 || len(e.history) == 0 {
		return e.w
	}
	lag := e.stale
	if e.staleVaried {
		lag = time.Duration(e.delays.Int63n(int64(e.stale) + 1))
	}
	limit := e.now().Add(-lag)
	seen := e.history[0].w
	for _, s := range e.history {
		if s.at.After(limit) {
			break
		}
		seen = s.w
	}
	return seen
}
