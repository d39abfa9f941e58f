// Package recovery decides what `stateful recover` does for one node: which
// instance a lifecycle hook holds, and whether --abandon, --continue or
// --replace applies and is safe. It is pure: the command observes the
// cluster, asks this package, renders the plan, asks the operator and acts.
package recovery

import (
	"fmt"
	"strings"

	"github.com/stateful-aws/stateful/internal/cluster"
)

// Action is what the operator asked for.
type Action string

const (
	Explain  Action = ""         // only say why the node is not in service
	Abandon  Action = "abandon"  // complete the held lifecycle action with ABANDON
	Continue Action = "continue" // complete it with CONTINUE
	Replace  Action = "replace"  // terminate the node's instance, keeping capacity
)

// Hook is one lifecycle hook of the node's group.
type Hook struct{ Name, Transition string }

const (
	launching   = "autoscaling:EC2_INSTANCE_LAUNCHING"
	terminating = "autoscaling:EC2_INSTANCE_TERMINATING"
)

// Refusal says why an action is not taken.
type Refusal struct {
	// Usage: the action does not apply to the node (no instance to
	// complete or replace); otherwise it is unsafe now and Force would
	// override it.
	Usage  bool
	Reason string
}

// Plan is the decision for one node.
type Plan struct {
	Node cluster.Node
	// Waiting is the instance a lifecycle hook holds (ID "" if none), and
	// Hook that hook's name.
	Waiting cluster.Instance
	Hook    string
	// Result is ABANDON or CONTINUE for Abandon and Continue.
	Result string
	// Target is the instance Replace terminates.
	Target cluster.Instance
	// Refused is set when the action is not taken.
	Refused *Refusal
	// What says, in a sentence, what the action does.
	What string
}

// Decide plans action for node id of the cluster. A replacement takes a
// node out of service, so it is refused while any other node is out of
// service (below N-1 for the cluster), unless force.
func Decide(nodes []cluster.Node, id string, hooks []Hook, action Action, force bool) (Plan, error) {
	var p Plan
	found := false
	for _, n := range nodes {
		if n.ID == id {
			p.Node, found = n, true
		}
	}
	if !found {
		ids := make([]string, len(nodes))
		for i, n := range nodes {
			ids[i] = n.ID
		}
		return p, fmt.Errorf("node %q is not in the cluster; its nodes are %s", id, strings.Join(ids, ", "))
	}
	p.Waiting, p.Hook = waiting(p.Node, hooks)
	switch action {
	case Explain:
	case Abandon, Continue:
		p.Result = strings.ToUpper(string(action))
		if p.Waiting.ID == "" {
			p.Refused = &Refusal{Usage: true, Reason: fmt.Sprintf("node %s has no instance waiting on a lifecycle hook, so there is no action to complete with %s", id, p.Result)}
			break
		}
		p.What = fmt.Sprintf("complete the lifecycle action of %s (hook %s) with %s", p.Waiting.ID, p.Hook, p.Result)
	case Replace:
		for _, i := range p.Node.Instances {
			if !strings.HasPrefix(i.Lifecycle, "Terminating") {
				p.Target = i
				break
			}
		}
		if p.Target.ID == "" {
			p.Refused = &Refusal{Usage: true, Reason: fmt.Sprintf("node %s has no instance to replace (the group is launching one, or none is left)", id)}
			break
		}
		p.What = fmt.Sprintf("terminate %s (%s) keeping desired capacity, so group %s launches a new instance", p.Target.ID, p.Target.Lifecycle, p.Node.Group)
		if down := outOfService(nodes, id); len(down) > 0 && !force {
			p.Refused = &Refusal{Reason: fmt.Sprintf("node(s) %s out of service: replacing node %s now would take %d of %d nodes out at once; recover them first, or pass --force",
				strings.Join(down, ", "), id, len(down)+1, len(nodes))}
		}
	default:
		return p, fmt.Errorf("unknown action %q", action)
	}
	return p, nil
}

// outOfService lists the nodes other than id that do not serve.
func outOfService(nodes []cluster.Node, id string) []string {
	var down []string
	for _, n := range nodes {
		if _, ok := n.Serving(); !ok && n.ID != id {
			down = append(down, n.ID)
		}
	}
	return down
}

// waiting finds the node's instance held by a hook, and that hook.
func waiting(n cluster.Node, hooks []Hook) (cluster.Instance, string) {
	for _, i := range n.Instances {
		var transition string
		switch i.Lifecycle {
		case "Pending:Wait":
			transition = launching
		case "Terminating:Wait":
			transition = terminating
		default:
			continue
		}
		for _, h := range hooks {
			if h.Transition == transition {
				return i, h.Name
			}
		}
	}
	return cluster.Instance{}, ""
}
