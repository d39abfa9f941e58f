package cluster

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Auto Scaling lifecycle states the product reasons about.
const (
	InService   = "InService"
	PendingWait = "Pending:Wait"
	Healthy     = "Healthy"
)

// Instance is one member of a node's group.
type Instance struct {
	ID        string
	Lifecycle string // Auto Scaling lifecycle state
	Health    string // Healthy | Unhealthy
	Version   int64  // launch-template version it was launched with
	// EC2State is EC2's own view (pending, running, shutting-down,
	// stopping, stopped, terminated), "" when not read. Auto Scaling notices
	// an instance stopped or terminated through EC2 only at its next health
	// check, tens of seconds later.
	EC2State string
	// Report is the failure summary the node agent left on the instance
	// (tag TagBootstrapFailure), "" when none or not read.
	Report string
	// ReportClass is whether a relaunch can fix that failure (tag
	// TagBootstrapFailureClass: FailureConfig, FailureVolume, FailureNode).
	ReportClass string
}

// Ready reports whether the instance serves: InService and Healthy for
// Auto Scaling, and running for EC2 when EC2's view was read.
func (i Instance) Ready() bool {
	return i.Lifecycle == InService && strings.EqualFold(i.Health, Healthy) && (i.EC2State == "" || i.EC2State == "running")
}

// Activity is a scaling activity of a node's group.
type Activity struct {
	Group       string    `json:"asg_name,omitempty"` // set by reads that span groups
	Status      string    `json:"status"`             // Successful | Failed | Cancelled | InProgress | ...
	Description string    `json:"description"`
	Message     string    `json:"status_message,omitempty"` // StatusMessage
	Start       time.Time `json:"start_time"`
	End         time.Time `json:"end_time,omitzero"`
}

// Summary is the activity in one line, for messages.
func (a Activity) Summary() string {
	if a.Message != "" {
		return a.Status + ": " + a.Message
	}
	return a.Status + ": " + a.Description
}

// Node is one node as observed: its group, its members, and the version its
// group launches.
type Node struct {
	ID                 string
	IP                 string
	Group              string
	LaunchTemplateID   string
	LaunchTemplateName string
	VersionSpec        string // the group's $Latest, $Default or N
	Target             int64  // VersionSpec resolved; 0 when unknown
	Desired            int32
	// MinSize and MaxSize are the group's bounds (a node's group is 1/1/1).
	MinSize, MaxSize int32
	// AZ is the group's Availability Zone (a node's group has one).
	AZ        string
	Instances []Instance
	ENI       string
	// ENIStatus is the ENI's status (available, in-use, ...) when read.
	ENIStatus string
	// LaunchSuspended: the group's Launch process is suspended (the roll
	// does this while the old instance releases the ENI).
	LaunchSuspended bool
	// Unsupported says why the commands cannot manage this group ("" when
	// they can): a launch configuration instead of a launch template, or a
	// mixed instances policy, whose instances' versions a roll cannot
	// compare.
	Unsupported  string
	Volume       Volume
	LastActivity *Activity
	// Since is when the node's instance entered its lifecycle state, when
	// known (the simulator and status track it across polls).
	Since time.Time
}

// Volume is a node's data volume as observed.
type Volume struct {
	ID         string
	State      string // available | in-use | creating
	AttachedTo string // instance ID
	Attachment string // attaching | attached | detaching
}

// Serving is the node's single ready instance, if it has exactly one
// instance and that instance is InService and Healthy.
func (n Node) Serving() (Instance, bool) {
	if len(n.Instances) == 1 && n.Instances[0].Ready() {
		return n.Instances[0], true
	}
	return Instance{}, false
}

// Current reports whether the node serves on its group's target version.
func (n Node) Current() bool {
	i, ok := n.Serving()
	return ok && n.Target != 0 && i.Version == n.Target
}

// Problem says, in a few words, why the node is not serving, or "".
func (n Node) Problem() string {
	switch {
	case len(n.Instances) == 0:
		return "no instance"
	case len(n.Instances) > 1:
		ids := make([]string, len(n.Instances))
		for k, i := range n.Instances {
			ids[k] = i.ID + " " + i.Lifecycle
		}
		return "several instances: " + strings.Join(ids, ", ")
	}
	i := n.Instances[0]
	switch {
	case i.Lifecycle != InService:
		return "instance " + i.ID + " is " + i.Lifecycle
	case !strings.EqualFold(i.Health, Healthy):
		return "instance " + i.ID + " is " + i.Health
	case i.EC2State != "" && i.EC2State != "running":
		// Auto Scaling has not noticed yet (its health check is periodic).
		return "instance " + i.ID + " is " + i.EC2State + " in EC2, still InService in its group"
	}
	return ""
}

// Snapshot is the whole cluster at one moment, nodes in node-id order.
type Snapshot struct {
	At    time.Time
	Nodes []Node
}

// Node finds a node by id.
func (s Snapshot) Node(id string) (Node, bool) {
	for _, n := range s.Nodes {
		if n.ID == id {
			return n, true
		}
	}
	return Node{}, false
}

// Problems lists what makes a snapshot unsafe to act on, one sentence each:
// two groups claiming one node id (a copy of the module, a hand-made
// group), or a group the commands cannot manage.
func (s Snapshot) Problems() []string {
	var out []string
	groups := map[string][]string{}
	for _, n := range s.Nodes {
		groups[n.ID] = append(groups[n.ID], n.Group)
		if n.Unsupported != "" {
			out = append(out, fmt.Sprintf("group %s of node %s %s", n.Group, n.ID, n.Unsupported))
		}
	}
	for _, n := range s.Nodes {
		if g := groups[n.ID]; len(g) > 1 {
			out = append(out, fmt.Sprintf("node id %s is claimed by %d groups (%s): one group per node", n.ID, len(g), strings.Join(g, ", ")))
			delete(groups, n.ID)
		}
	}
	return out
}

// NotServing lists the nodes that are not serving.
func (s Snapshot) NotServing() []Node {
	var out []Node
	for _, n := range s.Nodes {
		if _, ok := n.Serving(); !ok {
			out = append(out, n)
		}
	}
	return out
}

// Quorum is the majority of n nodes.
func Quorum(n int) int { return n/2 + 1 }

// SortNodes orders nodes by id, numerically when both ids are numbers of
// the same width or plain numbers, else as strings.
func SortNodes(nodes []Node) {
	sort.SliceStable(nodes, func(i, j int) bool { return Less(nodes[i].ID, nodes[j].ID) })
}

// Less orders node ids: "2" before "10", "a" before "b".
func Less(a, b string) bool {
	if isDigits(a) && isDigits(b) {
		ta, tb := strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
		if len(ta) != len(tb) {
			return len(ta) < len(tb)
		}
		if ta != tb {
			return ta < tb
		}
	}
	return a < b
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
