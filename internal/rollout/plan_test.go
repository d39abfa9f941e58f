package rollout

import (
	"strings"
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

func inZone(az string, n cluster.Node) cluster.Node { n.AZ = az; return n }

func joinIDs(nodes []cluster.Node) string {
	var b strings.Builder
	for _, n := range nodes {
		b.WriteString(n.ID + " ")
	}
	return b.String()
}

func TestDecide(t *testing.T) {
	t.Parallel()
	const in, wait = cluster.InService, cluster.PendingWait
	// Six outdated nodes over three zones, round robin as the module lays
	// them out: a: 0 3, b: 1 4, c: 2 5.
	six := func(mut func([]cluster.Node)) []cluster.Node {
		var out []cluster.Node
		for k, id := range []string{"0", "1", "2", "3", "4", "5"} {
			out = append(out, inZone("az-"+string(rune('a'+k%3)), node(id, 2, 1, in)))
		}
		if mut != nil {
			mut(out)
		}
		return out
	}
	cases := []struct {
		name     string
		nodes    []cluster.Node
		opts     Options
		progress Progress
		action   Action
		start    string
		order    string
	}{
		{"nothing to do", []cluster.Node{node("0", 1, 1, in), node("1", 1, 1, in)}, Options{}, Progress{Limit: -1}, Done, "", ""},
		{"first outdated in id order", []cluster.Node{node("0", 2, 2, in), node("1", 2, 1, in), node("2", 2, 1, in)}, Options{}, Progress{Limit: -1}, Replace, "1 ", "1 2 "},
		{"leader last", []cluster.Node{node("0", 2, 1, in), node("1", 2, 1, in), node("2", 2, 1, in)}, Options{Last: []string{"0"}}, Progress{Limit: -1}, Replace, "1 ", "1 2 0 "},
		{"several last keep their order", []cluster.Node{node("0", 2, 1, in), node("1", 2, 1, in), node("2", 2, 1, in)}, Options{Last: []string{"2", "0"}}, Progress{Limit: -1}, Replace, "1 ", "1 2 0 "},
		{"a node out of service the roll did not take out holds everything", []cluster.Node{node("0", 2, 1, in), node("1", 2, 2, wait)}, Options{MaxUnavailable: 2}, Progress{Limit: -1}, Hold, "", "0 1 "},
		{"a node with no instance holds", []cluster.Node{node("0", 2, 1, in), node("1", 2, 0, "")}, Options{}, Progress{Limit: -1}, Hold, "", "0 1 "},
		{"an unresolved target refuses", []cluster.Node{node("0", 0, 1, in)}, Options{}, Progress{Limit: -1}, Unknown, "", ""},
		{"an unresolved target out of scope does not", []cluster.Node{node("0", 0, 1, in), node("1", 2, 1, in)}, Options{Only: []string{"1"}}, Progress{Limit: -1}, Replace, "1 ", "1 "},
		{"a node on a newer version than its group is outdated too", []cluster.Node{node("0", 2, 3, in)}, Options{}, Progress{Limit: -1}, Replace, "0 ", "0 "},
		{"budget 3 starts three", six(nil), Options{MaxUnavailable: 3}, Progress{Limit: -1}, Replace, "0 1 2 ", "0 1 2 3 4 5 "},
		{"budget 3 with one in flight starts two", six(func(n []cluster.Node) { n[0].Instances = nil }), Options{MaxUnavailable: 3}, Progress{InFlight: []string{"0"}, Limit: -1}, Replace, "1 2 ", "0 1 2 3 4 5 "},
		{"budget used up waits", six(func(n []cluster.Node) { n[0].Instances, n[1].Instances = nil, nil }), Options{MaxUnavailable: 2}, Progress{InFlight: []string{"0", "1"}, Limit: -1}, Wait, "", "0 1 2 3 4 5 "},
		{"a node lost elsewhere counts against the budget", six(func(n []cluster.Node) { n[0].Instances = nil }), Options{MaxUnavailable: 3}, Progress{Limit: -1}, Hold, "", "0 1 2 3 4 5 "},
		{"by zone: one zone, as many as the budget", six(nil), Options{MaxUnavailable: 3, ByZone: true}, Progress{Limit: -1}, Replace, "0 3 ", "0 3 1 4 2 5 "},
		{"by zone: never a second zone while one is under way", six(func(n []cluster.Node) { n[0].Instances = nil; n[3].Instances[0].Version = 2 }), Options{MaxUnavailable: 3, ByZone: true}, Progress{InFlight: []string{"0"}, Limit: -1}, Wait, "", "0 1 4 2 5 "},
		{"by zone: the next zone after the last finished", six(func(n []cluster.Node) { n[0].Instances[0].Version, n[3].Instances[0].Version = 2, 2 }), Options{MaxUnavailable: 3, ByZone: true}, Progress{Limit: -1}, Replace, "1 4 ", "1 4 2 5 "},
		{"by zone: a whole zone", six(nil), Options{WholeZone: true, ByZone: true}, Progress{Limit: -1}, Replace, "0 3 ", "0 3 1 4 2 5 "},
		{"by zone: --last moves its zone to the end", six(nil), Options{MaxUnavailable: 1, ByZone: true, Last: []string{"1"}}, Progress{Limit: -1}, Replace, "0 ", "0 3 2 5 4 1 "},
		{"canary limit", six(nil), Options{MaxUnavailable: 3}, Progress{Limit: 1}, Replace, "0 ", "0 1 2 3 4 5 "},
		{"limit zero waits", six(nil), Options{MaxUnavailable: 3}, Progress{Limit: 0}, Wait, "", "0 1 2 3 4 5 "},
		{"only", six(nil), Options{MaxUnavailable: 3, Only: []string{"4", "1"}}, Progress{Limit: -1}, Replace, "1 4 ", "1 4 "},
		{"partition: the node and those after it", six(nil), Options{MaxUnavailable: 3, Partition: "3"}, Progress{Limit: -1}, Replace, "3 4 5 ", "3 4 5 "},
		{"out of scope nodes are never replaced", six(func(n []cluster.Node) {
			for k := 3; k < 6; k++ {
				n[k].Instances[0].Version = 2
			}
		}), Options{Partition: "3"}, Progress{Limit: -1}, Done, "", ""},
	}
	for _, c := range cases {
		s := cluster.Snapshot{Nodes: c.nodes}
		d := Decide(s, c.opts, c.progress)
		if d.Action != c.action || joinIDs(d.Start) != c.start {
			t.Errorf("%s: Decide = %v %q, want %v %q", c.name, d.Action, joinIDs(d.Start), c.action, c.start)
		}
		if order := joinIDs(Order(s, c.opts)); order != c.order {
			t.Errorf("%s: Order = %q, want %q", c.name, order, c.order)
		}
	}
}

func TestCheckQuorum(t *testing.T) {
	t.Parallel()
	nodes := func(n int) cluster.Snapshot {
		var s cluster.Snapshot
		for k := range n {
			s.Nodes = append(s.Nodes, inZone("az-"+string(rune('a'+k%3)), node(string(rune('0'+k)), 1, 1, cluster.InService)))
		}
		return s
	}
	cases := []struct {
		name  string
		nodes int
		opts  Options
		allow bool
		want  string // "" for allowed
	}{
		{"three nodes one at a time", 3, Options{}, false, ""},
		{"three nodes two at a time", 3, Options{MaxUnavailable: 2}, false, "--max-unavailable 2 would leave 1 of 3 nodes in service, fewer than the majority of 2 the cluster needs"},
		{"three nodes two at a time, allowed", 3, Options{MaxUnavailable: 2}, true, ""},
		{"three nodes a zone at a time", 3, Options{WholeZone: true, ByZone: true}, false, ""},
		{"five nodes two at a time", 5, Options{MaxUnavailable: 2}, false, ""},
		{"five nodes three at a time", 5, Options{MaxUnavailable: 3}, false, "--max-unavailable 3 would leave 2 of 5 nodes in service"},
		{"four nodes a zone at a time", 4, Options{WholeZone: true, ByZone: true}, false, "--max-unavailable zone (the largest zone holds 2 nodes) would leave 2 of 4 nodes in service, fewer than the majority of 3"},
	}
	for _, c := range cases {
		err := CheckQuorum(nodes(c.nodes), c.opts, c.allow)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: got %v, want a refusal saying %q", c.name, err, c.want)
		}
	}
}
