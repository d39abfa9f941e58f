// Package sim simulates the AWS control plane the product uses: EC2
// (subnets, ENIs, EBS volumes, launch templates, instances), Auto Scaling
// (groups, lifecycle hooks, scaling activities, replacement of lost
// instances) and IMDS. One Engine holds one world; there is no package-level
// state. Time comes from an injected clock.Clock, so tests run in virtual
// time. The Engine's AutoScaling and EC2 views satisfy the interfaces of
// internal/awsapi, and return the real AWS error codes.
package sim

import (
	"container/heap"
	"context"
	"fmt"
	"log/slog"
	"math/rand"
	"sync"
	"time"

	"github.com/stateful-aws/stateful/internal/clock"
)

// Config sets up an Engine.
type Config struct {
	Clock   clock.Clock
	Region  string // default us-east-1
	Account string // default 123456789012
	Seed    int64  // IDs and probabilistic faults derive from it
	Timings Timings
	// Boot is called (outside the engine's lock) when an instance reaches
	// running: for a group with a launch hook that is Pending:Wait. Nil means
	// instances do nothing, so launch hooks time out.
	Boot BootFunc
	// Observe, when set, hears of every instance state change and volume
	// attachment change, in order, outside the engine's lock but on the
	// goroutine of the call or event that caused it: it must not block
	// (the lab queues the change for a worker that makes it real).
	Observe func(Change)
	// VolumeMounted, when set, says whether a volume's filesystem is
	// mounted on its instance (the lab looks at the instance's mount
	// table). DetachVolume of a mounted volume sticks in busy until it is
	// unmounted, as on EC2. It is called under the engine's lock and must
	// not call the engine.
	VolumeMounted func(volumeID string) bool
	Logger        *slog.Logger
}

// Change is something the world outside the simulator may need to act on.
type Change struct {
	At       time.Time
	Instance string
	// State is the instance's new EC2 state (pending, running,
	// shutting-down, terminated), or "" for an attachment change.
	State string
	// Volume and Attachment report a volume's attachment to Instance:
	// attached, or detached.
	Volume, Attachment string
}

// Timings are the durations AWS does not document; every one is a setting.
type Timings struct {
	LaunchDelay        time.Duration // capacity shortfall noticed -> launch attempt
	PendingToRunning   time.Duration // EC2 pending -> running
	ProceedToInService time.Duration // Pending:Proceed -> InService
	// HookWaitDelay: EC2 running -> Pending:Wait, when the launch hook's
	// wait begins. User data starts at running; AWS does not say how soon
	// the hook is active (default 0).
	HookWaitDelay    time.Duration
	ShutdownDuration time.Duration // EC2 shutting-down -> terminated
	// ENIReleaseDelay: instance terminated -> ENI available, plus a
	// uniform draw in [0, ENIReleaseSpread) (from the engine's seed; AWS
	// only says "gradually": AWS-FACTS §8.2 gives 0-10 s).
	ENIReleaseDelay     time.Duration
	ENIReleaseSpread    time.Duration
	VolumeReleaseDelay  time.Duration // instance terminated -> volume available (detaching meanwhile)
	VolumeAttachDelay   time.Duration // AttachVolume: attaching -> attached
	VolumeDetachDelay   time.Duration // DetachVolume: detaching -> available
	VolumeCreateDelay   time.Duration // CreateVolume: creating -> available
	LaunchRetryBase     time.Duration // first retry after a failed launch; doubles
	LaunchRetryMax      time.Duration // cap of that backoff
	HealthCheckInterval time.Duration // how often the group notices a lost instance
	TerminatedRetention time.Duration // terminated instances stay visible in DescribeInstances
	// ReplaceAfterTerminationHook makes the group wait for a termination
	// hook to finish before launching the replacement (AWS does not say).
	ReplaceAfterTerminationHook bool
}

// spread draws a delay in [base, base+spread).
func (e *Engine) spread(base, spread time.Duration) time.Duration {
	if spread <= 0 {
		return base
	}
	return base + time.Duration(e.delays.Int63n(int64(spread)))
}

// DefaultTimings are plausible AWS figures, for live use.
func DefaultTimings() Timings {
	return Timings{
		LaunchDelay:         2 * time.Second,
		PendingToRunning:    10 * time.Second,
		ProceedToInService:  2 * time.Second,
		ShutdownDuration:    30 * time.Second,
		ENIReleaseDelay:     time.Second,
		ENIReleaseSpread:    9 * time.Second,
		VolumeReleaseDelay:  3 * time.Second,
		VolumeAttachDelay:   2 * time.Second,
		VolumeDetachDelay:   3 * time.Second,
		VolumeCreateDelay:   2 * time.Second,
		LaunchRetryBase:     10 * time.Second,
		LaunchRetryMax:      5 * time.Minute,
		HealthCheckInterval: 30 * time.Second,
		TerminatedRetention: time.Hour,
	}
}

// FastTimings keep the same order of events with small delays, for the lab
// and quick demos.
func FastTimings() Timings {
	return Timings{
		LaunchDelay:         200 * time.Millisecond,
		PendingToRunning:    300 * time.Millisecond,
		ProceedToInService:  100 * time.Millisecond,
		ShutdownDuration:    500 * time.Millisecond,
		ENIReleaseDelay:     200 * time.Millisecond,
		VolumeReleaseDelay:  200 * time.Millisecond,
		VolumeAttachDelay:   200 * time.Millisecond,
		VolumeDetachDelay:   200 * time.Millisecond,
		VolumeCreateDelay:   100 * time.Millisecond,
		LaunchRetryBase:     500 * time.Millisecond,
		LaunchRetryMax:      5 * time.Second,
		HealthCheckInterval: time.Second,
		TerminatedRetention: time.Hour,
	}
}

// Engine is one simulated AWS region.
type Engine struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	w      *world
	events eventQueue
	seq    int64
	rng    *rand.Rand
	delays *rand.Rand // draws of delays, apart from rng so IDs do not depend on them
	calls  []Call
	faults []*Fault
	// rolePolicies: the node roles' inline policies written through IAM
	// (iam.go), by role then policy name.
	rolePolicies map[string]map[string]string
	stale        time.Duration
	// staleVaried draws each read's lag from [0, stale].
	staleVaried bool
	history     []snapshot // for stale reads, newest last
	deferred    []func()   // run after the lock is released (boot functions)
	current     time.Time  // time of the event being processed, zero outside events
	wake        chan struct{}
}

// New validates cfg and builds an empty world.
func New(cfg Config) (*Engine, error) {
	if cfg.Clock == nil {
		return nil, fmt.Errorf("sim: Config.Clock is required")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Account == "" {
		cfg.Account = "123456789012"
	}
	if cfg.Timings == (Timings{}) {
		cfg.Timings = DefaultTimings()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Engine{
		cfg:    cfg,
		log:    cfg.Logger.With("component", "sim"),
		w:      newWorld(),
		rng:    rand.New(rand.NewSource(cfg.Seed)),
		delays: rand.New(rand.NewSource(cfg.Seed + 1)),
		wake:   make(chan struct{}, 1),
	}, nil
}

// Region is the simulated region.
func (e *Engine) Region() string { return e.cfg.Region }

// Now is the engine's clock.
func (e *Engine) Now() time.Time { return e.cfg.Clock.Now() }

// Run processes timed events as their time comes until ctx ends. API calls
// also catch up on due events, so a test that only calls the API sees the
// same world; Run is what makes boots and timeouts happen on their own.
func (e *Engine) Run(ctx context.Context) error {
	for {
		e.mu.Lock()
		e.advance()
		next, ok := e.events.peek()
		deferred := e.takeDeferred()
		e.mu.Unlock()
		for _, f := range deferred {
			f()
		}
		if len(deferred) > 0 {
			continue
		}
		var timer clock.Timer
		var fire <-chan time.Time
		if ok {
			timer = e.cfg.Clock.NewTimer(next.Sub(e.cfg.Clock.Now()))
			fire = timer.C()
		}
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return nil
		case <-fire:
		case <-e.wake:
			if timer != nil {
				timer.Stop()
			}
		}
	}
}

// Do runs f with the world locked and due events processed, then runs the
// deferred callbacks f caused.
func (e *Engine) Do(f func()) {
	e.mu.Lock()
	// Catch up fully first: events due, and what their boot functions
	// schedule in the past, until nothing is left to run.
	for {
		e.advance()
		deferred := e.takeDeferred()
		if len(deferred) == 0 {
			break
		}
		e.mu.Unlock()
		for _, d := range deferred {
			d()
		}
		e.mu.Lock()
	}
	f()
	e.snapshotIfStale()
	deferred := e.takeDeferred()
	e.mu.Unlock()
	for _, d := range deferred {
		d()
	}
}

// At schedules f to run inside the engine at time t (at once if t has
// passed, in time order with the other events due).
func (e *Engine) At(t time.Time, f func()) {
	e.mu.Lock()
	e.at(t, f)
	e.mu.Unlock()
}

func (e *Engine) after(d time.Duration, f func()) {
	// Inside an event handler time is the event's own, so catching up late
	// on a backlog keeps every later event at its true time.
	e.at(e.now().Add(d), f)
}

func (e *Engine) at(at time.Time, f func()) {
	e.seq++
	heap.Push(&e.events, &event{at: at, seq: e.seq, fn: f})
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// advance runs every event due by now, in time order (ties in scheduling
// order), each at its own time.
func (e *Engine) advance() {
	now := e.cfg.Clock.Now()
	for {
		ev, ok := e.events.peekEvent()
		if !ok || ev.at.After(now) {
			break
		}
		heap.Pop(&e.events)
		e.current = ev.at
		ev.fn()
		e.current = time.Time{}
		e.snapshotIfStale()
	}
}

// now is the time of the event being processed, or the clock's.
func (e *Engine) now() time.Time {
	if e.current != (time.Time{}) {
		return e.current
	}
	return e.cfg.Clock.Now()
}

func (e *Engine) defer_(f func()) { e.deferred = append(e.deferred, f) }

// notify queues a Change for the observer.
func (e *Engine) notify(c Change) {
	if obs := e.cfg.Observe; obs != nil {
		c.At = e.now()
		e.defer_(func() { obs(c) })
	}
}

func (e *Engine) takeDeferred() []func() {
	d := e.deferred
	e.deferred = nil
	return d
}

func (e *Engine) newID(prefix string) string {
	const hex = "0123456789abcdef"
	b := make([]byte, 17)
	for i := range b {
		b[i] = hex[e.rng.Intn(16)]
	}
	return prefix + "-" + string(b)
}

func (e *Engine) newUUID() string {
	b := make([]byte, 16)
	for i := range b {
		b[i] = byte(e.rng.Intn(256))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

type event struct {
	at  time.Time
	seq int64
	fn  func()
}

type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at.Equal(q[j].at) {
		return q[i].seq < q[j].seq
	}
	return q[i].at.Before(q[j].at)
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *eventQueue) Pop() any {
	old := *q
	ev := old[len(old)-1]
	*q = old[:len(old)-1]
	return ev
}
func (q eventQueue) peekEvent() (*event, bool) {
	if len(q) == 0 {
		return nil, false
	}
	return q[0], true
}
func (q eventQueue) peek() (time.Time, bool) {
	if ev, ok := q.peekEvent(); ok {
		return ev.at, true
	}
	return time.Time{}, false
}
