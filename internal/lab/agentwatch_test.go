package lab

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The agents' failures are read as their logs grow: a line is taken only
// once complete, each failure once (also when its log is kept under logs/
// as its instance goes), and a failure no relaunch fixes is told apart.
func TestAgentWatchSaysEachFailureOnceAsItIsWritten(t *testing.T) {
	t.Parallel()
	l := &Lab{cfg: Config{WorkDir: t.TempDir()}, id: "t"}
	live := l.dir("instances", "i-1", "upper/var/log/cloud-init-output.log")
	if err := os.MkdirAll(filepath.Dir(live), 0o755); err != nil {
		t.Fatal(err)
	}
	failed := `{"level":"ERROR","msg":"bootstrap failed","event":"bootstrap_failed","node_id":"00","instance_id":"i-1","step":"node-script","class":"config","error":"the data volume's owner kafka does not exist"}`
	write := func(path, s string) {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	w := &agentWatch{read: map[string]int64{}, seen: map[string]bool{}}
	write(live, "configured\n"+failed[:40])
	if got := w.scan(l); len(got) != 0 {
		t.Fatalf("a partial line was taken: %+v", got)
	}
	write(live, failed[40:]+"\n")
	got := w.scan(l)
	if len(got) != 1 || got[0].Node != "00" || got[0].Class != "config" || got[0].Relaunchable() {
		t.Fatalf("after the line was complete: %+v", got)
	}
	if f, ok := w.permanent(); !ok || !strings.Contains(f.String(), "a relaunch cannot fix it") {
		t.Fatalf("permanent: %+v %v", f, ok)
	}
	kept := l.dir("logs", "i-1-cloud-init-output.log")
	if err := os.MkdirAll(filepath.Dir(kept), 0o755); err != nil {
		t.Fatal(err)
	}
	write(kept, "configured\n"+failed+"\n")
	if got := w.scan(l); len(got) != 0 || len(w.failures()) != 1 {
		t.Fatalf("the kept copy was said again: %+v", got)
	}
}

// A demo that stopped before the cluster served prints no figures of zero
// ("0 of 0 probes"), and names the agents' failures.
func TestAStoppedDemoReportsNoEmptyFigures(t *testing.T) {
	t.Parallel()
	r := &Report{Probe: Probe{Write: "etcdctl put k v"}, AgentFailures: []AgentFailure{{Node: "00", Instance: "i-1", Step: "node-script", Class: "config", Error: "no user kafka"}}}
	var b bytes.Buffer
	r.Print(&b)
	out := b.String()
	if strings.Contains(out, "0 of 0") || strings.Contains(out, "0.00%") || !strings.Contains(out, "agent failure: node 00: the agent on i-1 failed at step node-script: no user kafka") ||
		!strings.Contains(out, "stopped before the cluster was in service") {
		t.Fatalf("report:\n%s", out)
	}
}
