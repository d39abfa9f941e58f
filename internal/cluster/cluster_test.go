package cluster

import "testing"

func TestNodeStates(t *testing.T) {
	t.Parallel()
	ready := Instance{ID: "i-1", Lifecycle: InService, Health: "HEALTHY", Version: 2}
	cases := []struct {
		name             string
		n                Node
		serving, current bool
		problem          string
	}{
		{"current", Node{Target: 2, Instances: []Instance{ready}}, true, true, ""},
		{"outdated", Node{Target: 3, Instances: []Instance{ready}}, true, false, ""},
		{"unknown target", Node{Instances: []Instance{ready}}, true, false, ""},
		{"no instance", Node{Target: 2}, false, false, "no instance"},
		{"waiting", Node{Target: 2, Instances: []Instance{{ID: "i-2", Lifecycle: PendingWait, Health: Healthy}}}, false, false, "instance i-2 is Pending:Wait"},
		{"unhealthy", Node{Target: 2, Instances: []Instance{{ID: "i-3", Lifecycle: InService, Health: "Unhealthy"}}}, false, false, "instance i-3 is Unhealthy"},
		{"two", Node{Target: 2, Instances: []Instance{ready, {ID: "i-4", Lifecycle: "Pending"}}}, false, false, "several instances: i-1 InService, i-4 Pending"},
	}
	for _, c := range cases {
		_, serving := c.n.Serving()
		if serving != c.serving || c.n.Current() != c.current || c.n.Problem() != c.problem {
			t.Errorf("%s: serving %v current %v problem %q; want %v %v %q", c.name, serving, c.n.Current(), c.n.Problem(), c.serving, c.current, c.problem)
		}
	}
}

func TestQuorumAndOrder(t *testing.T) {
	t.Parallel()
	for n, q := range map[int]int{1: 1, 2: 2, 3: 2, 4: 3, 5: 3, 7: 4} {
		if Quorum(n) != q {
			t.Errorf("Quorum(%d) = %d, want %d", n, Quorum(n), q)
		}
	}
	nodes := []Node{{ID: "10"}, {ID: "2"}, {ID: "01"}, {ID: "b"}, {ID: "a"}}
	SortNodes(nodes)
	got := ""
	for _, n := range nodes {
		got += n.ID + " "
	}
	if got != "01 2 10 a b " {
		t.Errorf("order %q", got)
	}
}
