package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/cluster"
)

// usersDir is a user database the node script adds to (a file per user,
// as useradd would add a line to /etc/passwd).
type usersDir string

func (u usersDir) lookup(name string, group bool) (int, error) {
	if _, err := os.Stat(filepath.Join(string(u), name)); err != nil {
		if group {
			return 0, user.UnknownGroupError(name)
		}
		return 0, user.UnknownUserError(name)
	}
	return 1001, nil
}

// runOwned runs the real runner over script with the volume owned by
// kafka:kafka and a user database the script's configure may add to; the
// chown records itself in dir/chowned.
func runOwned(t *testing.T, script string) (string, []string, error) {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is not installed")
	}
	dir := t.TempDir()
	users := usersDir(dir)
	c := &Config{NodeID: "07", NodeIP: "10.9.9.9", Cluster: "c", Timeouts: Timeouts{Command: 30},
		Volume: Volume{MountPath: "/data", Owner: "kafka", Group: "kafka"}}
	c.Script.InlineBase64 = b64(strings.ReplaceAll(script, "$USERS", dir))
	var mu sync.Mutex
	var lines []string
	a := &Agent{cfg: c, log: discard(), d: Deps{Clock: clock.Real{}, StateDir: t.TempDir(), Shell: Bash(clock.Real{}),
		Lookup: users.lookup,
		Chown: func(root, owner, group string, _ bool) (bool, error) {
			if _, err := users.lookup(owner, false); err != nil {
				return false, err
			}
			return true, os.WriteFile(filepath.Join(dir, "chowned"), []byte(root+" "+owner+":"+group), 0o644)
		},
		Output: writerFunc(func(p []byte) {
			mu.Lock()
			lines = append(lines, strings.TrimSpace(string(p)))
			mu.Unlock()
		})}}
	v, err := a.volumeForPrepare()
	if err != nil || v.Owner != "" || v.Group != "" || !a.volumeOwnerLater {
		t.Fatalf("an owner that does not exist yet went to Prepare: %+v %v", v, err)
	}
	err = a.runScript(context.Background())
	mu.Lock()
	defer mu.Unlock()
	return dir, append([]string(nil), lines...), err
}

func TestAnOwnerTheConfigureStepCreatesOwnsTheVolumeBeforeTheHealthWait(t *testing.T) {
	t.Parallel()
	_, out, err := runOwned(t, `configure_cluster_node() { touch $USERS/kafka; echo configured; }
wait_for_healthy_cluster() { echo "healthy after $(cat $USERS/chowned)"; }
`)
	if err != nil || strings.Join(out, "|") != "configured|healthy after /data kafka:kafka" {
		t.Fatalf("%v %q", err, out)
	}
}

func TestAnOwnerStillMissingAfterConfigureIsAConfigurationError(t *testing.T) {
	t.Parallel()
	_, out, err := runOwned(t, "configure_cluster_node() { echo configured; }\nwait_for_healthy_cluster() { echo never; }\n")
	var ce *ConfigError
	if !errors.As(err, &ce) || FailureClass(err) != cluster.FailureConfig || !strings.Contains(err.Error(), "owner kafka:kafka does not exist even after configure_cluster_node") {
		t.Fatalf("%v (class %s)", err, FailureClass(err))
	}
	if strings.Contains(strings.Join(out, " "), "never") {
		t.Fatalf("the health wait ran without the volume's owner: %q", out)
	}
}

func TestAnExistingOwnerIsAppliedBeforeTheNodeScript(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ec2-user"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	a := &Agent{cfg: &Config{Volume: Volume{MountPath: "/data", Owner: "ec2-user", Group: "ec2-user"}}, log: discard(), d: Deps{Lookup: usersDir(dir).lookup}}
	if v, err := a.volumeForPrepare(); err != nil || v.Owner != "ec2-user" || v.Group != "ec2-user" || a.volumeOwnerLater {
		t.Fatalf("%+v %v", v, err)
	}
}

func TestFailureClasses(t *testing.T) {
	t.Parallel()
	missing, err := runReal(t, "configure_cluster_node() { :; }\n", 30)
	if FailureClass(err) != cluster.FailureConfig {
		t.Fatalf("a script without wait_for_healthy_cluster: %v %q (class %s)", err, missing, FailureClass(err))
	}
	_, err = runReal(t, "configure_cluster_node() { exit 78; }\nwait_for_healthy_cluster() { :; }\n", 30)
	if FailureClass(err) != cluster.FailureConfig {
		t.Fatalf("a script exiting EX_CONFIG: %v (class %s)", err, FailureClass(err))
	}
	_, err = runReal(t, "configure_cluster_node() { exit 1; }\nwait_for_healthy_cluster() { :; }\n", 30)
	if FailureClass(err) != cluster.FailureNode {
		t.Fatalf("a script exiting 1: %v (class %s)", err, FailureClass(err))
	}
	if c := FailureClass(&StepError{Step: "prepare-volume", Err: ErrRefused}); c != cluster.FailureVolume {
		t.Fatalf("a refused volume: class %s", c)
	}
}

// exitStatus is a node script's exit status as a fake Shell returns it.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
func (e exitStatus) ExitCode() int { return int(e) }

// A configuration error is held, not abandoned: the group relaunches once
// per hook timeout instead of every few seconds, and the instance says why.
func TestAConfigurationErrorIsHeldNotRelaunchedInALoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 1, nil, healthWait(time.Second, exitStatus(ExitConfig)))
		h.provision(1, 300)
		time.Sleep(30 * time.Minute)
		abandons := 0
		for _, c := range h.e.Calls() {
			if in, ok := c.Input.(*autoscaling.CompleteLifecycleActionInput); ok && *in.LifecycleActionResult == "ABANDON" {
				abandons++
			}
		}
		var first string
		h.mu.Lock()
		launches := len(h.results)
		for id := range h.results {
			if first == "" || id < first {
				first = id
			}
		}
		h.mu.Unlock()
		// 30 minutes, a 300 s hook: at most one launch per timeout (the
		// abandon loop made one every few seconds).
		if abandons != 0 || launches > 7 || launches < 2 {
			t.Fatalf("%d launches and %d ABANDONs in 30 minutes with a 300 s hook:\n%s", launches, abandons, h.log())
		}
		res, err := h.e.EC2().DescribeInstances(h.ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{first}})
		if err != nil {
			t.Fatal(err)
		}
		tags := map[string]string{}
		for _, tag := range res.Reservations[0].Instances[0].Tags {
			tags[*tag.Key] = *tag.Value
		}
		if tags[cluster.TagBootstrapFailureClass] != cluster.FailureConfig || tags[cluster.TagBootstrapFailure] == "" {
			t.Fatalf("tags of %s: %v", first, tags)
		}
		if !strings.Contains(h.log(), `"event":"bootstrap_failed"`) || !strings.Contains(h.log(), `"class":"config"`) {
			t.Fatalf("no bootstrap_failed event with its class:\n%s", h.log())
		}
	})
}
