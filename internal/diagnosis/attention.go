package diagnosis

import (
	"fmt"
	"strings"

	"github.com/stateful-aws/stateful/internal/cluster"
)

// Flag is a node whose group needs an operator before a roll: what
// status flags as needing attention.
type Flag struct {
	Node, Group string
	Cause       Cause
	Summary     string
	// Desired, Min, Max: the group's capacity, said for Capacity.
	Desired, Min, Max int32
}

// attention are the causes no roll repairs and a roll must not work
// around, though the node may serve: a group that is not 1/1/1 (a second
// instance keeps failing to launch on the node's ENI, or a change of
// capacity takes the node out), a node serving without its volume, an
// instance EC2 or the health check says is unfit. (A group no roll can
// read the version of, Unsupported, the roll refuses on its own, naming
// its launch configuration or policy.)
var attention = map[Cause]bool{Capacity: true, VolumeDetached: true, Impaired: true}

// NeedsAttention returns the nodes (in nodes' order) whose diagnosis names
// a cause from attention.
func NeedsAttention(nodes []cluster.Node, diags map[string]Diagnosis) []Flag {
	var out []Flag
	for _, n := range nodes {
		if d, ok := diags[n.ID]; ok && attention[d.Cause] {
			out = append(out, Flag{Node: n.ID, Group: n.Group, Cause: d.Cause, Summary: d.Summary, Desired: n.Desired, Min: n.MinSize, Max: n.MaxSize})
		}
	}
	return out
}

// Refusal is the roll's one sentence for flags, naming every group; ""
// when there are none.
func Refusal(flags []Flag) string {
	if len(flags) == 0 {
		return ""
	}
	var names []string
	for _, f := range flags {
		what := string(f.Cause)
		if f.Cause == Capacity {
			what = fmt.Sprintf("capacity %d/%d/%d desired/min/max, not 1/1/1", f.Desired, f.Min, f.Max)
		}
		names = append(names, fmt.Sprintf("%s (node %s: %s)", f.Group, f.Node, what))
	}
	return fmt.Sprintf("refusing to roll: stateful status flags %s as needing attention: %s; fix them first (stateful status says how for each)",
		plural(len(flags), "group", "groups"), strings.Join(names, ", "))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
