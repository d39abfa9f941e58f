package lab

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/cluster"
)

// AgentFailure is a failed bootstrap as its agent logged it (the
// bootstrap_failed event of its JSON log lines).
type AgentFailure struct {
	Node     string `json:"node_id"`
	Instance string `json:"instance_id"`
	Step     string `json:"step"`
	Class    string `json:"class"` // cluster.FailureConfig, ...
	Error    string `json:"error"`
}

// Relaunchable reports whether a new instance may succeed.
func (f AgentFailure) Relaunchable() bool { return cluster.Relaunchable(f.Class) }

func (f AgentFailure) String() string {
	s := fmt.Sprintf("node %s: the agent on %s failed at step %s: %s", f.Node, f.Instance, f.Step, f.Error)
	if !f.Relaunchable() {
		s += fmt.Sprintf(" (a %s error: a relaunch cannot fix it; the agent holds the instance)", f.Class)
	}
	return s
}

// agentWatch reads the agents' logs as they are written, so that a
// failure is said when it happens, not after a silent wait.
type agentWatch struct {
	mu     sync.Mutex
	read   map[string]int64 // bytes of each log already read
	seen   map[string]bool  // instance/step already said
	failed []AgentFailure
}

// watchAgents calls say for every new agent failure until ctx ends,
// looking every 250ms at the live and the kept cloud-init logs.
func (l *Lab) watchAgents(ctx context.Context, say func(AgentFailure)) *agentWatch {
	w := &agentWatch{read: map[string]int64{}, seen: map[string]bool{}}
	go func() {
		for {
			for _, f := range w.scan(l) {
				say(f)
			}
			if clock.Sleep(ctx, l.cfg.Clock, 250*time.Millisecond) != nil {
				return
			}
		}
	}()
	return w
}

// scan reads what was added to the logs since the last scan and returns
// the failures not said before.
func (w *agentWatch) scan(l *Lab) []AgentFailure {
	kept, _ := filepath.Glob(l.dir("logs", "*-cloud-init-output.log"))
	live, _ := filepath.Glob(l.dir("instances", "*", "upper/var/log/cloud-init-output.log"))
	files := append(kept, live...)
	sort.Strings(files)
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []AgentFailure
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		if _, err := f.Seek(w.read[path], io.SeekStart); err != nil {
			f.Close()
			continue
		}
		r := bufio.NewReader(f)
		for {
			line, err := r.ReadBytes('\n')
			if err != nil { // a partial last line is read again next time
				break
			}
			w.read[path] += int64(len(line))
			var rec struct {
				Event string `json:"event"`
				AgentFailure
			}
			if json.Unmarshal(line, &rec) != nil || rec.Event != "bootstrap_failed" {
				continue
			}
			key := rec.Instance + "/" + rec.Step
			if w.seen[key] {
				continue // the same log, kept under logs/ when its instance went
			}
			w.seen[key] = true
			w.failed = append(w.failed, rec.AgentFailure)
			out = append(out, rec.AgentFailure)
		}
		f.Close()
	}
	return out
}

// permanent is the first failure a relaunch cannot fix, if any.
func (w *agentWatch) permanent() (AgentFailure, bool) {
	if w == nil {
		return AgentFailure{}, false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, f := range w.failed {
		if !f.Relaunchable() {
			return f, true
		}
	}
	return AgentFailure{}, false
}

// failures are every failure seen.
func (w *agentWatch) failures() []AgentFailure {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]AgentFailure(nil), w.failed...)
}

// WatchAgents calls say for every agent failure as it is written, until
// ctx ends (`lab up` prints them while the lab runs).
func (l *Lab) WatchAgents(ctx context.Context, say func(AgentFailure)) {
	l.watchAgents(ctx, say)
}
