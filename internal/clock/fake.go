package clock

import (
	"sort"
	"sync"
	"time"
)

// Fake is a manual clock: time moves only when Advance is called, and timers
// due by then fire in order. Use it where a test steps time itself; tests of
// goroutines that wait on each other are simpler inside testing/synctest.
type Fake struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

// NewFake starts at t.
func NewFake(t time.Time) *Fake { return &Fake{now: t} }

func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *Fake) NewTimer(d time.Duration) Timer {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := &fakeTimer{f: f, at: f.now.Add(d), c: make(chan time.Time, 1)}
	if d <= 0 {
		t.c <- f.now
		return t
	}
	f.timers = append(f.timers, t)
	return t
}

// Waiters reports how many timers are pending, so a test can wait until the
// code under test is blocked on the clock before advancing it.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.timers)
}

// Advance moves time forward by d, firing every timer due on the way in the
// order they are due.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	end := f.now.Add(d)
	sort.SliceStable(f.timers, func(i, j int) bool { return f.timers[i].at.Before(f.timers[j].at) })
	kept := f.timers[:0]
	for _, t := range f.timers {
		if t.at.After(end) {
			kept = append(kept, t)
			continue
		}
		f.now = t.at
		t.c <- t.at
	}
	f.timers = kept
	f.now = end
}

type fakeTimer struct {
	f  *Fake
	at time.Time
	c  chan time.Time
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	for i, o := range t.f.timers {
		if o == t {
			t.f.timers = append(t.f.timers[:i], t.f.timers[i+1:]...)
			return true
		}
	}
	return false
}

// Stepping is a Fake on which every wait passes at once, moving time
// forward by its length. It suits a single goroutine that drives a
// simulation whose other parts only act when called (the simulator
// catches up on its events at each call): benchmarks measure whole rolls
// in simulated time this way, in milliseconds of real time.
type Stepping struct{ *Fake }

// NewStepping starts at t.
func NewStepping(t time.Time) Stepping { return Stepping{NewFake(t)} }

func (s Stepping) NewTimer(d time.Duration) Timer {
	t := s.Fake.NewTimer(d)
	s.Fake.Advance(d)
	return t
}
