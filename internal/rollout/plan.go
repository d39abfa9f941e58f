// Package rollout replaces a cluster's outdated nodes within a disruption
// budget: at most N nodes out of service at any moment, whatever put them
// there, optionally one availability zone at a time. Deciding is separate
// from doing: Scope, Order, Budget, CheckQuorum and Decide are pure
// functions of an observed cluster; Run executes against AWS with a clock,
// timeouts and events.
package rollout

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/stateful-aws/stateful/internal/cluster"
)

// Options say which nodes the roll replaces and how many at once.
type Options struct {
	// Last moves these nodes (for example a leader) to the end; under
	// ByZone their zones go last too.
	Last []string
	// Only limits the roll to these nodes (empty: every node).
	Only []string
	// Partition limits the roll to this node and the nodes after it in
	// node-id order, as a StatefulSet's partition does ("": no limit).
	Partition string
	// MaxUnavailable is how many nodes may be out of service at once,
	// counting nodes out for reasons the roll did not cause (0 means 1).
	MaxUnavailable int
	// WholeZone makes the budget the size of the largest zone (with
	// ByZone: a whole zone at once).
	WholeZone bool
	// ByZone replaces the nodes of one availability zone at a time.
	ByZone bool
}

// Within limits the roll to the nodes of the groups a selection by name
// named (inventory.Selector, Snapshot.Named): the roll sees and counts the
// whole cluster and replaces only these. --only naming a node outside them
// is refused.
func (o Options) Within(named []string) (Options, error) {
	if len(named) == 0 {
		return o, nil
	}
	if len(o.Only) == 0 {
		o.Only = slices.Clone(named)
		return o, nil
	}
	var outside []string
	for _, id := range o.Only {
		if !slices.Contains(named, id) {
			outside = append(outside, id)
		}
	}
	if len(outside) > 0 {
		return o, &ScopeError{Flag: "--only", Missing: outside, Nodes: named, Within: true}
	}
	return o, nil
}

// InScope reports whether the roll may replace node id.
func (o Options) InScope(id string) bool {
	if len(o.Only) > 0 && !slices.Contains(o.Only, id) {
		return false
	}
	return o.Partition == "" || !cluster.Less(id, o.Partition)
}

// Budget is the number of nodes that may be out of service at once.
func Budget(s cluster.Snapshot, o Options) int {
	if o.WholeZone {
		largest := 0
		for _, n := range zoneSizes(s) {
			largest = max(largest, n)
		}
		return max(1, largest)
	}
	return max(1, o.MaxUnavailable)
}

func zoneSizes(s cluster.Snapshot) map[string]int {
	sizes := map[string]int{}
	for _, n := range s.Nodes {
		sizes[n.AZ]++
	}
	return sizes
}

// ScopeError names nodes given to Only or Partition that the cluster does
// not have.
type ScopeError struct {
	Flag    string
	Missing []string
	Nodes   []string // the cluster's node ids (Within: the named groups')
	Within  bool
}

func (e *ScopeError) Error() string {
	if e.Within {
		return fmt.Sprintf("%s names node(s) %s outside the groups named with --asg, whose nodes are %s", e.Flag, strings.Join(e.Missing, ", "), strings.Join(e.Nodes, ", "))
	}
	return fmt.Sprintf("%s names node(s) %s that the cluster does not have; its nodes are %s", e.Flag, strings.Join(e.Missing, ", "), strings.Join(e.Nodes, ", "))
}

// CheckScope refuses Only and Partition nodes the cluster does not have: a
// typo must not silently shrink (or empty) the roll.
func CheckScope(s cluster.Snapshot, o Options) error {
	var all []string
	for _, n := range s.Nodes {
		all = append(all, n.ID)
	}
	check := func(flag string, want []string) error {
		var missing []string
		for _, id := range want {
			if !slices.Contains(all, id) {
				missing = append(missing, id)
			}
		}
		if len(missing) > 0 {
			return &ScopeError{Flag: flag, Missing: missing, Nodes: all}
		}
		return nil
	}
	if err := check("--only", o.Only); err != nil {
		return err
	}
	if err := check("--last", o.Last); err != nil {
		return err
	}
	if o.Partition != "" {
		return check("--partition", []string{o.Partition})
	}
	return nil
}

// QuorumError refuses a budget that would break a majority quorum.
type QuorumError struct {
	Budget, Nodes, Quorum int
	Zone                  bool // the budget is a whole zone
}

func (e *QuorumError) Error() string {
	what := fmt.Sprintf("--max-unavailable %d", e.Budget)
	if e.Zone {
		what = fmt.Sprintf("--max-unavailable zone (the largest zone holds %d nodes)", e.Budget)
	}
	return fmt.Sprintf("%s would leave %d of %d nodes in service, fewer than the majority of %d the cluster needs; give --allow-quorum-loss only if the application replicates by zone",
		what, e.Nodes-e.Budget, e.Nodes, e.Quorum)
}

// CheckQuorum refuses a budget that would leave fewer nodes in service than
// a majority of the cluster, unless allowLoss says the application does not
// need one.
func CheckQuorum(s cluster.Snapshot, o Options, allowLoss bool) error {
	n, b := len(s.Nodes), Budget(s, o)
	if q := cluster.Quorum(n); !allowLoss && n-b < q {
		return &QuorumError{Budget: b, Nodes: n, Quorum: q, Zone: o.WholeZone}
	}
	return nil
}

// Order lists the outdated nodes in scope in the order they are replaced:
// node-id order with the nodes named in Last moved to the end in the order
// given; under ByZone grouped by zone, zones in name order, zones holding a
// Last node moved to the end in the order of Last.
func Order(s cluster.Snapshot, o Options) []cluster.Node {
	outdated := func(n cluster.Node) bool { return n.Target != 0 && !n.Current() && o.InScope(n.ID) }
	var front, back []cluster.Node
	for _, n := range s.Nodes {
		if outdated(n) && !slices.Contains(o.Last, n.ID) {
			front = append(front, n)
		}
	}
	for _, id := range o.Last {
		if n, ok := s.Node(id); ok && outdated(n) {
			back = append(back, n)
		}
	}
	order := append(front, back...)
	if !o.ByZone {
		return order
	}
	rank := map[string]int{} // zone -> position in the roll
	var zones []string
	for _, n := range s.Nodes {
		if !slices.Contains(zones, n.AZ) {
			zones = append(zones, n.AZ)
		}
	}
	sort.Strings(zones)
	var lastZones []string
	for _, id := range o.Last {
		if n, ok := s.Node(id); ok && !slices.Contains(lastZones, n.AZ) {
			lastZones = append(lastZones, n.AZ)
		}
	}
	k := 0
	for _, z := range zones {
		if !slices.Contains(lastZones, z) {
			rank[z] = k
			k++
		}
	}
	for _, z := range lastZones {
		rank[z] = k
		k++
	}
	slices.SortStableFunc(order, func(a, b cluster.Node) int { return rank[a.AZ] - rank[b.AZ] })
	return order
}

// Action is what the roll should do next.
type Action int

const (
	// Done: every node in scope serves on its target version.
	Done Action = iota
	// Wait: replacements under way; nothing more may start now.
	Wait
	// Hold: nodes the roll did not take out are out of service; nothing
	// may start until they return.
	Hold
	// Replace: terminate the serving instances of Decision.Start.
	Replace
	// Unknown: some node's target version could not be resolved.
	Unknown
)

// Progress is what the roll has under way.
type Progress struct {
	// InFlight are the nodes the roll took out and still awaits.
	InFlight []string
	// Limit caps how many replacements may start now (canary, pause);
	// negative means no cap.
	Limit int
}

// Decision is the next step.
type Decision struct {
	Action Action
	Start  []cluster.Node // for Replace, in roll order
	Nodes  []cluster.Node // for Hold and Unknown: the nodes in the way
	Out    int            // nodes out of service now, whatever the cause
	Budget int
}

// Decide is the next step for a cluster: start as many replacements as the
// budget leaves room for (never one that would exceed it), under ByZone
// only in the zone under way, and nothing while a node the roll did not
// take out is out of service.
func Decide(s cluster.Snapshot, o Options, p Progress) Decision {
	d := Decision{Budget: Budget(s, o)}
	// A node in flight counts as out even while a look older than its
	// termination still shows it serving.
	d.Out = len(p.InFlight)
	var others []cluster.Node
	for _, n := range s.NotServing() {
		if !slices.Contains(p.InFlight, n.ID) {
			d.Out++
			others = append(others, n)
		}
	}
	var unknown []cluster.Node
	for _, n := range s.Nodes {
		if n.Target == 0 && o.InScope(n.ID) {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		d.Action, d.Nodes = Unknown, unknown
		return d
	}
	var order []cluster.Node
	for _, n := range Order(s, o) {
		if !slices.Contains(p.InFlight, n.ID) {
			order = append(order, n)
		}
	}
	switch {
	case len(order) == 0 && len(p.InFlight) == 0:
		d.Action = Done
		return d
	case len(others) > 0:
		d.Action, d.Nodes = Hold, others
		return d
	}
	room := d.Budget - d.Out
	if p.Limit >= 0 {
		room = min(room, p.Limit)
	}
	if o.ByZone && len(order) > 0 {
		// The zone under way is the zone of the nodes in flight; a new
		// zone starts only when the last one is finished.
		zone := order[0].AZ
		if len(p.InFlight) > 0 {
			n, _ := s.Node(p.InFlight[0])
			zone = n.AZ
		}
		order = slices.DeleteFunc(order, func(n cluster.Node) bool { return n.AZ != zone })
	}
	if room <= 0 || len(order) == 0 {
		d.Action = Wait
		return d
	}
	d.Action, d.Start = Replace, order[:min(room, len(order))]
	return d
}
