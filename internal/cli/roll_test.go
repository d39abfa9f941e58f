package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stateful-aws/stateful/internal/rollout"
)

func TestEventWriterModes(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	events := []rollout.Event{
		{At: start, Kind: "plan", Message: "will replace 1 of 1 nodes"},
		{At: start.Add(time.Second), Kind: "progress", Node: "00", Message: "node 00: new i-2 Pending:Wait (1s)"},
		{At: start.Add(2 * time.Second), Kind: "progress", Node: "00", Message: "node 00: new i-2 InService (2s)"},
		{At: start.Add(3 * time.Second), Kind: "replaced", Node: "00", Instance: "i-2", Message: "node 00 is back"},
	}
	render := func(output string, tty bool) string {
		var b bytes.Buffer
		w := newEventWriter(&b, output, tty, start)
		for _, e := range events {
			w.rollEvent(e)
		}
		return b.String()
	}
	human := render("text", true)
	if !strings.Contains(human, "\r\033[K[      2s] node 00: new i-2 InService (2s)") || !strings.HasSuffix(human, "\r\033[K[      3s] node 00 is back\n") {
		t.Errorf("terminal output %q", human)
	}
	lines := render("text", false)
	if strings.Contains(lines, "progress") || strings.Count(lines, "\n") != 2 || !strings.Contains(lines, "event=replaced node_id=00 instance_id=i-2") {
		t.Errorf("line output %q", lines)
	}
	if j := render("json", false); strings.Count(j, "\n") != 2 || strings.Contains(j, `"progress"`) {
		t.Errorf("JSON output %q", j)
	}
}
