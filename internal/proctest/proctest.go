// Package proctest starts the processes a test needs (OpenTofu, `stateful
// sim serve`, the AWS CLIs, moto_server, shell scripts) so that none
// outlives the test, however the test ends:
//
//   - passed or failed: a cleanup kills the process's whole group (its
//     children too: tofu's provider plugin, a local-exec's roll) and waits;
//   - past its deadline: every command runs under a context that ends a
//     margin before `go test -timeout` would, so the test fails with a
//     sentence naming the step, not with the runtime's goroutine dump;
//   - killed outright (the timeout's panic, a SIGKILL): the kernel sends the
//     direct child SIGKILL when the test binary dies (Pdeathsig).
//
// Test helpers only: nothing outside _test.go files imports it.
package proctest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Margin is how long before the test binary's deadline the commands'
// context ends: enough for the cleanups to kill, wait and report.
const Margin = 20 * time.Second

// Context is bounded by the test's deadline less Margin (no bound when
// `go test` runs without a timeout) and ends with the test.
func Context(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if d, ok := deadline(t); ok {
		ctx, cancel = context.WithDeadline(context.Background(), d.Add(-Margin))
	}
	t.Cleanup(cancel)
	return ctx
}

func deadline(t testing.TB) (time.Time, bool) {
	if dt, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		return dt.Deadline()
	}
	return time.Time{}, false
}

// Cmd is an exec.Cmd that cannot outlive its test.
type Cmd struct {
	*exec.Cmd
	ctx context.Context
}

// Command is exec.CommandContext under Context(t), in its own process
// group, with SIGKILL to the group when the context ends, Pdeathsig, and
// a cleanup that kills the group and reaps the process if the test did
// not. (Pdeathsig fires when the forking OS thread exits; Go ends a thread
// only when a goroutine exits while holding it locked, which no caller
// here does.)
func Command(t testing.TB, name string, args ...string) *Cmd {
	t.Helper()
	return CommandContext(t, Context(t), name, args...)
}

// CommandContext is Command under ctx (which should derive from Context).
func CommandContext(t testing.TB, ctx context.Context, name string, args ...string) *Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return killGroup(cmd) }
	// Output pipes held open by a grandchild must not block Wait forever.
	cmd.WaitDelay = 5 * time.Second
	t.Cleanup(func() {
		if cmd.Process == nil {
			return
		}
		_ = killGroup(cmd)
		if cmd.ProcessState == nil {
			_ = cmd.Wait()
		}
	})
	return &Cmd{Cmd: cmd, ctx: ctx}
}

// killGroup sends SIGKILL to the command's process group: the command and
// every descendant that did not start a group of its own.
func killGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return cmd.Process.Kill()
	}
	return nil
}

// CombinedOutput runs the command and returns what it printed. When the
// test's deadline cut it off, the error says so and names the step.
func (c *Cmd) CombinedOutput(step string) ([]byte, error) {
	out, err := c.Cmd.CombinedOutput()
	return out, c.Explain(step, err)
}

// WaitStep waits for a started command, naming the step as CombinedOutput does.
func (c *Cmd) WaitStep(step string) error { return c.Explain(step, c.Cmd.Wait()) }

// Explain turns err from running the command into one that names the step
// when the test's deadline cut the command off.
func (c *Cmd) Explain(step string, err error) error {
	if err != nil && c.ctx.Err() != nil {
		return fmt.Errorf("%s did not finish before the test's deadline (go test -timeout less %s): %w", step, Margin, c.ctx.Err())
	}
	return err
}

// Tofu is OpenTofu for a test: `tofu` on the PATH, else the offline one
// of ../shared/tools beside the repository (root is the repository's
// directory). It fails the test, naming the fix, when there is none, and
// when the offline one is not built yet: building it takes minutes, which
// must not be spent inside a test's timeout (`make test` builds it first).
func Tofu(t testing.TB, root string) string {
	t.Helper()
	tofuOnce.Do(func() { tofuPath, tofuErr = findTofu(root) })
	if tofuErr != nil {
		t.Fatal(tofuErr)
	}
	return tofuPath
}

var (
	tofuOnce sync.Once
	tofuPath string
	tofuErr  error
)

func findTofu(root string) (string, error) {
	p, err := exec.LookPath("tofu")
	if err != nil {
		p, err = filepath.Abs(filepath.Join(root, "..", "shared", "tools", "tofu", "tofu"))
		if err == nil {
			_, err = os.Stat(p)
		}
		if err != nil {
			return "", errors.New("no tofu on the PATH nor ../shared/tools/tofu/tofu beside the repository: the HCL tests need OpenTofu (make test finds the offline one)")
		}
	}
	// `tofu version` returns at once when OpenTofu is built; give a build
	// under way elsewhere (another package's first call) a bounded wait.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, p, "version")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return killGroup(cmd) }
	cmd.WaitDelay = 5 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("%s version took over 3 minutes: the offline OpenTofu is being built from source; build it before the tests (make test does: %s version)", p, p)
		}
		return "", fmt.Errorf("%s version: %v\n%s", p, err, out)
	}
	return p, nil
}
