package agent

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stateful-aws/stateful/internal/clock"
)

// runReal runs the agent's runner over a script with real bash and the
// wall clock (these are real, short processes).
func runReal(t *testing.T, script string, timeout int) ([]string, error) {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is not installed")
	}
	c := &Config{NodeID: "07", NodeIP: "10.9.9.9", Cluster: "c", Timeouts: Timeouts{Command: timeout}}
	c.Script.InlineBase64 = b64(script)
	var mu sync.Mutex
	var lines []string
	a := &Agent{cfg: c, d: Deps{Clock: clock.Real{}, StateDir: t.TempDir(), Shell: Bash(clock.Real{}), Output: writerFunc(func(p []byte) {
		mu.Lock()
		lines = append(lines, strings.TrimSpace(string(p)))
		mu.Unlock()
	})}, log: discard()}
	err := a.runScript(context.Background())
	mu.Lock()
	defer mu.Unlock()
	return append([]string(nil), lines...), err
}

func TestNodeScriptRunsBothFunctionsWithIDAndIP(t *testing.T) {
	t.Parallel()
	out, err := runReal(t, "configure_cluster_node() { echo configure $1 $2 $STATEFUL_CLUSTER; }\nwait_for_healthy_cluster() { echo healthy $1 $2; }\n", 30)
	if err != nil || strings.Join(out, "|") != "configure 07 10.9.9.9 c|healthy 07 10.9.9.9" {
		t.Fatalf("%v %q", err, out)
	}
}

func TestNodeScriptFailuresAreReported(t *testing.T) {
	t.Parallel()
	out, err := runReal(t, "configure_cluster_node() { echo oops; return 3; }\nwait_for_healthy_cluster() { echo never; }\n", 30)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || strings.Contains(strings.Join(out, " "), "never") {
		t.Fatalf("%v %q", err, out)
	}
	_, err = runReal(t, "configure_cluster_node() { :; }\n", 30)
	if err == nil {
		t.Fatal("a script without wait_for_healthy_cluster passed")
	}
}

func TestNodeScriptTimeoutKillsItsProcesses(t *testing.T) {
	t.Parallel()
	marker := filepath.Join(t.TempDir(), "still-running")
	start := time.Now()
	_, err := runReal(t, "configure_cluster_node() { (sleep 30; touch "+marker+") & wait; }\nwait_for_healthy_cluster() { :; }\n", 1)
	if err == nil || !strings.Contains(err.Error(), "did not finish within 1s") || time.Since(start) > 10*time.Second {
		t.Fatalf("%v after %v", err, time.Since(start))
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a child of the timed-out script survived")
	}
}

func TestDaemonsKeepingStdoutOpenDoNotBlock(t *testing.T) {
	t.Parallel()
	start := time.Now()
	_, err := runReal(t, "configure_cluster_node() { setsid sleep 20 & }\nwait_for_healthy_cluster() { echo up; }\n", 60)
	if err != nil || time.Since(start) > 10*time.Second {
		t.Fatalf("%v after %v: a daemon holding the output pipe must not hold the agent", err, time.Since(start))
	}
}
