package cli

import (
	"strings"
	"testing"
	"testing/synctest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/stateful-aws/stateful/internal/failmark"
)

// Issue 25: a failed canary leaves a mark that the next roll of the same
// change honours (it refuses, naming the mark and the flag, and touches
// nothing); a new change proceeds and a finished roll removes the mark;
// the flag proceeds with the same change.
func TestAFailedCanarySticks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newSimWorld(t, 3, nil)
		w.newVersion()
		code, out, errOut := w.run("", "roll", "--cluster", "demo", "--canary", "1", "--verify", "false", "--timeout", "2m")
		if code != ExitStopped || !strings.Contains(errOut, "left a failure mark (SSM parameter /stateful/demo/failed)") {
			t.Fatalf("failing verify: exit %d\n%s%s", code, out, errOut)
		}
		// A dry run says so; the same roll again is refused, naming node
		// 00's change and the flag; nothing more is terminated.
		if code, out, errOut := w.run("", "roll", "--cluster", "demo", "--dry-run"); code != ExitRefused || !strings.Contains(errOut, "this change failed before") {
			t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
		}
		code, out, errOut = w.run("", "roll", "--cluster", "demo", "--canary", "1", "--verify", "false", "--timeout", "2m")
		if code != ExitRefused || !strings.Contains(errOut, "this change failed before (verify:") || !strings.Contains(errOut, "at node 00: launch template lt-") ||
			!strings.Contains(errOut, "node(s) 01, 02 would get the same change") || !strings.Contains(errOut, "--clear-failure-mark") {
			t.Fatalf("the same change again: exit %d\n%s%s", code, out, errOut)
		}
		if got := strings.Join(w.terminated(), " "); got != "00" {
			t.Fatalf("terminated %q; want only the first canary", got)
		}
		// A new change (new launch-template versions) proceeds, and the
		// finished roll removes the mark.
		w.newVersion()
		if code, out, errOut := w.run("", "roll", "--cluster", "demo", "--canary", "1", "--verify", "true"); code != ExitOK {
			t.Fatalf("a new change: exit %d\n%s%s", code, out, errOut)
		}
		if _, ok, err := failmark.Read(w.ctx, w.e.SSM(), failmark.Name("demo")); ok || err != nil {
			t.Fatalf("the mark after a finished roll: present %t, %v", ok, err)
		}
		// That change fails its check after the canary; the flag rolls it
		// out all the same.
		w.newVersion()
		if code, out, errOut := w.run("", "roll", "--cluster", "demo", "--canary", "1", "--verify", "false", "--timeout", "2m"); code != ExitStopped {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
		code, out, errOut = w.run("", "roll", "--cluster", "demo", "--clear-failure-mark")
		if code != ExitOK || !strings.Contains(errOut, "removed the failure mark of node 00's change") {
			t.Fatalf("--clear-failure-mark: exit %d\n%s%s", code, out, errOut)
		}
		if _, err := w.e.SSM().GetParameter(w.ctx, &ssm.GetParameterInput{Name: aws.String(failmark.Name("demo"))}); err == nil {
			t.Fatal("the mark is still there after --clear-failure-mark and a finished roll")
		}
	})
}
