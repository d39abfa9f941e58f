// Package rollout replaces a cluster's outdated nodes one at a time, never
// below N-1 nodes in service. Deciding is separate from doing: Decide and
// Order are pure functions of an observed cluster; Run executes against
// AWS with a clock, timeouts and events.
package rollout

import (
	"slices"

	"github.com/stateful-aws/stateful/internal/cluster"
)

// Action is what the roll should do next.
type Action int

const (
	// Done: every node serves on its target version.
	Done Action = iota
	// Wait: some node is not serving; nothing may be terminated now.
	Wait
	// Replace: terminate the serving instance of Decision.Node.
	Replace
	// Unknown: some node's target version could not be resolved.
	Unknown
)

// Decision is the next step.
type Decision struct {
	Action Action
	Node   cluster.Node   // for Replace
	Nodes  []cluster.Node // for Wait and Unknown: the nodes in the way
}

// Order lists the outdated nodes in the order they are replaced: node-id
// order, with the nodes named in last moved to the end in the order given.
func Order(s cluster.Snapshot, last []string) []cluster.Node {
	outdated := func(n cluster.Node) bool { return n.Target != 0 && !n.Current() }
	var front, back []cluster.Node
	for _, n := range s.Nodes {
		if outdated(n) && !slices.Contains(last, n.ID) {
			front = append(front, n)
		}
	}
	for _, id := range last {
		if n, ok := s.Node(id); ok && outdated(n) {
			back = append(back, n)
		}
	}
	return append(front, back...)
}

// Decide is the next step for a cluster: wait while any node is not
// serving, else replace the first outdated node in roll order.
func Decide(s cluster.Snapshot, last []string) Decision {
	if out := s.NotServing(); len(out) > 0 {
		return Decision{Action: Wait, Nodes: out}
	}
	var unknown []cluster.Node
	for _, n := range s.Nodes {
		if n.Target == 0 {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		return Decision{Action: Unknown, Nodes: unknown}
	}
	if order := Order(s, last); len(order) > 0 {
		return Decision{Action: Replace, Node: order[0]}
	}
	return Decision{Action: Done}
}
