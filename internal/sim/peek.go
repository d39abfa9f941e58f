package sim

import "time"

// These read the world directly: no call is recorded and no fault applies.
// The HTTP IMDS, the lab and tests use them to watch the world, not to act
// on it as a client would.

// InstanceByIP finds the live instance that holds a private address, for an
// IMDS request identified by its source address.
func (e *Engine) InstanceByIP(ip string) (id string, ok bool) {
	e.Do(func() {
		for _, iid := range e.w.order {
			if i := e.w.instances[iid]; i.IP == ip && i.State != ec2Terminated {
				id, ok = i.ID, true
			}
		}
	})
	return id, ok
}

// Member is a group member as the engine knows it.
type Member struct {
	ID, Lifecycle, Health string
	State                 string // EC2's: pending, running, shutting-down, terminated
	Version               int64
	InServiceAt           time.Time // zero until it reached InService
}

// Members reads a group's members directly, without recording a call or
// applying faults: for tests and reports that watch the world.
func (e *Engine) Members(group string) []Member {
	var out []Member
	e.Do(func() {
		if g := e.w.groups[group]; g != nil {
			for _, id := range g.Instances {
				i := e.w.instances[id]
				out = append(out, Member{ID: i.ID, Lifecycle: i.Lifecycle, Health: i.Health, State: i.State, Version: i.TemplateVersion, InServiceAt: i.InServiceAt})
			}
		}
	})
	return out
}

// Attachment reads a volume's attachment directly (no call recorded, no
// faults): the instance and state, or "" when the volume is detached.
func (e *Engine) Attachment(volumeID string) (instance, state string) {
	e.Do(func() {
		if v := e.w.volumes[volumeID]; v != nil && v.Att != nil {
			instance, state = v.Att.InstanceID, v.Att.State
		}
	})
	return instance, state
}
