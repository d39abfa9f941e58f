package recovery

import (
	"strings"
	"testing"

	"github.com/stateful-aws/stateful/internal/cluster"
)

func TestDecide(t *testing.T) {
	t.Parallel()
	serving := func(id string) cluster.Node {
		return cluster.Node{ID: id, Group: "c-node-" + id, Instances: []cluster.Instance{{ID: "i-" + id, Lifecycle: "InService", Health: "Healthy"}}}
	}
	held := func(id, state string) cluster.Node {
		n := serving(id)
		n.Instances[0].Lifecycle = state
		return n
	}
	none := cluster.Node{ID: "01", Group: "c-node-01"}
	hooks := []Hook{{"c-node-asg-hook", launching}, {"c-node-drain-hook", terminating}}
	for name, c := range map[string]struct {
		nodes   []cluster.Node
		action  Action
		force   bool
		refused string // "" taken, "usage", "unsafe"
		says    string
	}{
		"explain a held launch":                 {[]cluster.Node{serving("00"), held("01", "Pending:Wait"), serving("02")}, Explain, false, "", ""},
		"abandon a held launch":                 {[]cluster.Node{serving("00"), held("01", "Pending:Wait"), serving("02")}, Abandon, false, "", "i-01 (hook c-node-asg-hook) with ABANDON"},
		"continue a held drain":                 {[]cluster.Node{serving("00"), held("01", "Terminating:Wait"), serving("02")}, Continue, false, "", "hook c-node-drain-hook) with CONTINUE"},
		"abandon with nothing held":             {[]cluster.Node{serving("00"), serving("01"), serving("02")}, Abandon, false, "usage", "no instance waiting"},
		"replace while every other serves":      {[]cluster.Node{serving("00"), serving("01"), serving("02")}, Replace, false, "", "terminate i-01 (InService)"},
		"replace a stuck node":                  {[]cluster.Node{serving("00"), held("01", "Pending:Wait"), serving("02")}, Replace, false, "", "terminate i-01 (Pending:Wait)"},
		"replace while another is down":         {[]cluster.Node{held("00", "Pending:Wait"), serving("01"), serving("02")}, Replace, false, "unsafe", "node(s) 00 out of service: replacing node 01 now would take 2 of 3"},
		"replace while another is down, forced": {[]cluster.Node{held("00", "Pending:Wait"), serving("01"), serving("02")}, Replace, true, "", "terminate i-01"},
		"replace with no instance":              {[]cluster.Node{serving("00"), none, serving("02")}, Replace, false, "usage", "no instance to replace"},
	} {
		p, err := Decide(c.nodes, "01", hooks, c.action, c.force)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		got := ""
		if p.Refused != nil {
			got = map[bool]string{true: "usage", false: "unsafe"}[p.Refused.Usage]
		}
		text := p.What
		if p.Refused != nil {
			text = p.Refused.Reason
		}
		if got != c.refused || !strings.Contains(text, c.says) {
			t.Errorf("%s: refused %q (%q), want %q saying %q", name, got, text, c.refused, c.says)
		}
	}
	if _, err := Decide([]cluster.Node{serving("00")}, "07", hooks, Explain, false); err == nil || !strings.Contains(err.Error(), "its nodes are 00") {
		t.Errorf("unknown node: %v", err)
	}
}
