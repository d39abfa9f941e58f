package sim

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Auto Scaling lifecycle states and EC2 instance states.
const (
	Pending            = "Pending"
	PendingWait        = "Pending:Wait"
	PendingProceed     = "Pending:Proceed"
	InService          = "InService"
	Terminating        = "Terminating"
	TerminatingWait    = "Terminating:Wait"
	TerminatingProceed = "Terminating:Proceed"
	Terminated         = "Terminated"

	HookLaunching   = "autoscaling:EC2_INSTANCE_LAUNCHING"
	HookTerminating = "autoscaling:EC2_INSTANCE_TERMINATING"

	ec2Pending      = "pending"
	ec2Running      = "running"
	ec2ShuttingDown = "shutting-down"
	ec2Terminated   = "terminated"
)

const (
	// launchBatch is how many instances one reconcile pass launches.
	launchBatch = 20
	// instanceLimit caps the instances of a region, as EC2's quotas do.
	instanceLimit = 5000
)

const isoSeconds = "2006-01-02T15:04:05Z"

func (i *instance) terminating() bool {
	return strings.HasPrefix(i.Lifecycle, Terminating) || i.Lifecycle == Terminated
}

func (g *group) hook(transition string) (hook, bool) {
	for _, h := range g.Hooks {
		if h.Transition == transition {
			return h, true
		}
	}
	return hook{}, false
}

// active are the members that count towards desired capacity.
func (e *Engine) active(g *group) []*instance {
	var out []*instance
	for _, id := range g.Instances {
		// Standby and detaching instances do not count toward capacity.
		if i := e.w.instances[id]; i != nil && !i.terminating() && !i.standby() && i.Lifecycle != "Detaching" {
			out = append(out, i)
		}
	}
	return out
}

// scheduleReconcile makes the group compare desired and actual capacity
// after the launch delay (or when its launch backoff ends).
func (e *Engine) scheduleReconcile(g *group) {
	if g.LaunchScheduled {
		return
	}
	g.LaunchScheduled = true
	at := e.now().Add(e.cfg.Timings.LaunchDelay)
	if g.NextLaunch.After(at) {
		at = g.NextLaunch
	}
	name := g.Name
	e.after(at.Sub(e.now()), func() {
		if g := e.w.groups[name]; g != nil {
			g.LaunchScheduled = false
			e.reconcile(g)
		}
	})
}

func (e *Engine) reconcile(g *group) {
	if e.now().Before(g.NextLaunch) {
		e.scheduleReconcile(g)
		return
	}
	if e.cfg.Timings.ReplaceAfterTerminationHook {
		for _, id := range g.Instances {
			if i := e.w.instances[id]; i != nil && i.Lifecycle == TerminatingWait {
				return // finishing the hook reconciles again
			}
		}
	}
	active := e.active(g)
	switch {
	case int32(len(active)) < g.Desired && g.suspended(ProcessLaunch):
		// Nothing is launched; ResumeProcesses reconciles again.
	case int32(len(active)) < g.Desired:
		// Launch in batches, as Auto Scaling does; the rest follow on the
		// next pass.
		batch := min(g.Desired, int32(len(active))+launchBatch)
		if batch < g.Desired {
			defer e.scheduleReconcile(g)
		}
		for n := int32(len(active)); n < batch; n++ {
			if err := e.launch(g, n); err != nil {
				g.LaunchFailures++
				backoff := e.cfg.Timings.LaunchRetryBase << min(g.LaunchFailures-1, 20)
				if backoff > e.cfg.Timings.LaunchRetryMax || backoff <= 0 {
					backoff = e.cfg.Timings.LaunchRetryMax
				}
				g.NextLaunch = e.now().Add(backoff)
				e.scheduleReconcile(g)
				return
			}
			g.LaunchFailures = 0
		}
	case int32(len(active)) > g.Desired && !g.suspended(ProcessTerminate):
		// Default termination policy, simplified: oldest launch-template
		// version first, then the oldest instance.
		slices.SortStableFunc(active, func(a, b *instance) int {
			if a.TemplateVersion != b.TemplateVersion {
				return int(a.TemplateVersion - b.TemplateVersion)
			}
			return a.LaunchTime.Compare(b.LaunchTime)
		})
		for _, i := range active[:int32(len(active))-g.Desired] {
			cause := fmt.Sprintf("At %s a user request explicitly set group desired capacity changing the desired capacity from %d to %d.  At %s an instance was taken out of service in response to a difference between desired and actual capacity, shrinking the capacity from %d to %d.",
				e.now().Format(isoSeconds), len(active), g.Desired, e.now().Format(isoSeconds), len(active), g.Desired)
			e.terminateInGroup(i, cause, true)
		}
	}
}

// launch starts one instance for g, or records why it could not.
func (e *Engine) launch(g *group, have int32) error {
	now := e.now()
	cause := fmt.Sprintf("At %s an instance was started in response to a difference between desired and actual capacity, increasing the capacity from %d to %d.",
		now.Format(isoSeconds), have, have+1)
	fail := func(code, msg string) error {
		a := e.addActivity(g.Name, "Launching a new EC2 instance.  Status Reason: "+msg+". Launching EC2 instance failed.", cause)
		a.Status, a.StatusMessage, a.Progress, a.End = "Failed", msg+". Launching EC2 instance failed.", 100, now
		e.log.Info("launch failed", "asg_name", g.Name, "code", code)
		return apiErr(code, "%s", msg)
	}
	data, lt, v, code, msg := e.launchData(g)
	if code != "" {
		return fail(code, msg)
	}
	i := &instance{
		ID: e.newID("i"), ImageID: deref(data.ImageId), Type: string(data.InstanceType), KeyName: deref(data.KeyName),
		UserData: deref(data.UserData), State: ec2Pending, LaunchTime: now, LaunchConfig: g.LaunchConfig, Group: g.Name,
		Health: "Healthy", Target: InService, Tags: tags{}, HopLimit: 1,
	}
	if lt != nil {
		i.TemplateID, i.TemplateName, i.TemplateVersion = lt.ID, lt.Name, v.Number
	}
	if data.MetadataOptions != nil && data.MetadataOptions.HttpPutResponseHopLimit != nil {
		i.HopLimit = *data.MetadataOptions.HttpPutResponseHopLimit
	}
	if i.Type == "" {
		i.Type = "t3.micro"
	}
	var n *eni
	for _, ni := range data.NetworkInterfaces {
		if deref(ni.DeviceIndex) == 0 && ni.NetworkInterfaceId != nil {
			n = e.w.enis[*ni.NetworkInterfaceId]
			if n == nil {
				return fail("InvalidNetworkInterfaceID.NotFound", fmt.Sprintf("The networkInterface ID '%s' does not exist", *ni.NetworkInterfaceId))
			}
		}
	}
	switch {
	case n != nil:
		if len(g.AZs) > 0 && !slices.Contains(g.AZs, n.AZ) {
			return fail("InvalidParameterValue", fmt.Sprintf("Interface: [%s] is in %s, not in the group's Availability Zones", n.ID, n.AZ))
		}
		if n.Status != "available" {
			return fail("InvalidNetworkInterface.InUse", fmt.Sprintf("Interface: [%s] in use", n.ID))
		}
		i.AZ, i.SubnetID, i.VpcID = n.AZ, n.SubnetID, n.VpcID
	case g.VPCZoneIdentifier != "":
		s := e.w.subnets[strings.Split(g.VPCZoneIdentifier, ",")[0]]
		if s == nil {
			return fail("InvalidSubnetID.NotFound", fmt.Sprintf("The subnet ID '%s' does not exist", g.VPCZoneIdentifier))
		}
		i.AZ, i.SubnetID, i.VpcID = s.AZ, s.ID, s.VpcID
	default:
		i.AZ = g.AZs[0]
	}
	if len(e.w.instances) >= instanceLimit {
		return fail("InstanceLimitExceeded", fmt.Sprintf("You have requested more instances (%d) than your current instance limit of %d allows for the specified instance type", len(e.w.instances)+1, instanceLimit))
	}
	if g.InjectedLaunchFailures > 0 {
		g.InjectedLaunchFailures--
		return fail(g.InjectedLaunchFailureCode, g.InjectedLaunchFailureText)
	}
	if n != nil {
		n.Status, n.InstanceID, n.AttachmentID, n.AttachTime = "in-use", i.ID, e.newID("eni-attach"), now
		i.ENI, i.IP, i.MAC = n.ID, n.IP, n.MAC
	} else if i.SubnetID != "" {
		i.IP = e.nextIP(e.w.subnets[i.SubnetID])
	}
	for _, t := range g.Tags {
		if t.PropagateAtLaunch {
			i.Tags[t.Key] = t.Value
		}
	}
	for _, ts := range data.TagSpecifications {
		if ts.ResourceType == "instance" {
			for _, t := range ts.Tags {
				i.Tags[deref(t.Key)] = deref(t.Value)
			}
		}
	}
	i.Tags["aws:autoscaling:groupName"] = g.Name
	if lt != nil {
		i.Tags["aws:ec2launchtemplate:id"] = lt.ID
		i.Tags["aws:ec2launchtemplate:version"] = strconv.FormatInt(v.Number, 10)
	}
	e.w.instances[i.ID] = i
	e.w.order = append(e.w.order, i.ID)
	g.Instances = append(g.Instances, i.ID)
	i.Lifecycle = Pending
	a := e.addActivity(g.Name, "Launching a new EC2 instance: "+i.ID, cause)
	a.Status, a.Progress = "PreInService", 30
	a.Details = fmt.Sprintf(`{"Subnet ID":%q,"Availability Zone":%q}`, i.SubnetID, i.AZ)
	i.LaunchActivity = a.ID
	e.log.Info("instance launched", "asg_name", g.Name, "instance_id", i.ID, "launch_template_version", i.TemplateVersion)
	id := i.ID
	e.after(e.cfg.Timings.PendingToRunning, func() { e.running(id) })
	return nil
}

func (e *Engine) running(id string) {
	i := e.w.instances[id]
	if i == nil || i.State != ec2Pending {
		return
	}
	i.State = ec2Running
	e.notify(Change{Instance: i.ID, State: ec2Running})
	g := e.w.groups[i.Group]
	if g == nil || i.Lifecycle != Pending {
		return
	}
	info := Instance{ID: i.ID, Group: g.Name, AZ: i.AZ, SubnetID: i.SubnetID, IP: i.IP, ENI: i.ENI,
		UserData: i.UserData, LaunchTemplateID: i.TemplateID, LaunchTemplateVersion: i.TemplateVersion, Booted: e.now()}
	if h, ok := g.hook(HookLaunching); ok {
		info.LaunchHook = h.Name
		wait := func() {
			if i := e.w.instances[id]; i != nil && i.State == ec2Running && i.Lifecycle == Pending {
				i.Lifecycle = PendingWait
				e.startAction(i, h)
				e.activity(g.Name, i.LaunchActivity).Status = "MidLifecycleAction"
			}
		}
		if d := e.cfg.Timings.HookWaitDelay; d > 0 {
			e.after(d, wait)
		} else {
			wait()
		}
	} else {
		e.proceedLaunch(i)
	}
	if boot := e.cfg.Boot; boot != nil {
		e.defer_(func() { boot(e, info) })
	}
}

func (e *Engine) startAction(i *instance, h hook) {
	now := e.now()
	hb := time.Duration(h.Heartbeat) * time.Second
	i.Action = &lifecycleAction{
		Hook: h.Name, Transition: h.Transition, Token: e.newUUID(), DefaultResult: h.DefaultResult,
		Heartbeat: hb, Deadline: now.Add(hb), GlobalDeadline: now.Add(globalTimeout(h.Heartbeat)),
	}
	e.scheduleActionTimeout(i)
}

// globalTimeout is the longest an instance may wait for one hook: the
// smaller of 48 hours and 100 heartbeat timeouts.
func globalTimeout(heartbeat int32) time.Duration {
	return min(48*time.Hour, 100*time.Duration(heartbeat)*time.Second)
}

func (e *Engine) scheduleActionTimeout(i *instance) {
	a := i.Action
	id, token := i.ID, a.Token
	e.after(a.Deadline.Sub(e.now()), func() {
		i := e.w.instances[id]
		if i == nil || i.Action == nil || i.Action.Token != token || e.now().Before(i.Action.Deadline) {
			return // completed, or a heartbeat moved the deadline
		}
		reason := "Heartbeat Timeout"
		if !e.now().Before(i.Action.GlobalDeadline) {
			reason = "Global Timeout"
		}
		e.finishAction(i, i.Action.DefaultResult, reason)
	})
}

// heartbeat restarts the hook's timeout, never past its global timeout.
func (e *Engine) heartbeat(i *instance) {
	a := i.Action
	a.Deadline = e.now().Add(a.Heartbeat)
	if a.Deadline.After(a.GlobalDeadline) {
		a.Deadline = a.GlobalDeadline
	}
	e.scheduleActionTimeout(i)
}

// finishAction ends the instance's wait with result; timeout is "" when a
// caller completed it, else why it ended.
func (e *Engine) finishAction(i *instance, result, timeout string) {
	a := i.Action
	i.Action = nil
	g := e.w.groups[i.Group]
	if a.Transition == HookTerminating {
		e.proceedTermination(i)
		if g != nil && e.cfg.Timings.ReplaceAfterTerminationHook {
			e.scheduleReconcile(g)
		}
		return
	}
	if result == "CONTINUE" {
		e.proceedLaunch(i)
		return
	}
	why := "Lifecycle Action Completed with ABANDON Result"
	if timeout != "" {
		why = timeout
	}
	msg := fmt.Sprintf("Instance failed to complete user's Lifecycle Action: Lifecycle Action with token %s was abandoned: %s", a.Token, why)
	if g != nil {
		act := e.activity(g.Name, i.LaunchActivity)
		act.Description += ".  Status Reason: " + msg
		act.Status, act.StatusMessage, act.Progress, act.End = "Cancelled", msg, 100, e.now()
	}
	e.log.Info("launch abandoned", "asg_name", i.Group, "instance_id", i.ID, "reason", why)
	// An abandoned launch terminates without running termination hooks.
	e.terminateInGroup(i, fmt.Sprintf("At %s an instance was taken out of service in response to a launch lifecycle action being abandoned.", e.now().Format(isoSeconds)), false)
}

func (e *Engine) proceedLaunch(i *instance) {
	i.Lifecycle = PendingProceed
	id := i.ID
	e.after(e.cfg.Timings.ProceedToInService, func() {
		i := e.w.instances[id]
		if i == nil || i.Lifecycle != PendingProceed {
			return
		}
		i.Lifecycle = InService
		i.InServiceAt = e.now()
		if g := e.w.groups[i.Group]; g != nil {
			a := e.activity(g.Name, i.LaunchActivity)
			a.Status, a.Progress, a.End = "Successful", 100, e.now()
		}
		e.log.Info("instance in service", "asg_name", i.Group, "instance_id", i.ID)
		if i.State != ec2Running {
			e.scheduleHealthCheck(e.w.groups[i.Group])
		}
	})
}

// terminateInGroup takes a member out of service. runHooks is false for an
// abandoned launch. The group notices the shortfall and launches a
// replacement while this one terminates.
func (e *Engine) terminateInGroup(i *instance, cause string, runHooks bool) *activity {
	g := e.w.groups[i.Group]
	a := e.addActivity(i.Group, "Terminating EC2 instance: "+i.ID, cause)
	a.Status, a.Progress = "InProgress", 0
	a.Details = fmt.Sprintf(`{"Subnet ID":%q,"Availability Zone":%q}`, i.SubnetID, i.AZ)
	i.TerminateActivity = a.ID
	i.Action = nil
	i.Target = Terminated
	i.Lifecycle = Terminating
	if h, ok := g.hook(HookTerminating); ok && runHooks && i.State == ec2Running {
		i.Lifecycle = TerminatingWait
		e.startAction(i, h) // the node's drain agent completes it, or it times out
	} else {
		e.proceedTermination(i)
	}
	e.scheduleReconcile(g)
	return a
}

func (e *Engine) proceedTermination(i *instance) {
	i.Lifecycle = TerminatingProceed
	if i.State == ec2Pending || i.State == ec2Running || i.State == ec2Stopping || i.State == ec2Stopped {
		e.shutdown(i, "User initiated")
	} else if i.State == ec2Terminated {
		e.leaveGroup(i)
	}
}

// shutdown moves an EC2 instance to shutting-down, then terminated.
func (e *Engine) shutdown(i *instance, reason string) {
	i.State = ec2ShuttingDown
	e.notify(Change{Instance: i.ID, State: ec2ShuttingDown})
	i.StateReason = fmt.Sprintf("%s (%s GMT)", reason, e.now().Format("2006-01-02 15:04:05"))
	id := i.ID
	e.after(e.cfg.Timings.ShutdownDuration, func() { e.terminated(id) })
}

func (e *Engine) terminated(id string) {
	i := e.w.instances[id]
	if i == nil || i.State == ec2Terminated {
		return
	}
	i.State = ec2Terminated
	e.notify(Change{Instance: id, State: ec2Terminated})
	e.log.Info("instance terminated", "instance_id", id)
	if n := e.w.enis[i.ENI]; n != nil && n.InstanceID == id {
		eniID := n.ID
		e.after(e.spread(e.cfg.Timings.ENIReleaseDelay, e.cfg.Timings.ENIReleaseSpread), func() {
			if n := e.w.enis[eniID]; n != nil && n.InstanceID == id {
				n.Status, n.InstanceID, n.AttachmentID, n.AttachTime = "available", "", "", time.Time{}
			}
		})
	}
	for _, v := range e.w.volumes {
		if v.Att != nil && v.Att.InstanceID == id {
			v.Att.State = "detaching"
			volID := v.ID
			e.after(e.cfg.Timings.VolumeReleaseDelay, func() {
				if v := e.w.volumes[volID]; v != nil && v.Att != nil && v.Att.InstanceID == id {
					v.Att, v.State = nil, "available"
					e.notify(Change{Instance: id, Volume: volID, Attachment: "detached"})
				}
			})
		}
	}
	e.after(e.cfg.Timings.TerminatedRetention, func() {
		delete(e.w.instances, id)
		e.w.order = slices.DeleteFunc(e.w.order, func(s string) bool { return s == id })
	})
	if g := e.w.groups[i.Group]; g != nil {
		if i.terminating() {
			e.leaveGroup(i)
		} else {
			// Terminated behind the group's back: its health check notices.
			e.scheduleHealthCheck(g)
		}
	}
}

// leaveGroup removes a terminated instance from its group.
func (e *Engine) leaveGroup(i *instance) {
	g := e.w.groups[i.Group]
	if g == nil {
		return
	}
	i.Lifecycle = Terminated
	g.Instances = slices.DeleteFunc(g.Instances, func(s string) bool { return s == i.ID })
	if a := e.activity(g.Name, i.TerminateActivity); a != nil {
		a.Status, a.Progress, a.End = "Successful", 100, e.now()
	}
	e.scheduleReconcile(g)
}

// scheduleHealthCheck makes the group look at its members at the next
// health-check tick.
func (e *Engine) scheduleHealthCheck(g *group) {
	if g == nil || g.HealthCheckScheduled {
		return
	}
	g.HealthCheckScheduled = true
	every := e.cfg.Timings.HealthCheckInterval
	wait := every - time.Duration(e.now().UnixNano())%every
	name := g.Name
	e.after(wait, func() {
		g := e.w.groups[name]
		if g == nil {
			return
		}
		g.HealthCheckScheduled = false
		for _, id := range slices.Clone(g.Instances) {
			i := e.w.instances[id]
			if i == nil || i.terminating() || i.standby() || i.State == ec2Running || i.State == ec2Pending {
				continue // Standby is never health-checked
			}
			i.Health = "Unhealthy"
			e.terminateInGroup(i, fmt.Sprintf("At %s an instance was taken out of service in response to an EC2 health check indicating it has been terminated or stopped.", e.now().Format(isoSeconds)), true)
		}
	})
}

// lose makes an instance fail as hardware does: EC2 terminates it and the
// group finds out through its health check.
func (e *Engine) lose(id string) {
	i := e.w.instances[id]
	if i == nil || i.State == ec2ShuttingDown || i.State == ec2Terminated {
		return
	}
	e.shutdown(i, "Server.InternalError")
}

// LoseInstance fails an instance at once, as a host failure would; its group
// notices at its next health check and replaces it.
func (e *Engine) LoseInstance(id string) error {
	var err error
	e.Do(func() {
		if e.w.instances[id] == nil {
			err = fmt.Errorf("sim: no instance %s", id)
			return
		}
		e.lose(id)
	})
	return err
}

// FailLaunches makes the next count launches of the group fail with code
// and message (for example InsufficientInstanceCapacity).
func (e *Engine) FailLaunches(groupName string, count int, code, message string) error {
	var err error
	e.Do(func() {
		g := e.w.groups[groupName]
		if g == nil {
			err = fmt.Errorf("sim: no group %s", groupName)
			return
		}
		g.InjectedLaunchFailures, g.InjectedLaunchFailureCode, g.InjectedLaunchFailureText = count, code, message
	})
	return err
}

func (e *Engine) addActivity(groupName, description, cause string) *activity {
	a := &activity{ID: e.newUUID(), Group: groupName, Description: description, Cause: cause, Start: e.now(), Details: "{}"}
	e.w.activities[groupName] = append(e.w.activities[groupName], a)
	return a
}

func (e *Engine) activity(groupName, id string) *activity {
	for _, a := range e.w.activities[groupName] {
		if a.ID == id {
			return a
		}
	}
	return &activity{} // a detached record, so callers need no nil checks
}

func resolveVersion(lt *launchTemplate, spec string) (*templateVersion, *APIError) {
	var n int64
	switch spec {
	case "", "$Default":
		n = lt.DefaultVersion
	case "$Latest":
		n = lt.LatestVersion
	default:
		var err error
		if n, err = strconv.ParseInt(spec, 10, 64); err != nil {
			return nil, apiErr("InvalidLaunchTemplateId.VersionNotFound", "Could not find launch template version %s for launch template %s", spec, lt.ID)
		}
	}
	v := lt.Versions[n]
	if v == nil {
		return nil, apiErr("InvalidLaunchTemplateId.VersionNotFound", "Could not find launch template version %s for launch template %s", spec, lt.ID)
	}
	return v, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func secondsOf(s int32) time.Duration { return time.Duration(s) * time.Second }
