package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/stateful-aws/stateful/internal/diagnosis"
	"github.com/stateful-aws/stateful/internal/rollout"
)

// Event is the one schema of what roll and recover report, in every
// output mode: a human line on a terminal, key=value lines otherwise, JSON
// lines with --output json. The JSON keys are the key=value keys.
type Event struct {
	At   time.Time `json:"at"`
	Kind string    `json:"event"`
	Node string    `json:"node_id,omitempty"`
	// Instance is the instance the event is about.
	Instance string `json:"instance_id,omitempty"`
	Message  string `json:"message"`
	// Nodes: the plan (plan), the nodes in the way (waiting, failed).
	Nodes []string `json:"nodes,omitempty"`
	// Took is how long a replacement took (replaced).
	Took time.Duration `json:"took_ns,omitempty"`
	// Diagnosis is why a node is out of service (diagnosis, failed,
	// interrupted), Cause its kind.
	Cause     string               `json:"cause,omitempty"`
	Diagnosis *diagnosis.Diagnosis `json:"diagnosis,omitempty"`
	// Command is what to run next: the recover or the resuming roll.
	Command string `json:"command,omitempty"`
	// ExitCode is the command's exit code (failed, interrupted, paused,
	// done).
	ExitCode *int `json:"exit_code,omitempty"`
}

// EventKinds lists every kind an Event has, with its meaning (the README
// documents them; a test renders each in every mode).
var EventKinds = map[string]string{
	"plan":            "the nodes the roll would replace, in order (also under --dry-run)",
	"waiting":         "nothing starts while these nodes are out of service",
	"ready":           "every node is in service; the roll starts",
	"repaired":        "a group's Launch process, left suspended by an interrupted roll, was resumed",
	"pre-check":       "the pre-check failed for a node (retried)",
	"terminate":       "a node's old instance is being terminated",
	"resume-launch":   "the old instance released the ENI; the group launches the replacement",
	"drain-completed": "the roll completed the drain hook of an old instance no agent drains (launched by the original v0.8.0 module) with CONTINUE",
	"progress":        "the replacement under way (terminal live line only)",
	"replaced":        "a node is back in service on its target version",
	"leader":          "--app: the node that leads now, which goes last (asked again before each node)",
	"move-leader":     "--app etcd: the leadership was handed from the node about to go to a replaced one",
	"check":           "--app: a replaced node is in service but not caught up yet (retried)",
	"rollback":        "--on-failure rollback: a failed node's group was set back to its last good version; the node is replaced again",
	"rolled-back":     "--on-failure rollback: the failed node is back on its last good version; the roll stops (exit 4)",
	"verify":          "the canary's verify command ran",
	"soak":            "waiting out --soak after the canary",
	"paused":          "stopped by --pause-after; command resumes",
	"done":            "the command finished its job",
	"diagnosis":       "why a node is out of service (recover; a failed event carries the diagnosis of its node too)",
	"would":           "what a dry run would do",
	"failed":          "the command stopped or refused; message says why, command what to run",
	"interrupted":     "a signal, lost connection or lost credentials stopped the command; command resumes",
}

func fromRollout(ev rollout.Event) Event {
	return Event{At: ev.At, Kind: ev.Kind, Node: ev.Node, Instance: ev.Instance, Message: ev.Message, Nodes: ev.Nodes, Took: ev.Took}
}

// eventWriter prints events: human lines on a terminal, with a live line
// showing the replacement under way; key=value lines otherwise; JSON lines
// for machines. Progress events feed only the live line.
type eventWriter struct {
	mu     sync.Mutex
	w      io.Writer
	mode   string // human | line | json
	start  time.Time
	live   bool // a live line is on screen
	failed bool // a failed or interrupted event was written
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

// rollEvent is the roll's event sink. The roll's own "failed" event is
// left out: the command writes one when the roll returns, with the exit
// code and the command to run, for every way a roll stops.
func (e *eventWriter) rollEvent(ev rollout.Event) {
	if ev.Kind == "failed" {
		return
	}
	e.write(fromRollout(ev))
}

func (e *eventWriter) write(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ev.Kind == "failed" || ev.Kind == "interrupted" {
		e.failed = true
	}
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
		if ev.Command != "" {
			fmt.Fprintf(e.w, "           run: %s\n", ev.Command)
		}
	default:
		fmt.Fprintf(e.w, "time=%s event=%s", ev.At.UTC().Format(time.RFC3339), ev.Kind)
		if ev.Node != "" {
			fmt.Fprintf(e.w, " node_id=%s", ev.Node)
		}
		if ev.Instance != "" {
			fmt.Fprintf(e.w, " instance_id=%s", ev.Instance)
		}
		if len(ev.Nodes) > 0 {
			fmt.Fprintf(e.w, " nodes=%s", strings.Join(ev.Nodes, ","))
		}
		if ev.Took > 0 {
			fmt.Fprintf(e.w, " took_ns=%d", ev.Took)
		}
		if ev.Cause != "" {
			fmt.Fprintf(e.w, " cause=%s", ev.Cause)
		}
		if ev.ExitCode != nil {
			fmt.Fprintf(e.w, " exit_code=%d", *ev.ExitCode)
		}
		fmt.Fprintf(e.w, " message=%q", strings.TrimSpace(ev.Message))
		if ev.Command != "" {
			fmt.Fprintf(e.w, " command=%q", ev.Command)
		}
		fmt.Fprintln(e.w)
	}
}

func exitCode(c int) *int { return &c }
