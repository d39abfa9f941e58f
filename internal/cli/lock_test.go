package cli

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/lock"
)

// flakySSM fails every Parameter Store call with a connection error once
// down says so: AWS lost, for the lock as for the rest.
type flakySSM struct {
	lock.API
	down func() bool
}

func (f flakySSM) GetParameter(ctx context.Context, in *ssm.GetParameterInput, o ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	if f.down() {
		return nil, errConnectionReset
	}
	return f.API.GetParameter(ctx, in, o...)
}

func (f flakySSM) PutParameter(ctx context.Context, in *ssm.PutParameterInput, o ...func(*ssm.Options)) (*ssm.PutParameterOutput, error) {
	if f.down() {
		return nil, errConnectionReset
	}
	return f.API.PutParameter(ctx, in, o...)
}

func (f flakySSM) DeleteParameter(ctx context.Context, in *ssm.DeleteParameterInput, o ...func(*ssm.Options)) (*ssm.DeleteParameterOutput, error) {
	if f.down() {
		return nil, errConnectionReset
	}
	return f.API.DeleteParameter(ctx, in, o...)
}

// Issue 25: --break-lock refuses while the holder renews, unless
// --force-break-lock; it says whose lock it takes. --lock-wait waits for a
// release.
func TestBreakLockRefusesARenewingHolder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newSimWorld(t, 3, nil)
		w.newVersion()
		bob, err := lock.Acquire(w.ctx, lock.Config{API: w.e.SSM(), Clock: clock.Real{}, Name: lock.Name("demo"), Holder: "stateful roll by bob@ci, pid 7"}, lock.Wait)
		if err != nil {
			t.Fatal(err)
		}
		hctx, die := context.WithCancel(w.ctx)
		go bob.Hold(hctx, func(err error) { t.Errorf("bob lost his lock: %v", err) })
		if code, _, errOut := w.run("", "roll", "--cluster", "demo"); code != ExitRefused || !strings.Contains(errOut, "bob@ci") || !strings.Contains(errOut, "--break-lock") {
			t.Fatalf("roll while bob holds the lock: exit %d\n%s", code, errOut)
		}
		if code, _, errOut := w.run("", "roll", "--cluster", "demo", "--force-break-lock"); code != ExitUsage || !strings.Contains(errOut, "--force-break-lock goes with --break-lock") {
			t.Fatalf("--force-break-lock alone: exit %d\n%s", code, errOut)
		}
		code, _, errOut := w.run("", "roll", "--cluster", "demo", "--break-lock")
		if code != ExitRefused || !strings.Contains(errOut, "bob@ci") || !strings.Contains(errOut, "renewed it while this command watched") || !strings.Contains(errOut, "--force-break-lock") {
			t.Fatalf("--break-lock while bob renews: exit %d\n%s", code, errOut)
		}
		if n := len(w.terminated()); n != 0 {
			t.Fatalf("%d instances terminated while bob held the lock", n)
		}
		// Bob's roll ends and releases within 5 minutes: a roll that waits
		// for the lock goes on then.
		go func() {
			time.Sleep(5 * time.Minute)
			die()
			_ = bob.Release(w.ctx)
		}()
		start := time.Now()
		if code, _, errOut := w.run("", "roll", "--cluster", "demo", "--lock-wait", "20m"); code != ExitOK {
			t.Fatalf("roll --lock-wait: exit %d\n%s", code, errOut)
		} else if time.Since(start) < 5*time.Minute {
			t.Fatal("the waiting roll did not wait for bob's release")
		}
		// A holder that died: --break-lock watches, then takes it and
		// says whose it took.
		if _, err := lock.Acquire(w.ctx, lock.Config{API: w.e.SSM(), Clock: clock.Real{}, Name: lock.Name("demo"), Holder: "stateful roll by carol@laptop, pid 9"}, lock.Wait); err != nil {
			t.Fatal(err)
		}
		code, _, errOut = w.run("", "roll", "--cluster", "demo", "--break-lock")
		if code != ExitOK || !strings.Contains(errOut, "took the cluster's lock (SSM parameter /stateful/demo/lock) from stateful roll by carol@laptop, pid 9, taken 20") {
			t.Fatalf("--break-lock on a dead holder: exit %d\n%s", code, errOut)
		}
	})
}
