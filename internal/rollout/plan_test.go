package rollout

import (
	"testing"

	"github.com/stateful-aws/stateful/internal/cluster"
)

func node(id string, target, version int64, lifecycle string) cluster.Node {
	n := cluster.Node{ID: id, Target: target}
	if lifecycle != "" {
		n.Instances = []cluster.Instance{{ID: "i-" + id, Lifecycle: lifecycle, Health: "Healthy", Version: version}}
	}
	return n
}

func TestDecide(t *testing.T) {
	t.Parallel()
	const in = cluster.InService
	cases := []struct {
		name   string
		nodes  []cluster.Node
		last   []string
		action Action
		pick   string
		order  string
	}{
		{"nothing to do", []cluster.Node{node("0", 1, 1, in), node("1", 1, 1, in)}, nil, Done, "", ""},
		{"first outdated in id order", []cluster.Node{node("0", 2, 2, in), node("1", 2, 1, in), node("2", 2, 1, in)}, nil, Replace, "1", "1 2 "},
		{"leader last", []cluster.Node{node("0", 2, 1, in), node("1", 2, 1, in), node("2", 2, 1, in)}, []string{"0"}, Replace, "1", "1 2 0 "},
		{"several last keep their order", []cluster.Node{node("0", 2, 1, in), node("1", 2, 1, in), node("2", 2, 1, in)}, []string{"2", "0"}, Replace, "1", "1 2 0 "},
		{"a node out of service blocks everything", []cluster.Node{node("0", 2, 1, in), node("1", 2, 2, cluster.PendingWait)}, nil, Wait, "", "0 1 "},
		{"a node with no instance blocks", []cluster.Node{node("0", 2, 1, in), node("1", 2, 0, "")}, nil, Wait, "", "0 1 "},
		{"an unresolved target refuses", []cluster.Node{node("0", 0, 1, in)}, nil, Unknown, "", ""},
		{"a node on a newer version than its group is outdated too", []cluster.Node{node("0", 2, 3, in)}, nil, Replace, "0", "0 "},
	}
	for _, c := range cases {
		s := cluster.Snapshot{Nodes: c.nodes}
		d := Decide(s, c.last)
		if d.Action != c.action || d.Node.ID != c.pick {
			t.Errorf("%s: Decide = %v %q, want %v %q", c.name, d.Action, d.Node.ID, c.action, c.pick)
		}
		order := ""
		for _, n := range Order(s, c.last) {
			order += n.ID + " "
		}
		if order != c.order {
			t.Errorf("%s: Order = %q, want %q", c.name, order, c.order)
		}
	}
}
