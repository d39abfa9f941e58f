// Package diagnosis names the one reason a node is not in service: a
// lifecycle hook holding its instance (since when, until when), the node
// agent's failure, launches failing and why, its group's capacity, an
// impaired instance, a detached volume. It is pure: the commands read the
// node, its group's recent scaling activities and hooks, and ask Diagnose;
// `recover`, `status` and the roll's failure message all print its answer.
//
// The order of the checks is the point. A node being replaced sees a
// routine failed launch ("Interface: [eni-…] in use") every few seconds
// until the old instance releases its ENI; those must never hide the
// activity that says what really went wrong (a hook that timed out, a
// launch the agent abandoned, a launch EC2 refused for another reason).
package diagnosis

import (
	"fmt"
	"strings"
	"time"

	"github.com/stateful-aws/stateful/internal/cluster"
	"github.com/stateful-aws/stateful/internal/termtext"
)

// Cause is the kind of reason, stable for scripts (JSON's "cause").
type Cause string

const (
	Serving         Cause = "serving"          // in service (on its target version or not)
	Capacity        Cause = "capacity"         // the group's min/desired/max are not 1/1/1
	LaunchHook      Cause = "launch-hook"      // the instance waits on its launch hook
	NodeFailed      Cause = "node-failed"      // the node agent reported a failure
	DrainHook       Cause = "drain-hook"       // the old instance waits on its termination hook
	HookTimedOut    Cause = "hook-timed-out"   // the last launch's hook timed out
	Abandoned       Cause = "abandoned"        // the last launch was completed with ABANDON
	LaunchFailing   Cause = "launch-failing"   // EC2 refuses the group's launches
	ENIBusy         Cause = "eni-busy"         // launches wait for the old instance to release the ENI
	LaunchSuspended Cause = "launch-suspended" // the group's Launch process is suspended
	Launching       Cause = "launching"        // an instance is on its way, nothing wrong yet
	Forming         Cause = "forming"          // the node's first boot (its group never had an instance in service): nothing wrong yet
	Terminating     Cause = "terminating"      // the old instance is shutting down
	Impaired        Cause = "impaired"         // EC2 or the health check says the instance is not fit
	Standby         Cause = "standby"          // a user put the instance in Standby
	Detached        Cause = "detached"         // the instance is being detached from its group
	VolumeDetached  Cause = "volume-not-attached"
	Unsupported     Cause = "unsupported" // the group launches from a launch configuration or a mixed instances policy
)

// Hook is one lifecycle hook of the node's group.
type Hook struct {
	Name, Transition string
	HeartbeatTimeout time.Duration
	// GlobalTimeout bounds the wait whatever the heartbeats (AWS: the
	// smaller of 48 h and 100 heartbeat timeouts); 0 when unknown.
	GlobalTimeout time.Duration
	DefaultResult string // CONTINUE or ABANDON
}

// Transitions of the hooks.
const (
	LaunchTransition    = "autoscaling:EC2_INSTANCE_LAUNCHING"
	TerminateTransition = "autoscaling:EC2_INSTANCE_TERMINATING"
)

// Input is everything Diagnose looks at.
type Input struct {
	Node cluster.Node
	// Activities are the group's recent scaling activities, newest first.
	Activities []cluster.Activity
	// History: Activities are the group's recent history as read for a
	// diagnosis, not only its newest activity, so a group without an
	// earlier launch is on its first boot.
	History bool
	Hooks   []Hook
	// AgentReport is the failure summary the node agent left on the node's
	// current instance (cluster.TagBootstrapFailure), "" when none.
	AgentReport string
	// AgentClass is whether a relaunch can fix that failure
	// (cluster.TagBootstrapFailureClass), "" when not said.
	AgentClass string
	// AbandonedReport is the summary left on the instance of the newest
	// abandoned launch, "" when none.
	AbandonedReport string
	Now             time.Time
}

// Diagnosis is the one reason, said in one sentence, with the times an
// operator acts on.
type Diagnosis struct {
	Cause    Cause  `json:"cause"`
	Summary  string `json:"summary"`
	Instance string `json:"instance_id,omitempty"`
	// Since is when the node entered the state that holds it, when known.
	Since time.Time `json:"since,omitzero"`
	// TimesOut is when the hook holding the instance times out unless a
	// heartbeat restarts it; TimesOutLatest is the most heartbeats can
	// push it to.
	TimesOut       time.Time `json:"times_out,omitzero"`
	TimesOutLatest time.Time `json:"times_out_latest,omitzero"`
	// Activity is the scaling activity that explains it, when one does.
	Activity *cluster.Activity `json:"activity,omitempty"`
	// Fix is what to run or do, "" when waiting is the answer.
	Fix string `json:"fix,omitempty"`
}

// OK reports whether nothing holds the node.
func (d Diagnosis) OK() bool { return d.Cause == Serving }

// Diagnose names the reason node in is not in service, or Serving.
func Diagnose(in Input) Diagnosis {
	n := in.Node
	if n.Unsupported != "" {
		// First: whatever else holds the node, no roll can replace it
		// until its group launches from its launch template again.
		return Diagnosis{Cause: Unsupported, Summary: fmt.Sprintf("group %s %s: stateful cannot tell which version its instance runs, so no roll replaces it", n.Group, n.Unsupported),
			Fix: fmt.Sprintf("point group %s back at its launch template (terraform apply restores the module's setting)", n.Group)}
	}
	if d, ok := capacity(in); ok {
		return d
	}
	active, leaving := split(n.Instances)
	if active == nil {
		return noInstance(in, leaving)
	}
	i := *active
	since := launchActivity(in.Activities, i.ID)
	switch i.Lifecycle {
	case cluster.PendingWait:
		return hookWait(in, i, since)
	case "Pending", "Pending:Proceed":
		d := Diagnosis{Cause: Launching, Instance: i.ID, Summary: fmt.Sprintf("instance %s is booting (%s)", i.ID, i.Lifecycle)}
		if firstBoot(in, i) {
			d.Cause = Forming
			d.Summary = fmt.Sprintf("instance %s is the node's first boot (%s): its group has never had an instance in service", i.ID, i.Lifecycle)
		}
		if since != nil {
			d.Since = since.Start
		}
		return d
	case "Standby", "EnteringStandby":
		return Diagnosis{Cause: Standby, Instance: i.ID,
			Summary: fmt.Sprintf("instance %s is in %s: a user took it out of service (Standby is never health-checked)", i.ID, i.Lifecycle),
			Fix:     fmt.Sprintf("aws autoscaling exit-standby --auto-scaling-group-name %s --instance-ids %s", n.Group, i.ID)}
	case "Detaching", "Detached":
		return Diagnosis{Cause: Detached, Instance: i.ID,
			Summary: fmt.Sprintf("instance %s is %s: a user detached it from group %s, which launches another only if its desired capacity stayed 1", i.ID, strings.ToLower(i.Lifecycle), n.Group)}
	case cluster.InService:
	default:
		return Diagnosis{Cause: Launching, Instance: i.ID, Summary: fmt.Sprintf("instance %s is %s", i.ID, i.Lifecycle)}
	}
	// In service for Auto Scaling: is it really?
	inService := Diagnosis{Instance: i.ID}
	if since != nil && !since.End.IsZero() {
		inService.Since = since.End
	}
	switch {
	case i.EC2State != "" && i.EC2State != "running":
		inService.Cause = Impaired
		inService.Summary = fmt.Sprintf("EC2 says instance %s is %s while Auto Scaling still counts it InService: the group replaces it at its next health check", i.ID, i.EC2State)
		inService.Fix = fmt.Sprintf("wait for the health check, or replace it now: stateful recover %s --replace", n.ID)
		return inService
	case !strings.EqualFold(i.Health, cluster.Healthy):
		inService.Cause = Impaired
		inService.Summary = fmt.Sprintf("instance %s is %s: its group replaces it", i.ID, i.Health)
		return inService
	case n.Volume.ID != "" && n.Volume.State != "" && (n.Volume.AttachedTo != i.ID || n.Volume.Attachment != "attached"):
		inService.Cause = VolumeDetached
		where := "not attached to any instance"
		if n.Volume.AttachedTo != "" && n.Volume.AttachedTo != i.ID {
			where = fmt.Sprintf("%s to %s, another instance", n.Volume.Attachment, n.Volume.AttachedTo)
		} else if n.Volume.AttachedTo == i.ID {
			where = n.Volume.Attachment + " (not yet attached)"
		}
		inService.Summary = fmt.Sprintf("instance %s is InService but the node's data volume %s is %s: the node serves without its data", i.ID, n.Volume.ID, where)
		inService.Fix = fmt.Sprintf("look at the agent's log on %s, or replace the instance: stateful recover %s --replace", i.ID, n.ID)
		return inService
	case !i.Marked():
		inService.Cause = VolumeDetached
		inService.Summary = fmt.Sprintf("instance %s is InService but its node agent never marked it ready (tag %s): its launch hook was completed by someone else, so the node may serve without its data", i.ID, cluster.TagReady)
		inService.Fix = fmt.Sprintf("look at the agent's log on %s, or replace the instance: stateful recover %s --replace", i.ID, n.ID)
		return inService
	case n.LaunchSuspended:
		// Serving now, but the group could not replace a lost instance:
		// a roll stopped between its suspend and its terminate.
		inService.Cause = LaunchSuspended
		inService.Summary = fmt.Sprintf("instance %s is in service, but group %s has its Launch process suspended (a roll stopped between suspend and terminate, or by hand): if the instance is lost nothing launches its replacement", i.ID, n.Group)
		inService.Fix = fmt.Sprintf("stateful recover %s resumes it", n.ID)
		return inService
	}
	inService.Cause = Serving
	inService.Summary = fmt.Sprintf("instance %s is in service", i.ID)
	if n.Target != 0 && i.Version != n.Target {
		inService.Summary += fmt.Sprintf(" on launch-template version %d, not its group's %d: stateful roll replaces it", i.Version, n.Target)
	}
	return inService
}

// capacity: a node's group must be exactly 1/1/1. A group set to 0 looks
// like "launching" forever; a group set to 2 keeps failing to launch a
// second instance on the node's ENI while the first serves.
func capacity(in Input) (Diagnosis, bool) {
	n := in.Node
	if n.Desired == 1 && n.MinSize == 1 && n.MaxSize == 1 {
		return Diagnosis{}, false
	}
	d := Diagnosis{Cause: Capacity,
		Fix: fmt.Sprintf("aws autoscaling update-auto-scaling-group --auto-scaling-group-name %s --min-size 1 --max-size 1 --desired-capacity 1 (or terraform apply)", n.Group)}
	sizes := fmt.Sprintf("desired %d, min %d, max %d", n.Desired, n.MinSize, n.MaxSize)
	switch {
	case n.Desired == 0:
		d.Summary = fmt.Sprintf("group %s has %s: it launches no instance; a node's group must be 1/1/1", n.Group, sizes)
	case n.Desired > 1:
		d.Summary = fmt.Sprintf("group %s has %s: it keeps trying to launch %d more instance(s) on the node's one ENI; a node's group must be 1/1/1", n.Group, sizes, max(0, int(n.Desired)-len(n.Instances)))
		if a := realFailure(in.Activities); a != nil {
			d.Activity = a
		} else if a := firstOf(in.Activities, isENIRetry); a != nil {
			d.Activity = a
		}
	default:
		d.Summary = fmt.Sprintf("group %s has %s: a node's group must be 1/1/1, or a change of capacity takes the node out", n.Group, sizes)
	}
	return d, true
}

// split returns the instance that is, or will be, the node (nil when
// none), and the instances on their way out.
func split(instances []cluster.Instance) (*cluster.Instance, []cluster.Instance) {
	var active *cluster.Instance
	var leaving []cluster.Instance
	for k := range instances {
		i := instances[k]
		// EC2's view does not decide this: an instance EC2 is shutting
		// down that Auto Scaling still counts InService is the node,
		// impaired.
		if strings.HasPrefix(i.Lifecycle, "Terminat") {
			leaving = append(leaving, i)
			continue
		}
		if active == nil {
			active = &instances[k]
		}
	}
	return active, leaving
}

func hookWait(in Input, i cluster.Instance, launch *cluster.Activity) Diagnosis {
	n := in.Node
	d := Diagnosis{Cause: LaunchHook, Instance: i.ID}
	h, ok := hook(in.Hooks, LaunchTransition)
	name := "its launch hook"
	if ok {
		name = "launch hook " + h.Name
	}
	if launch != nil {
		d.Since = launch.Start
		if ok && h.HeartbeatTimeout > 0 {
			d.TimesOut = launch.Start.Add(h.HeartbeatTimeout)
			if h.GlobalTimeout > 0 {
				d.TimesOutLatest = launch.Start.Add(h.GlobalTimeout)
			}
		}
	}
	result := "ABANDON"
	if ok && h.DefaultResult != "" {
		result = h.DefaultResult
	}
	permanent := in.AgentReport != "" && !cluster.Relaunchable(in.AgentClass)
	forming := in.AgentReport == "" && firstBoot(in, i)
	switch {
	case permanent:
		d.Cause = NodeFailed
		d.Summary = fmt.Sprintf("the node agent on %s failed with %s a relaunch of the same launch-template version cannot fix, and holds the instance so that the group does not relaunch it in a loop: %s", i.ID, classWords(in.AgentClass), oneLine(in.AgentReport))
	case in.AgentReport != "":
		d.Cause = NodeFailed
		d.Summary = fmt.Sprintf("the node agent on %s failed and holds it in Pending:Wait for debugging: %s", i.ID, oneLine(in.AgentReport))
	case forming:
		d.Cause = Forming
		d.Summary = fmt.Sprintf("instance %s is the node's first boot: the node agent is preparing the volume and running the node script (its group has never had an instance in service)", i.ID)
	default:
		d.Summary = fmt.Sprintf("instance %s waits on %s: the node agent has not completed it (still bootstrapping, hung, or failed and holding it)", i.ID, name)
	}
	if !d.Since.IsZero() {
		d.Summary += fmt.Sprintf("; waiting since %s", stamp(d.Since))
	}
	if !d.TimesOut.IsZero() {
		if d.TimesOut.After(in.Now) {
			switch {
			case permanent:
				d.Summary += fmt.Sprintf(", times out at %s (in %s) with %s: then the group launches again, one launch per hook timeout", stamp(d.TimesOut), d.TimesOut.Sub(in.Now).Round(time.Second), result)
			default:
				d.Summary += fmt.Sprintf(", times out at %s (in %s) with %s unless heartbeats restart it", stamp(d.TimesOut), d.TimesOut.Sub(in.Now).Round(time.Second), result)
			}
		} else {
			d.Summary += fmt.Sprintf(", past its first timeout at %s: heartbeats keep it (%s at the latest)", stamp(d.TimesOut), stamp(d.TimesOutLatest))
		}
	}
	if prior := realFailure(in.Activities); prior != nil {
		d.Activity = prior
		d.Summary += "; the launch before it ended " + failureWords(*prior)
		if isAbandoned(*prior) && in.AbandonedReport != "" {
			d.Summary += ": " + oneLine(in.AbandonedReport)
		}
	}
	switch {
	case permanent && in.AgentClass == cluster.FailureVolume:
		d.Fix = fmt.Sprintf("the agent never formats or mounts a volume it cannot prove is this node's: look at volume %s by hand (docs/operations.md), then stateful recover %s --abandon launches again", n.Volume.ID, n.ID)
	case permanent:
		d.Fix = fmt.Sprintf("fix the configuration (the module's inputs or the node script), terraform apply, then stateful recover %s --abandon launches on the new launch-template version now", n.ID)
	case forming:
		// Nothing to do: a first boot takes as long as the node script.
	default:
		d.Fix = fmt.Sprintf("read the agent's log on %s (SSM: sudo journalctl -u cloud-final), then stateful recover %s --abandon (a fresh instance) or --continue (serve as it is)", i.ID, n.ID)
	}
	return d
}

// firstBoot reports whether instance i is its group's first launch: the
// group's history (read in full) holds no other launch.
func firstBoot(in Input, i cluster.Instance) bool {
	if !in.History {
		return false
	}
	for _, a := range in.Activities {
		if isLaunch(a) && !strings.HasPrefix(a.Description, "Launching a new EC2 instance: "+i.ID) {
			return false
		}
	}
	return true
}

func classWords(class string) string {
	if class == cluster.FailureVolume {
		return "a refusal of the data volume"
	}
	return "a configuration error"
}

func noInstance(in Input, leaving []cluster.Instance) Diagnosis {
	n := in.Node
	for _, i := range leaving {
		if i.Lifecycle == "Terminating:Wait" {
			name := "its termination hook"
			if h, ok := hook(in.Hooks, TerminateTransition); ok {
				name = "termination hook " + h.Name
			}
			return Diagnosis{Cause: DrainHook, Instance: i.ID,
				Summary: fmt.Sprintf("the old instance %s waits on %s (the drain); its replacement launches once it is gone", i.ID, name),
				Fix:     fmt.Sprintf("stateful recover %s --continue lets it terminate now", n.ID)}
		}
	}
	if n.LaunchSuspended {
		return Diagnosis{Cause: LaunchSuspended,
			Summary: fmt.Sprintf("group %s has its Launch process suspended (an interrupted roll, or by hand), so it launches nothing", n.Group),
			Fix:     fmt.Sprintf("stateful recover %s gives it back once the ENI is free (or: aws autoscaling resume-processes --auto-scaling-group-name %s --scaling-processes Launch)", n.ID, n.Group)}
	}
	if a := realFailure(in.Activities); a != nil {
		d := Diagnosis{Activity: a, Since: a.End}
		switch {
		case isTimeout(*a):
			d.Cause = HookTimedOut
			d.Summary = fmt.Sprintf("the last launch's hook timed out at %s (%s): the node agent never completed it; the group launches again", stamp(a.End), timeoutWord(*a))
			d.Fix = "read that instance's console output or agent log to see where its boot stopped"
		case isAbandoned(*a):
			d.Cause = Abandoned
			d.Summary = fmt.Sprintf("the last launch was completed with ABANDON at %s (by the node agent when its bootstrap failed, or by an operator); the group launches again", stamp(a.End))
			if in.AbandonedReport != "" {
				d.Cause = NodeFailed
				d.Summary = fmt.Sprintf("the node agent's bootstrap failed and it abandoned the launch at %s: %s; the group launches again", stamp(a.End), oneLine(in.AbandonedReport))
			}
			d.Fix = "read the failed instance's console output (the agent prints its failure summary there)"
		default:
			d.Cause = LaunchFailing
			d.Summary = fmt.Sprintf("EC2 refuses the group's launches: %s", strings.TrimSpace(a.Message))
		}
		return d
	}
	if len(leaving) > 0 {
		return Diagnosis{Cause: Terminating, Instance: leaving[0].ID,
			Summary: fmt.Sprintf("the old instance %s is %s; the replacement launches once it has released the ENI", leaving[0].ID, leaving[0].Lifecycle)}
	}
	if a := firstOf(in.Activities, isENIRetry); a != nil {
		d := Diagnosis{Cause: ENIBusy, Activity: a, Since: a.Start,
			Summary: fmt.Sprintf("the group's launches fail while the node's ENI %s is still in use (routine for a few seconds after the old instance terminates)", n.ENI)}
		if n.ENIStatus == "available" {
			d.Summary = fmt.Sprintf("the node's ENI %s is free now; the group's next launch retry takes it (launches failed on it while the old instance held it)", n.ENI)
		}
		return d
	}
	return Diagnosis{Cause: Launching, Summary: fmt.Sprintf("group %s has no instance yet and no failed launch: it is launching one", n.Group)}
}

// launchActivity is the activity that launched instance id, if read.
func launchActivity(acts []cluster.Activity, id string) *cluster.Activity {
	for k := range acts {
		a := &acts[k]
		if strings.HasPrefix(a.Description, "Launching a new EC2 instance: "+id) {
			return a
		}
	}
	return nil
}

// realFailure is the newest failed or cancelled launch since the newest
// successful one that is not the routine ENI retry.
func realFailure(acts []cluster.Activity) *cluster.Activity {
	for k := range acts {
		a := &acts[k]
		if isLaunch(*a) && a.Status == "Successful" {
			return nil
		}
		if (a.Status == "Failed" || a.Status == "Cancelled") && isLaunch(*a) && !isENIRetry(*a) {
			return a
		}
	}
	return nil
}

func firstOf(acts []cluster.Activity, match func(cluster.Activity) bool) *cluster.Activity {
	for k := range acts {
		if match(acts[k]) {
			return &acts[k]
		}
	}
	return nil
}

func isLaunch(a cluster.Activity) bool { return strings.HasPrefix(a.Description, "Launching") }

// Routine reports whether a is the routine launch retry of a replacement
// (the node's ENI still held by the old instance), which never explains
// trouble on its own while another failure does.
func Routine(a cluster.Activity) bool { return isENIRetry(a) }

// isENIRetry: EC2 refused the launch because the node's ENI is still
// attached to the previous instance ("Interface: [eni-…] in use.").
func isENIRetry(a cluster.Activity) bool {
	return a.Status == "Failed" && strings.Contains(a.Message, "Interface: [") && strings.Contains(a.Message, "in use")
}

func isTimeout(a cluster.Activity) bool {
	return a.Status == "Cancelled" && (strings.HasSuffix(a.Message, "Heartbeat Timeout") || strings.HasSuffix(a.Message, "Global Timeout"))
}

func isAbandoned(a cluster.Activity) bool {
	return a.Status == "Cancelled" && strings.HasSuffix(a.Message, "ABANDON Result")
}

func timeoutWord(a cluster.Activity) string {
	if strings.HasSuffix(a.Message, "Global Timeout") {
		return "Global Timeout"
	}
	return "Heartbeat Timeout"
}

func failureWords(a cluster.Activity) string {
	switch {
	case isTimeout(a):
		return fmt.Sprintf("in its hook's %s at %s", timeoutWord(a), stamp(a.End))
	case isAbandoned(a):
		return fmt.Sprintf("with ABANDON at %s (the node agent's bootstrap failed, or an operator)", stamp(a.End))
	}
	return "failed: " + strings.TrimSpace(a.Message)
}

func hook(hooks []Hook, transition string) (Hook, bool) {
	for _, h := range hooks {
		if h.Transition == transition {
			return h, true
		}
	}
	return Hook{}, false
}

func stamp(t time.Time) string { return t.UTC().Format("15:04:05Z") }

// oneLine folds a multi-line agent summary into one sentence.
func oneLine(s string) string {
	var parts []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "|")); l != "" {
			parts = append(parts, l)
		}
	}
	// Anyone who may tag the instance (the node itself) wrote it: never
	// let it reach the operator's terminal unescaped.
	return termtext.Escape(strings.Join(parts, " / "))
}
