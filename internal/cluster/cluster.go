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
	// Seen is when EC2's view of the instance was read, on the runner's
	// clock (zero: never). An instance EC2 did not list in that read (just
	// launched, or a read that lags) has Seen set and no EC2State: it is
	// not known to run, so it does not serve.
	Seen time.Time
	// Tagged: EC2 lists the module's cluster tag on the instance, so the
	// module's launch template launched it and its agent marks it ready
	// (TagReady). An instance without it predates the module (launched
	// by the original v0.8.0 before the upgrade) and cannot carry a mark.
	Tagged bool
	// Mark is the value of the instance's TagReady ("" when none).
	Mark string
}

// Ready reports whether Auto Scaling and EC2 both count the instance in
// service: InService and Healthy in its group, and running in EC2 when
// EC2's view was read (an instance the read did not list is not).
func (i Instance) Ready() bool {
	ec2 := i.EC2State == "running" || (i.EC2State == "" && i.Seen.IsZero())
	return i.Lifecycle == InService && strings.EqualFold(i.Health, Healthy) && ec2
}

// Marked reports whether the instance's own agent marked it ready: always
// true of an instance that cannot carry the mark (not Tagged).
func (i Instance) Marked() bool { return !i.Tagged || i.Mark == i.ID }

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
	// Seen is when the group was read, on the runner's clock; the ENI's,
	// the volume's and each instance's EC2 view carry their own (ENISeen,
	// Volume.Seen, Instance.Seen). A fact's age is measured against the
	// runner's own clock, never against a time AWS reported.
	Seen    time.Time
	ENISeen time.Time
}

// ReadAt is when the oldest fact the view holds about whether the node
// serves was read: its group, its instances in EC2, its volume (zero when
// one was never read). The ENI's status matters only while the node is
// replaced, and carries its own time (ENISeen).
func (n Node) ReadAt() time.Time {
	at := n.Seen
	older := func(t time.Time) {
		if at.IsZero() || t.IsZero() || t.Before(at) {
			at = t
		}
	}
	if n.Volume.ID != "" {
		older(n.Volume.Seen)
	}
	for _, i := range n.Instances {
		older(i.Seen)
	}
	return at
}

// Volume is a node's data volume as observed.
type Volume struct {
	ID         string
	State      string    // available | in-use | creating
	AttachedTo string    // instance ID
	Attachment string    // attaching | attached | detaching
	Seen       time.Time // when read, on the runner's clock
}

// Serving is the node's single instance when it serves with its data: it
// is the only instance, Ready, and WithData.
func (n Node) Serving() (Instance, bool) {
	if len(n.Instances) == 1 && n.Instances[0].Ready() && n.WithData(n.Instances[0]) {
		return n.Instances[0], true
	}
	return Instance{}, false
}

// WithData reports whether instance i holds the node's data as far as the
// view knows: the node's volume (when read) attached to i, and i marked
// ready by its own agent (Instance.Marked). A launch hook completed by
// anyone but the agent makes an instance InService without either.
func (n Node) WithData(i Instance) bool {
	if n.Volume.ID != "" && n.Volume.State != "" && (n.Volume.AttachedTo != i.ID || n.Volume.Attachment != "attached") {
		return false
	}
	return i.Marked()
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
	case !i.Ready():
		return "instance " + i.ID + " is not listed by EC2 yet"
	case n.Volume.ID != "" && n.Volume.State != "" && (n.Volume.AttachedTo != i.ID || n.Volume.Attachment != "attached"):
		return "instance " + i.ID + " is InService without its data volume " + n.Volume.ID
	case !i.Marked():
		return "instance " + i.ID + " is InService but its agent has not marked it ready (" + TagReady + ")"
	}
	return ""
}

// ReadAt is when the oldest fact of the view was read (zero: some fact
// never was): a decision on the view is as old as this.
func (s Snapshot) ReadAt() time.Time {
	var at time.Time
	for k, n := range s.Nodes {
		t := n.ReadAt()
		if t.IsZero() {
			return time.Time{}
		}
		if k == 0 || t.Before(at) {
			at = t
		}
	}
	return at
}

// Snapshot is the whole cluster at one moment, nodes in node-id order.
type Snapshot struct {
	At    time.Time
	Nodes []Node
	// Named are the nodes of the groups a selection by name named (empty:
	// the cluster was selected by its tag): the commands act on these
	// and count every node.
	Named []string
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
