package sim

import "time"

// Instance is what a boot function learns about the instance it boots.
type Instance struct {
	ID, Group, AZ, SubnetID, IP, ENI string
	UserData                         string // base64, as in the launch template
	LaunchTemplateID                 string
	LaunchTemplateVersion            int64
	LaunchHook                       string // "" when the group has none
	// Booted is when the instance reached running. Scripted boots schedule
	// from it (Engine.At), so a world that catches up on events late still
	// sees each effect at its true time.
	Booted time.Time
}

// BootFunc is what an instance does once it is running (for a group with a
// launch hook: in Pending:Wait). It runs outside the engine's lock and must
// not block: scripted boots schedule their effect with Engine.At from
// Instance.Booted; the lab starts real processes.
type BootFunc func(e *Engine, inst Instance)

// ContinueAfter completes the launch hook with CONTINUE after d: a boot that
// succeeds.
func ContinueAfter(d time.Duration) BootFunc { return completeAfter(d, "CONTINUE") }

// AbandonAfter completes the launch hook with ABANDON after d: a boot whose
// agent gave up.
func AbandonAfter(d time.Duration) BootFunc { return completeAfter(d, "ABANDON") }

func completeAfter(d time.Duration, result string) BootFunc {
	return func(e *Engine, inst Instance) {
		e.At(inst.Booted.Add(d), func() {
			if i := e.w.instances[inst.ID]; i != nil && i.Action != nil && i.Action.Hook == inst.LaunchHook {
				e.finishAction(i, result, "")
			}
		})
	}
}

// Hang never completes the hook: the hook's timeout decides.
func Hang() BootFunc { return func(*Engine, Instance) {} }

// DieAfter loses the instance d after boot, as a hardware failure would.
func DieAfter(d time.Duration) BootFunc {
	return func(e *Engine, inst Instance) {
		e.At(inst.Booted.Add(d), func() { e.lose(inst.ID) })
	}
}

// Sequence boots the n-th launched instance with boots[n], and every later
// one with the last element.
func Sequence(boots ...BootFunc) BootFunc {
	n := 0
	return func(e *Engine, inst Instance) {
		b := boots[min(n, len(boots)-1)]
		n++
		b(e, inst)
	}
}
