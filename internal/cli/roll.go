package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/stateful-aws/stateful/internal/cluster"
	"github.com/stateful-aws/stateful/internal/rollout"
)

// Exit codes of roll.
const (
	ExitRefused = 3 // the cluster was not ready; nothing was terminated
	ExitStopped = 4 // the roll stopped at a failure; see the message
)

type rollOptions struct {
	awsFlags
	Last     []string
	PreCheck string
	Timeout  time.Duration
	DryRun   bool
	Fast     time.Duration
}

func newRollCmd(io IO, d deps) *cobra.Command {
	o := &rollOptions{}
	cmd := &cobra.Command{
		Use:   "roll",
		Short: "Replace outdated nodes one at a time, never below N-1 in service",
		Long: `Replace every node whose instance runs another launch-template version than
its group's ($Latest and $Default resolved), one node at a time, in node-id
order, with --last nodes (for example the leader) at the end.

Before touching anything every node must have exactly one instance,
InService and Healthy; roll waits up to --timeout for that, then refuses. For
each node it runs --pre-check (if given, retried until --timeout), terminates
the instance keeping desired capacity, and waits until a new instance is
InService, Healthy and on the target version while every other node stays in
service. It stops at the first failure, naming the node, the instance, its
lifecycle state, the group's last scaling activity and the stateful recover
command to run. Re-running continues where the cluster is.

--pre-check runs in bash with STATEFUL_NODE_ID, STATEFUL_NODE_IP,
STATEFUL_INSTANCE_ID and STATEFUL_ASG_NAME set; exit 0 means go.

Output: one line per event (human on a terminal, with a live line showing
the replacement under way; key=value otherwise), or JSON lines with
--output json. Every flag also reads STATEFUL_<FLAG>.

Exit codes:
  0  every node is in service on its target version
  1  error (AWS unreachable, bad credentials, ...)
  2  bad flags; nothing was done
  3  refused: the cluster was not ready within --timeout; nothing was terminated
  4  stopped at a failure; the message says where and what to run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := envDefaults(cmd); err != nil {
				return err
			}
			return runRoll(cmd.Context(), io, d, o)
		},
	}
	o.register(cmd.Flags())
	f := cmd.Flags()
	f.StringSliceVar(&o.Last, "last", nil, "replace this node last, for example the leader (repeatable)")
	f.StringVar(&o.PreCheck, "pre-check", "", "shell command that must succeed before each termination")
	f.DurationVar(&o.Timeout, "timeout", 10*time.Minute, "bound of each wait: cluster ready, pre-check, one replacement")
	f.BoolVar(&o.DryRun, "dry-run", false, "print the plan and change nothing")
	f.DurationVar(&o.Fast, "poll", time.Second, "shortest interval between two looks at the cluster")
	return cmd
}

func runRoll(ctx context.Context, io IO, d deps, o *rollOptions) error {
	if err := o.validate(); err != nil {
		return err
	}
	if o.Timeout <= 0 {
		return usageError("--timeout must be positive, got %s", o.Timeout)
	}
	if o.Fast < 100*time.Millisecond || o.Fast > time.Minute {
		return usageError("--poll must be between 100ms and 1m, got %s", o.Fast)
	}
	as, _, inv, err := d.inventory(ctx, &o.awsFlags)
	if err != nil {
		return err
	}
	out := newEventWriter(io.Out, o.Output, d.terminal(io.Out), d.clock.Now())
	cfg := rollout.Config{
		AutoScaling: as, Inventory: inv, Clock: d.clock, Events: out.write,
		Selector: o.selector(), Options: rollout.Options{Last: o.Last}, Timeout: o.Timeout, DryRun: o.DryRun,
		Poll:           rollout.Poll{Fast: o.Fast, Slow: max(15*time.Second, o.Fast)},
		RecoverCommand: func(id string) string { return "stateful recover " + shellQuote(id) + o.again() },
	}
	if o.PreCheck != "" {
		cfg.PreCheck = preCheck(o.PreCheck, io.Err)
	}
	_, err = rollout.Run(ctx, cfg)
	if f, ok := rollout.IsFailure(err); ok {
		if f.Kind == rollout.Refused {
			if len(f.Nodes) > 0 {
				fmt.Fprintln(io.Err, "nodes not in service:")
				writeProblems(io.Err, f.Nodes)
			}
			return &exitError{code: ExitRefused, err: err}
		}
		return &exitError{code: ExitStopped, err: err}
	}
	return err
}

func writeProblems(w io.Writer, nodes []cluster.Node) {
	for _, n := range nodes {
		fmt.Fprintf(w, "  node %-6s group %-30s %s\n", n.ID, n.Group, n.Problem())
	}
}

// preCheck runs a shell command for a node.
func preCheck(command string, stderr io.Writer) func(context.Context, cluster.Node) error {
	return func(ctx context.Context, n cluster.Node) error {
		cmd := exec.CommandContext(ctx, "bash", "-c", command)
		var inst string
		if i, ok := n.Serving(); ok {
			inst = i.ID
		}
		cmd.Env = append(os.Environ(), "STATEFUL_NODE_ID="+n.ID, "STATEFUL_NODE_IP="+n.IP, "STATEFUL_INSTANCE_ID="+inst, "STATEFUL_ASG_NAME="+n.Group)
		cmd.Stdout, cmd.Stderr = stderr, stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %w", command, err)
		}
		return nil
	}
}

// eventWriter prints roll events: human lines on a terminal, with a live
// line showing the replacement under way; key=value lines otherwise; JSON
// lines for machines. Progress events feed only the live line.
type eventWriter struct {
	mu    sync.Mutex
	w     io.Writer
	mode  string // human | line | json
	start time.Time
	live  bool // a live line is on screen
}

func newEventWriter(w io.Writer, output string, tty bool, start time.Time) *eventWriter {
	mode := "line"
	switch {
	case output == "json":
		mode = "json"
	case tty:
		mode = "human"
	}
	return &eventWriter{w: w, mode: mode, start: start}
}

func (e *eventWriter) write(ev rollout.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ev.Kind == "progress" {
		if e.mode == "human" {
			fmt.Fprintf(e.w, "\r\033[K[%8s] %s", ev.At.Sub(e.start).Round(time.Second), ev.Message)
			e.live = true
		}
		return
	}
	if e.live {
		fmt.Fprint(e.w, "\r\033[K")
		e.live = false
	}
	switch e.mode {
	case "json":
		b, _ := json.Marshal(ev)
		fmt.Fprintf(e.w, "%s\n", b)
	case "human":
		fmt.Fprintf(e.w, "[%8s] %s\n", ev.At.Sub(e.start).Round(time.Second), ev.Message)
	default:
		fmt.Fprintf(e.w, "time=%s event=%s", ev.At.UTC().Format(time.RFC3339), ev.Kind)
		if ev.Node != "" {
			fmt.Fprintf(e.w, " node_id=%s", ev.Node)
		}
		if ev.Instance != "" {
			fmt.Fprintf(e.w, " instance_id=%s", ev.Instance)
		}
		fmt.Fprintf(e.w, " message=%q\n", strings.TrimSpace(ev.Message))
	}
}
