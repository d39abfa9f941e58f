package clock

import (
	"context"
	"testing"
	"time"
)

func TestFakeFiresTimersInOrder(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := NewFake(start)
	late, early := f.NewTimer(2*time.Second), f.NewTimer(time.Second)
	stopped := f.NewTimer(time.Second)
	if !stopped.Stop() {
		t.Fatal("Stop on a pending timer reported false")
	}
	f.Advance(1500 * time.Millisecond)
	select {
	case at := <-early.C():
		if got := at.Sub(start); got != time.Second {
			t.Fatalf("early timer fired at +%v, want +1s", got)
		}
	default:
		t.Fatal("timer due at +1s did not fire after advancing 1.5s")
	}
	select {
	case <-late.C():
		t.Fatal("timer due at +2s fired after advancing 1.5s")
	case <-stopped.C():
		t.Fatal("stopped timer fired")
	default:
	}
	if f.Waiters() != 1 {
		t.Fatalf("Waiters = %d, want 1", f.Waiters())
	}
	f.Advance(time.Second)
	if got := f.Now().Sub(start); got != 2500*time.Millisecond {
		t.Fatalf("Now = +%v, want +2.5s", got)
	}
	<-late.C()
}

func TestSleepStopsWithContext(t *testing.T) {
	t.Parallel()
	f := NewFake(time.Unix(0, 0))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, f, time.Hour); err != context.Canceled {
		t.Fatalf("Sleep on a cancelled context = %v, want context.Canceled", err)
	}
}
