package lock

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

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

func cfg(e *sim.Engine, group, holder string) Config {
	return Config{API: e.AutoScaling(), Clock: clock.Real{}, Group: group, Holder: holder}
}

func TestASecondHolderIsRefusedUntilReleaseOrExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, ctx, group := world(t)
		a, err := Acquire(ctx, cfg(e, group, "roll by alice"), false)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Acquire(ctx, cfg(e, group, "recover by bob"), false)
		var held *Held
		if !errors.As(err, &held) || held.Holder != "roll by alice" || !strings.Contains(err.Error(), "--break-lock") {
			t.Fatalf("second acquire: %v; want a refusal naming alice's roll", err)
		}
		if err := a.Release(ctx); err != nil {
			t.Fatal(err)
		}
		b, err := Acquire(ctx, cfg(e, group, "recover by bob"), false)
		if err != nil {
			t.Fatalf("after the release: %v", err)
		}
		// A dead holder's lock lapses after its TTL.
		time.Sleep(11 * time.Minute)
		if _, err := Acquire(ctx, cfg(e, group, "roll by carol"), false); err != nil {
			t.Fatalf("after bob's lock expired: %v", err)
		}
		if err := b.Renew(ctx); !errors.As(err, &held) || held.Holder != "roll by carol" {
			t.Fatalf("bob renewing a lock carol took: %v", err)
		}
	})
}

func TestBreakLockTakesADeadHoldersLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, ctx, group := world(t)
		if _, err := Acquire(ctx, cfg(e, group, "roll by a crashed laptop"), false); err != nil {
			t.Fatal(err)
		}
		if _, err := Acquire(ctx, cfg(e, group, "roll by alice"), true); err != nil {
			t.Fatalf("--break-lock: %v", err)
		}
	})
}

// Two commands racing for a free lock: exactly one holds it.
func TestRacingAcquiresLeaveOneHolder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, ctx, group := world(t)
		var mu sync.Mutex
		won := 0
		var wg sync.WaitGroup
		for _, who := range []string{"roll by terraform", "roll by alice"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := Acquire(ctx, cfg(e, group, who), false); err == nil {
					mu.Lock()
					won++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if won != 1 {
			t.Fatalf("%d holders, want exactly 1", won)
		}
	})
}

// Hold renews the lock and reports when someone broke it.
func TestHoldRenewsAndReportsALostLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, ctx, group := world(t)
		l, err := Acquire(ctx, cfg(e, group, "roll by alice"), false)
		if err != nil {
			t.Fatal(err)
		}
		hctx, stop := context.WithCancel(ctx)
		defer stop()
		lost := make(chan error, 1)
		go l.Hold(hctx, func(err error) { lost <- err })
		time.Sleep(25 * time.Minute) // past two TTLs: renewals kept it
		if _, err := Acquire(ctx, cfg(e, group, "roll by bob"), false); err == nil {
			t.Fatal("bob took a lock alice was renewing")
		}
		if _, err := Acquire(ctx, cfg(e, group, "roll by bob"), true); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-lost:
			if !strings.Contains(err.Error(), "roll by bob") {
				t.Fatalf("lost: %v", err)
			}
		case <-time.After(10 * time.Minute):
			t.Fatal("alice never learnt that her lock was broken")
		}
	})
}

// Renewals that keep failing end the holder's work before the lock can
// lapse under it.
func TestHoldGivesUpBeforeTheLockLapses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, ctx, group := world(t)
		l, err := Acquire(ctx, cfg(e, group, "roll by alice"), false)
		if err != nil {
			t.Fatal(err)
		}
		e.AddFaults(sim.Fault{Operation: "CreateOrUpdateTags", Code: "Throttling", Message: "Rate exceeded", Probability: 1})
		start := time.Now()
		lost := make(chan error, 1)
		go l.Hold(ctx, func(err error) { lost <- err })
		select {
		case err := <-lost:
			if took := time.Since(start); took > 10*time.Minute || !strings.Contains(err.Error(), "could not be renewed") {
				t.Fatalf("lost after %s: %v; want it before the 10-minute TTL", took, err)
			}
		case <-time.After(time.Hour):
			t.Fatal("Hold never gave up on a lock it could not renew")
		}
	})
}
