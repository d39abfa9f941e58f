package lock

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/sim"
	"github.com/stateful-aws/stateful/internal/sim/simtest"
)

func world(t *testing.T) (*sim.Engine, context.Context, string) {
	t.Helper()
	e, ctx := simtest.Start(t, sim.Config{Clock: clock.Real{}, Seed: 1, Timings: sim.FastTimings(), Boot: sim.ContinueAfter(time.Second)})
	nodes := simtest.Cluster(t, ctx, e, sim.ClusterSpec{Name: "c", Nodes: 3})
	return e, ctx, nodes[0].Group
}

func cfg(e *sim.Engine, holder string) Config {
	return Config{API: e.SSM(), Clock: clock.Real{}, Name: Name("c"), Holder: holder}
}

// skewed is a machine whose clock is off by d: expiry must not depend on
// it (issue 20: an operator 8 minutes ahead took a held lock).
type skewed struct {
	clock.Clock
	d time.Duration
}

func (s skewed) Now() time.Time { return s.Clock.Now().Add(s.d) }

func TestASecondHolderIsRefusedUntilReleaseOrJudgedDead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, ctx, _ := world(t)
		a, err := Acquire(ctx, cfg(e, "roll by alice"), Wait)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Acquire(ctx, cfg(e, "recover by bob"), Wait)
		var held *Held
		if !errors.As(err, &held) || held.Holder != "roll by alice" || !strings.Contains(err.Error(), "--break-lock") || !strings.Contains(err.Error(), "/stateful/c/lock") {
			t.Fatalf("second acquire: %v; want a refusal naming alice's roll and the parameter", err)
		}
		if err := a.Release(ctx); err != nil {
			t.Fatal(err)
		}
		b, err := Acquire(ctx, cfg(e, "recover by bob"), Wait)
		if err != nil {
			t.Fatalf("after the release: %v", err)
		}
		// Bob dies. Carol waits: she judges his lock dead once she has
		// watched it unrenewed for its lease, not before.
		start := time.Now()
		c := cfg(e, "roll by carol")
		c.Wait = time.Hour
		if _, err := Acquire(ctx, c, Wait); err != nil {
			t.Fatalf("carol waiting for bob's dead lock: %v", err)
		}
		if took := time.Since(start); took < DefaultLease || took > DefaultLease+time.Minute {
			t.Fatalf("carol took bob's lock after %s; want one lease (%s) of watching", took, DefaultLease)
		}
		if err := b.Renew(ctx); !errors.As(err, &held) || !held.Lost || held.Holder != "roll by carol" {
			t.Fatalf("bob renewing a lock carol took: %v", err)
		}
	})
}

// Clocks that disagree by minutes change nothing: a waiter 8 minutes
// ahead, and one 8 minutes behind, never take a lock whose holder renews.
func TestSkewedClocksDoNotTakeARenewedLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, ctx, _ := world(t)
		a, err := Acquire(ctx, cfg(e, "roll by alice"), Wait)
		if err != nil {
			t.Fatal(err)
		}
		hctx, stop := context.WithCancel(ctx)
		defer stop()
		go a.Hold(hctx, func(err error) { t.Errorf("alice lost her lock: %v", err) })
		for _, d := range []time.Duration{8 * time.Minute, -8 * time.Minute} {
			c := cfg(e, "roll by bob")
			c.Clock, c.Wait = skewed{clock.Real{}, d}, 30*time.Minute
			var held *Held
			if _, err := Acquire(ctx, c, Wait); !errors.As(err, &held) || held.Holder != "roll by alice" {
				t.Fatalf("bob with a clock %s off, waiting 30m: %v; want a refusal", d, err)
			}
		}
	})
}

// --break-lock watches for a renewal: a holder that renews is named and
// the break refused; --force-break-lock takes it and says whose it took,
// and the holder learns it at its next renewal.
func TestBreakLockRefusesWhileTheHolderRenews(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, ctx, _ := world(t)
		a, err := Acquire(ctx, cfg(e, "roll by alice"), Wait)
		if err != nil {
			t.Fatal(err)
		}
		lost := make(chan error, 1)
		go a.Hold(ctx, func(err error) { lost <- err })
		time.Sleep(time.Minute)
		start := time.Now()
		_, err = Acquire(ctx, cfg(e, "roll by bob"), Break)
		var held *Held
		if !errors.As(err, &held) || !held.Renewing || held.Holder != "roll by alice" || !strings.Contains(err.Error(), "--force-break-lock") {
			t.Fatalf("--break-lock on a renewing holder: %v", err)
		}
		if took := time.Since(start); took > cfg(e, "").withDefaults().BreakWatch(DefaultLease) {
			t.Fatalf("the break watched for %s, longer than its bound", took)
		}
		b, err := Acquire(ctx, cfg(e, "roll by bob"), ForceBreak)
		if err != nil {
			t.Fatalf("--force-break-lock: %v", err)
		}
		if b.TookFrom == nil || b.TookFrom.Holder != "roll by alice" || b.TookFrom.Taken == "" {
			t.Fatalf("the forced break does not say whose lock it took: %+v", b.TookFrom)
		}
		select {
		case err := <-lost:
			if !errors.As(err, &held) || !held.Lost || held.Holder != "roll by bob" {
				t.Fatalf("alice's loss: %v", err)
			}
		case <-time.After(DefaultLease / 2):
			t.Fatal("alice never learnt that her lock was taken")
		}
	})
}

func (c Config) withDefaults() Config { _ = c.defaults(); return c }

func TestBreakLockTakesADeadHoldersLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, ctx, _ := world(t)
		if _, err := Acquire(ctx, cfg(e, "roll by a crashed laptop"), Wait); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		b, err := Acquire(ctx, cfg(e, "roll by alice"), Break)
		if err != nil {
			t.Fatalf("--break-lock: %v", err)
		}
		if took := time.Since(start); took < DefaultLease/3 {
			t.Fatalf("the break took the lock after %s, before a renewal was due", took)
		}
		if b.TookFrom == nil || b.TookFrom.Holder != "roll by a crashed laptop" {
			t.Fatalf("TookFrom: %+v", b.TookFrom)
		}
	})
}

// Two commands racing for a free lock, and two taking over a dead one,
// through reads that lag: never two holders that keep renewing.
func TestRacesLeaveAtMostOneHolder(t *testing.T) {
	for _, stale := range []time.Duration{0, 4 * time.Second} {
		synctest.Test(t, func(t *testing.T) {
			e, ctx, _ := world(t)
			e.SetStaleReadsUpTo(stale)
			race := func(wait time.Duration) []*Lock {
				var mu sync.Mutex
				var won []*Lock
				var wg sync.WaitGroup
				for _, who := range []string{"roll by terraform", "roll by alice"} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						c := cfg(e, who)
						c.Wait = wait
						if l, err := Acquire(ctx, c, Wait); err == nil {
							mu.Lock()
							won = append(won, l)
							mu.Unlock()
						}
					}()
				}
				wg.Wait()
				return won
			}
			if won := race(0); len(won) != 1 {
				t.Fatalf("stale %s: %d holders of a free lock, want exactly 1", stale, len(won))
			}
			// The holder dies: both wait it out and take over at once.
			won := race(time.Hour)
			renewing := 0
			for _, l := range won {
				if l.Renew(ctx) == nil {
					renewing++
				}
			}
			if renewing > 1 {
				t.Fatalf("stale %s: %d takers of a dead lock still renew it", stale, renewing)
			}
		})
	}
}

// Reads that lag the writes mislead neither the holder nor a waiter: take,
// renew and release work through 4 s lags, and a release right after the
// take leaves nothing behind.
func TestLaggingReads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, ctx, _ := world(t)
		e.SetStaleReads(4 * time.Second)
		a, err := Acquire(ctx, cfg(e, "roll by alice"), Wait)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Release(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		b, err := Acquire(ctx, cfg(e, "roll by bob"), Wait)
		if err != nil {
			t.Fatalf("after alice released at once: %v", err)
		}
		for range 3 {
			if err := b.Renew(ctx); err != nil {
				t.Fatalf("renew through lagging reads: %v", err)
			}
		}
		if err := b.Release(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		// Carol takes the lock bob released and releases it at once: her
		// reads still show bob's deleted parameter (found by the system
		// property test: the release took it for another holder's).
		c, err := Acquire(ctx, cfg(e, "roll by carol"), Wait)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Release(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		if _, err := Acquire(ctx, cfg(e, "roll by dave"), Wait); err != nil {
			t.Fatalf("after carol released at once: %v", err)
		}
	})
}

// Renewals that keep failing end the holder's work before a waiter can
// judge it dead.
func TestHoldGivesUpBeforeAWaiterTakesTheLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, ctx, _ := world(t)
		l, err := Acquire(ctx, cfg(e, "roll by alice"), Wait)
		if err != nil {
			t.Fatal(err)
		}
		e.AddFaults(sim.Fault{Operation: "PutParameter", Code: "ThrottlingException", Message: "Rate exceeded", Probability: 1})
		lostAt := make(chan time.Time, 1)
		go l.Hold(ctx, func(err error) {
			if !strings.Contains(err.Error(), "could not be renewed") {
				t.Errorf("lost: %v", err)
			}
			lostAt <- time.Now()
		})
		c := cfg(e, "roll by bob")
		c.Wait = time.Hour
		var took time.Time
		go func() {
			for {
				// Bob's own create is throttled too until the faults end.
				if _, err := Acquire(ctx, c, Wait); err == nil {
					took = time.Now()
					return
				}
				time.Sleep(time.Second)
			}
		}()
		gaveUp := <-lostAt
		e.ClearFaults()
		time.Sleep(time.Hour)
		if took.IsZero() || !gaveUp.Before(took) {
			t.Fatalf("alice gave up at %s, bob took the lock at %s: she must stop first", gaveUp, took)
		}
	})
}

// An answer lost after the write took effect: the create is recognised as
// the command's own, a renewal's lost answer does not count as a rival's
// write, and the release still deletes the lock.
func TestLostAnswers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, ctx, _ := world(t)
		c := cfg(e, "roll by alice")
		c.API = lostWrites{API: c.API, retry: true}
		l, err := Acquire(ctx, c, Wait)
		if err != nil {
			t.Fatalf("acquire whose create's answer was lost: %v", err)
		}
		if err := l.Renew(ctx); err != nil {
			t.Fatalf("a renewal the SDK retried after a lost answer: %v", err)
		}
		l.cfg.API = lostWrites{API: e.SSM()}
		if err := l.Renew(ctx); err == nil {
			t.Fatal("a renewal whose answer was lost reported success")
		}
		l.cfg.API = e.SSM()
		if err := l.Renew(ctx); err != nil {
			t.Fatalf("the renewal after a lost answer: %v", err)
		}
		if err := l.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := Acquire(ctx, cfg(e, "roll by bob"), Wait); err != nil {
			t.Fatalf("after alice's release: %v", err)
		}
	})
}

// lostWrites loses the answer of every write that took effect; with retry
// it then writes again, as the SDK retries a lost answer.
type lostWrites struct {
	API
	retry bool
}

func (l lostWrites) PutParameter(ctx context.Context, in *ssm.PutParameterInput, o ...func(*ssm.Options)) (*ssm.PutParameterOutput, error) {
	if _, err := l.API.PutParameter(ctx, in, o...); err != nil {
		return nil, err
	}
	if l.retry {
		return l.API.PutParameter(ctx, in, o...)
	}
	return nil, errors.New("read tcp: connection reset by peer")
}

// The upgrade path: a lock tag an older stateful left on the first group
// is removed once it has stayed the same for its renewal interval; one an
// older command still renews is a refusal.
func TestLegacyLockTag(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, ctx, group := world(t)
		set := func(v string) {
			if _, err := e.AutoScaling().CreateOrUpdateTags(ctx, &autoscaling.CreateOrUpdateTagsInput{Tags: []astypes.Tag{{ResourceId: aws.String(group),
				ResourceType: aws.String("auto-scaling-group"), Key: aws.String(LegacyTagKey), Value: aws.String(v), PropagateAtLaunch: aws.Bool(false)}}}); err != nil {
				t.Fatal(err)
			}
		}
		if err := ClearLegacy(ctx, e.AutoScaling(), clock.Real{}, group, false); err != nil {
			t.Fatalf("no tag: %v", err)
		}
		set("0a1b 2026-01-01T00:10:00Z stateful roll by alice")
		start := time.Now()
		if err := ClearLegacy(ctx, e.AutoScaling(), clock.Real{}, group, false); err != nil {
			t.Fatalf("a leftover tag: %v", err)
		}
		if took := time.Since(start); took < LegacyWatch {
			t.Fatalf("removed after %s, before a renewal was due", took)
		}
		if _, ok, _ := legacyTag(ctx, e.AutoScaling(), group); ok {
			t.Fatal("the leftover tag is still there")
		}
		set("0a1b 2026-01-01T00:10:00Z stateful roll by bob")
		go func() {
			time.Sleep(100 * time.Second)
			set("0a1b 2026-01-01T00:13:20Z stateful roll by bob")
		}()
		var held *Held
		if err := ClearLegacy(ctx, e.AutoScaling(), clock.Real{}, group, false); !errors.As(err, &held) || !held.Legacy || !strings.Contains(err.Error(), "bob") {
			t.Fatalf("a renewed tag: %v", err)
		}
		if err := ClearLegacy(ctx, e.AutoScaling(), clock.Real{}, group, true); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := legacyTag(ctx, e.AutoScaling(), group); ok {
			t.Fatal("forced: the tag is still there")
		}
	})
}
