package agent

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/stateful-aws/stateful/internal/blockdev"
	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/cluster"
)

// Bootstrap brings the node up: identity, volume, device, filesystem,
// files, node script, hook. On a hard failure it prints a summary and
// completes the launch hook with ABANDON at once (or holds it, as
// configured). Every step is safe to run again after a reboot.
func (a *Agent) Bootstrap(ctx context.Context) error {
	start := a.d.Clock.Now()
	if err := a.step(ctx, "identity", a.identity); err != nil {
		return err // without an instance ID there is no hook to complete
	}
	hbCtx, stopHeartbeat := context.WithCancel(ctx)
	defer stopHeartbeat()
	go a.heartbeat(hbCtx, a.cfg.LaunchHook, time.Duration(a.cfg.Timeouts.Heartbeat)*time.Second)

	var vol, dev string
	var formatted bool
	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"claim-volume", func(ctx context.Context) (err error) { vol, err = a.claimVolume(ctx); return err }},
		{"find-device", func(ctx context.Context) (err error) { dev, err = a.findDevice(ctx, vol); return err }},
		// The volume's own waits are bounded by volume_seconds and
		// device_seconds, the script by command_seconds; preparing the
		// filesystem (a recursive chown of a large volume included) gets
		// command_seconds, the files volume_seconds.
		// An owner the node script creates is applied after
		// configure_cluster_node instead (ownership.go).
		{"prepare-volume", a.bounded(time.Duration(a.cfg.Timeouts.Command)*time.Second, func(ctx context.Context) (err error) {
			v, err := a.volumeForPrepare()
			if err != nil {
				return err
			}
			formatted, err = a.d.Disk.Prepare(ctx, dev, Stamp{Cluster: a.cfg.Cluster, NodeID: a.cfg.NodeID, VolumeID: vol,
				FormattedBy: a.instanceID, FormattedAt: a.d.Clock.Now().UTC().Format(time.RFC3339)}, v)
			if err == nil {
				a.log.Info("volume ready", "event", "volume_ready", "volume_id", vol, "device", dev, "mount_path", a.cfg.Volume.MountPath, "formatted", formatted)
			}
			return err
		})},
		{"write-files", a.bounded(time.Duration(a.cfg.Timeouts.Volume)*time.Second, a.writeFiles)},
		{"node-script", a.runScript},
		{"mark-ready", a.markReady},
	}
	for _, s := range steps {
		if err := a.step(ctx, s.name, s.run); err != nil {
			stopHeartbeat()
			return a.fail(ctx, err)
		}
	}
	// Heartbeats go on while CONTINUE is retried.
	err := a.step(ctx, "complete-hook", func(ctx context.Context) error { return a.complete(ctx, a.cfg.LaunchHook, "CONTINUE") })
	stopHeartbeat()
	if err != nil {
		return err
	}
	total := a.d.Clock.Now().Sub(start)
	a.log.Info("bootstrap done", "event", "bootstrap_done", "duration_ms", total.Milliseconds(), "overhead_ms", (total - a.scriptTime).Milliseconds(), "max_rss_kb", maxRSS())
	if a.cfg.TerminateHook != "" && a.d.StartDrain != nil {
		if err := a.d.StartDrain(); err != nil {
			a.log.Error("could not start the drain agent", "error", err.Error())
		}
	}
	return nil
}

// fail prints what went wrong and releases (or holds) the launch hook. A
// failure a relaunch cannot fix (FailureClass) is held whatever on_failure
// says: abandoning it would have Auto Scaling launch the same
// launch-template version again at once, to fail the same way, every few
// seconds. Held, the launch hook times out on its own (heartbeats have
// stopped) and the group tries again once per hook timeout, by then
// perhaps on a fixed version.
func (a *Agent) fail(ctx context.Context, err error) error {
	var se *StepError
	step := "?"
	if errors.As(err, &se) {
		step = se.Step
	}
	class := FailureClass(err)
	why := err
	if se != nil {
		why = se.Err // the event names the step apart
	}
	a.log.Error("bootstrap failed", "event", "bootstrap_failed", "step", step, "class", class, "instance_id", a.instanceID, "error", why.Error())
	var b strings.Builder
	fmt.Fprintf(&b, "stateful node bootstrap FAILED for node %s (instance %s) at step %s:\n  %v\n", a.cfg.NodeID, a.instanceID, step, err)
	if out := a.lastOutput(); len(out) > 0 {
		b.WriteString("last lines of the node script:\n")
		for _, l := range out {
			b.WriteString("  | " + l + "\n")
		}
	}
	hold := a.cfg.OnFailure == "hold"
	switch {
	case !cluster.Relaunchable(class):
		hold = true
		fmt.Fprintf(&b, "a relaunch cannot fix this (%s error): holding the instance in Pending:Wait instead of abandoning it, so the group does not relaunch every few seconds; the launch hook %s times out on its own, then the group launches again; fix the configuration, terraform apply, then stateful recover %s --abandon launches on the new version now\n", class, a.cfg.LaunchHook, a.cfg.NodeID)
	case hold:
		fmt.Fprintf(&b, "holding the instance in Pending:Wait for debugging (on_failure = hold): the launch hook %s times out on its own; stateful recover %s --abandon releases it now\n", a.cfg.LaunchHook, a.cfg.NodeID)
	default:
		fmt.Fprintf(&b, "completing the launch hook %s with ABANDON: the group will start a fresh instance\n", a.cfg.LaunchHook)
	}
	fmt.Fprint(a.d.Output, b.String())
	a.report(context.WithoutCancel(ctx), step, err)
	if !hold {
		if cerr := a.complete(context.WithoutCancel(ctx), a.cfg.LaunchHook, "ABANDON"); cerr != nil {
			a.log.Error("could not abandon the launch", "error", cerr.Error())
		}
	}
	return err
}

// writeFiles writes the node files atomically with their modes and
// owners, never through a link a user could have planted (writeNoFollow);
// a secret file's contents come from SSM Parameter Store, decrypted.
func (a *Agent) writeFiles(ctx context.Context) error {
	for _, f := range a.cfg.Files {
		data, err := a.fileContents(ctx, f)
		if err != nil {
			return err
		}
		uid, gid := 0, 0
		// An owner the node script creates: the file is root's until
		// configure_cluster_node has run (ownership.go).
		if ok, err := a.ownerExists(f.Owner, f.Group); err != nil {
			return fmt.Errorf("owner of node file %s: %w", f.Path, err)
		} else if !ok {
			a.laterFiles = append(a.laterFiles, deferredFile{Path: f.Path, Owner: f.Owner, Group: f.Group})
			a.log.Info("the owner of a node file does not exist yet: it is applied after configure_cluster_node", "path", f.Path, "owner", f.Owner, "group", f.Group)
		} else {
			if f.Owner != "" {
				if uid, err = a.lookup(f.Owner, false); err != nil {
					return fmt.Errorf("owner of node file %s: %w", f.Path, err)
				}
			}
			if f.Group != "" {
				if gid, err = a.lookup(f.Group, true); err != nil {
					return fmt.Errorf("group of node file %s: %w", f.Path, err)
				}
			}
		}
		if err := writeNoFollow(f.Path, data, os.FileMode(f.FileMode()), uid, gid); err != nil {
			return fmt.Errorf("writing node file %s: %w", f.Path, err)
		}
		a.log.Info("node file written", "path", f.Path, "bytes", len(data), "mode", fmt.Sprintf("%04o", f.FileMode()), "uid", uid, "gid", gid, "from_ssm", f.SSMParameter != "")
	}
	return nil
}

// fileContents is a node file's contents: inline, or its SSM parameter's
// decrypted value.
func (a *Agent) fileContents(ctx context.Context, f File) ([]byte, error) {
	if f.SSMParameter == "" {
		data, err := base64.StdEncoding.DecodeString(f.ContentBase64)
		if err != nil {
			return nil, configErrorf("node file %s: its contents are not base64: %w", f.Path, err)
		}
		return data, nil
	}
	if a.d.SSM == nil {
		return nil, fmt.Errorf("node file %s comes from SSM parameter %s, but the agent has no SSM client", f.Path, f.SSMParameter)
	}
	v, err := a.d.SSM.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(f.SSMParameter), WithDecryption: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("reading SSM parameter %s for node file %s: %w", f.SSMParameter, f.Path, err)
	}
	if v.Parameter == nil || v.Parameter.Value == nil {
		return nil, fmt.Errorf("SSM parameter %s for node file %s has no value", f.SSMParameter, f.Path)
	}
	return []byte(*v.Parameter.Value), nil
}

// script returns the node script: from S3 when configured and reachable,
// else the inline copy.
func (a *Agent) script(ctx context.Context) ([]byte, error) {
	if url := a.cfg.Script.S3URL; url != "" && a.d.FetchS3 != nil {
		b, err := a.d.FetchS3(ctx, S3Object{URL: url, SHA256: a.cfg.Script.S3SHA256,
			ExpectedBucketOwner: a.cfg.Script.S3ExpectedBucketOwner, VersionID: a.cfg.Script.S3VersionID})
		if err == nil {
			a.log.Info("node script fetched", "source", url, "bytes", len(b))
			return b, nil
		}
		if a.cfg.Script.InlineBase64 == "" {
			return nil, fmt.Errorf("fetching the node script from %s: %w", url, err)
		}
		a.log.Warn("node script not fetched from S3; using the inline copy", "source", url, "error", err.Error())
	}
	b, err := base64.StdEncoding.DecodeString(a.cfg.Script.InlineBase64)
	if err != nil {
		return nil, configErrorf("the inline node script is not base64: %w", err)
	}
	return b, nil
}

// runner is the bash that calls the user's functions, with their own error
// handling: the node script is sourced as it is, no set -e imposed.
// Between the two functions it asks the agent to apply the owners the
// script was to create (a line on fd 3, the answer on fd 4, moved out of
// the script's way first); a missing function or owner exits ExitConfig.
const runner = `exec {_stateful_ask}>&3 {_stateful_answer}<&4 3>&- 4<&-
. "$0" || exit $?
for f in configure_cluster_node wait_for_healthy_cluster; do
  declare -F "$f" >/dev/null || { echo "the node script defines no $f function" >&2; exit 78; }
done
configure_cluster_node "$1" "$2" || { s=$?; echo "configure_cluster_node exited with status $s" >&2; exit "$s"; }
echo configured >&"$_stateful_ask"
read -r _stateful_owners <&"$_stateful_answer"
exec {_stateful_ask}>&- {_stateful_answer}<&-
[ "$_stateful_owners" = ok ] || exit 78
wait_for_healthy_cluster "$1" "$2" || { s=$?; echo "wait_for_healthy_cluster exited with status $s" >&2; exit "$s"; }
`

// runScript runs configure_cluster_node then wait_for_healthy_cluster under
// the command timeout, streaming their output (heartbeats go on meanwhile),
// and applies the owners that did not exist yet between the two (or after
// both, with a Shell that does not stop between them).
func (a *Agent) runScript(ctx context.Context) error {
	start := a.d.Clock.Now()
	defer func() { a.scriptTime = a.d.Clock.Now().Sub(start) }()
	if err := a.runFunctions(ctx, runner, a.applyOwners); err != nil {
		return err
	}
	return a.applyOwners(ctx)
}

// maxRSS is this process's peak resident memory in KiB.
func maxRSS() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Maxrss
}

// runFunctions runs program over the node script; between, when set, runs
// when the program asks for it, and its error is the run's.
func (a *Agent) runFunctions(ctx context.Context, program string, between func(context.Context) error) error {
	src, err := a.script(ctx)
	if err != nil {
		return err
	}
	path := filepath.Join(a.d.StateDir, "node.sh")
	if err := blockdev.WriteFileAtomic(path, src, 0o700); err != nil {
		return err
	}
	env := []string{"STATEFUL_NODE_ID=" + a.cfg.NodeID, "STATEFUL_NODE_IP=" + a.cfg.NodeIP, "STATEFUL_CLUSTER=" + a.cfg.Cluster}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	betweenErr := make(chan error, 1) // sent before the runner gets its answer
	go func() {
		r := Run{Script: path, Program: program, Args: []string{a.cfg.NodeID, a.cfg.NodeIP}, Env: env, Line: a.line}
		if between != nil {
			r.Between = func() error {
				err := between(runCtx)
				if err != nil {
					betweenErr <- err
				}
				return err
			}
		}
		done <- a.d.Shell(runCtx, r)
	}()
	timeout := time.Duration(a.cfg.Timeouts.Command) * time.Second
	timer := a.d.Clock.NewTimer(timeout)
	defer timer.Stop()
	select {
	case err := <-done:
		select {
		case berr := <-betweenErr: // the agent's own step between the functions
			return berr
		default:
		}
		if err != nil {
			return fmt.Errorf("the node script failed: %w", err)
		}
		return nil
	case <-timer.C():
		cancel()
		<-done
		return fmt.Errorf("the node script did not finish within %s (command_timeout_seconds)", timeout)
	case <-ctx.Done():
		cancel()
		<-done
		return ctx.Err()
	}
}

// line takes one line of the node script's output.
func (a *Agent) line(l string) {
	a.keep(l)
	fmt.Fprintln(a.d.Output, l)
}

// Run is one run of bash over the node script.
type Run struct {
	Script  string   // the node script, $0 of Program
	Program string   // the bash program that sources it and calls functions
	Args    []string // $1, $2: node id and IP
	Env     []string // added to the agent's environment
	Line    func(string)
	// Between, when set, runs when the program asks on fd 3 (after
	// configure_cluster_node); its error ends the run as the run's error.
	Between func() error
}

// Shell runs a Run and returns when bash exits or ctx ends (then it kills
// bash's whole process group).
type Shell func(ctx context.Context, r Run) error

// Bash is the real Shell. After bash exits it waits up to a second (on c)
// for the last lines of output, without waiting for daemons that keep the
// output pipe open.
func Bash(c clock.Clock) Shell {
	return func(ctx context.Context, r Run) error { return bash(ctx, c, r) }
}

func bash(ctx context.Context, c clock.Clock, r Run) error {
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd := exec.Command("bash", append([]string{"-c", r.Program, r.Script}, r.Args...)...)
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = append(os.Environ(), r.Env...)
	var ask *os.File
	var answer *os.File
	var closeChildEnds func()
	if r.Between != nil {
		askR, askW, err := os.Pipe()
		if err != nil {
			return err
		}
		answerR, answerW, err := os.Pipe()
		if err != nil {
			askR.Close()
			askW.Close()
			return err
		}
		cmd.ExtraFiles = []*os.File{askW, answerR} // fds 3 and 4
		ask, answer = askR, answerW
		closeChildEnds = func() { askW.Close(); answerR.Close() }
		defer ask.Close()
		defer answer.Close()
	}
	if err := cmd.Start(); err != nil {
		pw.Close()
		pr.Close()
		if closeChildEnds != nil {
			closeChildEnds()
		}
		return fmt.Errorf("starting bash: %w", err)
	}
	pw.Close()
	if closeChildEnds != nil {
		closeChildEnds() // the child's ends
		go answerBetween(ask, answer, r.Between)
	}
	// Daemons the script starts may keep the pipe open: copy in the
	// background and never wait for its end once bash has exited.
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		defer pr.Close()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			r.Line(sc.Text())
		}
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		err = ctx.Err()
	}
	t := c.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-copied:
	case <-t.C():
	}
	return err
}

// answerBetween waits for the runner's "configured" line, runs between and
// answers ok or fail. A runner that ends first closes ask: nothing runs.
func answerBetween(ask, answer *os.File, between func() error) {
	line, err := bufio.NewReader(ask).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "configured" {
		return
	}
	reply := "ok\n"
	if between() != nil {
		reply = "fail\n"
	}
	_, _ = answer.WriteString(reply)
}
