package sim

import (
	"time"

	"github.com/stateful-aws/stateful/internal/cluster"
)

// Boots shaped like the node agent's, for `sim serve` and the command
// tests: what an operator rehearses against.

// AgentAfter is a good boot as the node agent does it: after d it attaches
// the node's data volume (the volume tagged with the group's cluster and
// node id, in the instance's zone, when it is free), marks its instance
// ready (cluster.TagReady, the instance's ID) and completes the launch
// hook with CONTINUE. Without the attach and the mark every simulated node
// would serve without its data, which `stateful status` rightly reports
// (ContinueAfter is that: a hook completed by someone else).
//
// As the agent does, it waits (looking every second) while the volume is
// still held by a predecessor, and completes the hook only once it holds
// the volume; the hook's timeout ends a wait that never does.
func AgentAfter(d time.Duration) BootFunc {
	return func(e *Engine, inst Instance) {
		var try func()
		try = func() {
			i := e.w.instances[inst.ID]
			// A lost instance (shutting down, still Pending:Wait in its
			// group) runs no agent: EC2 would refuse the attach.
			if i == nil || i.Action == nil || i.Action.Hook != inst.LaunchHook || i.State != ec2Running {
				return
			}
			if !e.attachNodeVolume(i) {
				e.after(time.Second, try)
				return
			}
			i.Tags[cluster.TagReady] = i.ID
			e.finishAction(i, "CONTINUE", "")
		}
		e.At(inst.Booted.Add(d), try)
	}
}

// attachNodeVolume attaches, at once, the free volume carrying the
// instance's group's cluster and node-id tags in the instance's zone, and
// reports whether the instance holds it (a group without the tags has no
// volume to hold: true).
func (e *Engine) attachNodeVolume(i *instance) bool {
	g := e.w.groups[i.Group]
	if g == nil {
		return false
	}
	var name, node string
	for _, t := range g.Tags {
		switch t.Key {
		case cluster.TagCluster:
			name = t.Value
		case cluster.TagNodeID:
			node = t.Value
		}
	}
	for _, v := range e.w.volumes {
		if v.Tags[cluster.TagCluster] != name || v.Tags[cluster.TagNodeID] != node || v.AZ != i.AZ || v.Att != nil || v.State != "available" {
			continue
		}
		v.State = "in-use"
		v.Att = &attachment{InstanceID: i.ID, Device: "/dev/xvdf", State: "attached", AttachTime: e.now()}
		e.notify(Change{Instance: i.ID, Volume: v.ID, Attachment: "attached"})
		return true
	}
	for _, v := range e.w.volumes {
		if v.Tags[cluster.TagCluster] == name && v.Tags[cluster.TagNodeID] == node {
			return v.Att != nil && v.Att.InstanceID == i.ID // else held elsewhere
		}
	}
	return name == "" || node == ""
}

// PerNode boots the first launch of the named nodes (by their group's
// node-id tag) with first[node], and every other launch with rest: a
// rehearsal of one stuck or failing node whose recovery then succeeds.
func PerNode(first map[string]BootFunc, rest BootFunc) BootFunc {
	used := map[string]bool{}
	return func(e *Engine, inst Instance) {
		var node string
		e.Do(func() {
			if g := e.w.groups[inst.Group]; g != nil {
				for _, t := range g.Tags {
					if t.Key == cluster.TagNodeID {
						node = t.Value
					}
				}
			}
		})
		if b, ok := first[node]; ok && !used[node] {
			used[node] = true
			b(e, inst)
			return
		}
		rest(e, inst)
	}
}

// FailAfter is a boot whose agent fails as the real one does: after d it
// leaves report on its instance (tag cluster.TagBootstrapFailure) and
// completes the launch hook with ABANDON.
func FailAfter(d time.Duration, report string) BootFunc {
	return func(e *Engine, inst Instance) {
		e.At(inst.Booted.Add(d), func() {
			i := e.w.instances[inst.ID]
			if i == nil || i.Action == nil || i.Action.Hook != inst.LaunchHook {
				return
			}
			i.Tags[cluster.TagBootstrapFailure] = report
			e.finishAction(i, "ABANDON", "")
		})
	}
}

// ContinueWithVolumeAfter attaches the node's data volume and completes the
// launch hook with CONTINUE after d, but leaves no ready mark: a hook
// completed by someone other than the agent (a person, a script, an agent
// that failed after the attach), which the roll and status must not count
// as a node back in service.
func ContinueWithVolumeAfter(d time.Duration) BootFunc {
	return func(e *Engine, inst Instance) {
		e.At(inst.Booted.Add(d), func() {
			i := e.w.instances[inst.ID]
			if i == nil || i.Action == nil || i.Action.Hook != inst.LaunchHook || i.State != ec2Running {
				return
			}
			e.attachNodeVolume(i)
			e.finishAction(i, "CONTINUE", "")
		})
	}
}
