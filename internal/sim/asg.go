package sim

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
)

// AutoScalingAPI is the engine seen through the Auto Scaling API
// (awsapi.AutoScaling).
type AutoScalingAPI struct{ e *Engine }

// AutoScaling returns the engine's Auto Scaling API.
func (e *Engine) AutoScaling() *AutoScalingAPI { return &AutoScalingAPI{e} }

func (e *Engine) groupARN(name string) string {
	return fmt.Sprintf("arn:aws:autoscaling:%s:%s:autoScalingGroup:%s:autoScalingGroupName/%s", e.cfg.Region, e.cfg.Account, e.newUUID(), name)
}

func checkHook(name, transition, result string, heartbeat int32) *APIError {
	if name == "" || len(name) > 255 {
		return validation("1 validation error detected: Value '%s' at 'lifecycleHookName' failed to satisfy constraint: Member must have length between 1 and 255", name)
	}
	if transition != HookLaunching && transition != HookTerminating {
		return validation("Invalid Lifecycle Transition %s", transition)
	}
	if result != "CONTINUE" && result != "ABANDON" {
		return validation("Invalid value '%s' for DefaultResult: allowed values are CONTINUE and ABANDON.", result)
	}
	if heartbeat < 30 || heartbeat > 7200 {
		return validation("Heartbeat timeout %d is out of range: it must be between 30 and 7200 seconds.", heartbeat)
	}
	return nil
}

func (a *AutoScalingAPI) CreateAutoScalingGroup(ctx context.Context, in *autoscaling.CreateAutoScalingGroupInput, _ ...func(*autoscaling.Options)) (*autoscaling.CreateAutoScalingGroupOutput, error) {
	return run(ctx, a.e, ServiceAutoScaling, "CreateAutoScalingGroup", in, func(in *autoscaling.CreateAutoScalingGroupInput) (*autoscaling.CreateAutoScalingGroupOutput, error) {
		e := a.e
		name := deref(in.AutoScalingGroupName)
		if name == "" || len(name) > 255 {
			return nil, validation("1 validation error detected: Value at 'autoScalingGroupName' failed to satisfy constraint: Member must have length between 1 and 255")
		}
		if e.w.groups[name] != nil {
			return nil, apiErr("AlreadyExists", "AutoScalingGroup by this name already exists - A group with the name %s already exists", name)
		}
		src, err := e.launchSource(in.LaunchTemplate, in.LaunchConfigurationName, in.MixedInstancesPolicy, true)
		if err != nil {
			return nil, err
		}
		min, max := deref(in.MinSize), deref(in.MaxSize)
		desired := min
		if in.DesiredCapacity != nil {
			desired = *in.DesiredCapacity
		}
		if min < 0 || min > max || desired < min || desired > max {
			return nil, validation("Desired capacity:%d must be between the specified min size:%d and max size:%d", desired, min, max)
		}
		g := &group{Name: name, ARN: e.groupARN(name), Min: min, Max: max, Desired: desired,
			AZs: slices.Clone(in.AvailabilityZones), VPCZoneIdentifier: deref(in.VPCZoneIdentifier),
			HealthCheckType: deref(in.HealthCheckType), GracePeriod: deref(in.HealthCheckGracePeriod), Created: e.now()}
		g.setSource(src)
		if g.HealthCheckType == "" {
			g.HealthCheckType = "EC2"
		}
		if g.VPCZoneIdentifier != "" {
			g.AZs = nil
			for _, id := range strings.Split(g.VPCZoneIdentifier, ",") {
				s := e.w.subnets[strings.TrimSpace(id)]
				if s == nil {
					return nil, validation("The subnet ID '%s' does not exist", id)
				}
				if !slices.Contains(g.AZs, s.AZ) {
					g.AZs = append(g.AZs, s.AZ)
				}
			}
		}
		if len(g.AZs) == 0 {
			return nil, validation("At least one Availability Zone or VPC Subnet is required.")
		}
		for _, h := range in.LifecycleHookSpecificationList {
			hk := hook{Name: deref(h.LifecycleHookName), Transition: deref(h.LifecycleTransition), DefaultResult: deref(h.DefaultResult),
				Heartbeat: deref(h.HeartbeatTimeout), Metadata: deref(h.NotificationMetadata)}
			if hk.DefaultResult == "" {
				hk.DefaultResult = "ABANDON"
			}
			if h.HeartbeatTimeout == nil {
				hk.Heartbeat = 3600
			}
			if err := checkHook(hk.Name, hk.Transition, hk.DefaultResult, hk.Heartbeat); err != nil {
				return nil, err
			}
			g.Hooks = append(g.Hooks, hk)
		}
		for _, t := range in.Tags {
			g.Tags = append(g.Tags, groupTag{Key: deref(t.Key), Value: deref(t.Value), PropagateAtLaunch: deref(t.PropagateAtLaunch)})
		}
		e.w.groups[name] = g
		e.scheduleReconcile(g)
		return &autoscaling.CreateAutoScalingGroupOutput{}, nil
	})
}

func (e *Engine) group(name string) (*group, *APIError) {
	if g := e.w.groups[name]; g != nil {
		return g, nil
	}
	return nil, validation("AutoScalingGroup name not found - AutoScalingGroup '%s' not found", name)
}

func (a *AutoScalingAPI) UpdateAutoScalingGroup(ctx context.Context, in *autoscaling.UpdateAutoScalingGroupInput, _ ...func(*autoscaling.Options)) (*autoscaling.UpdateAutoScalingGroupOutput, error) {
	return run(ctx, a.e, ServiceAutoScaling, "UpdateAutoScalingGroup", in, func(in *autoscaling.UpdateAutoScalingGroupInput) (*autoscaling.UpdateAutoScalingGroupOutput, error) {
		e := a.e
		g, err := e.group(deref(in.AutoScalingGroupName))
		if err != nil {
			return nil, err
		}
		src, serr := e.launchSource(in.LaunchTemplate, in.LaunchConfigurationName, in.MixedInstancesPolicy, false)
		if serr != nil {
			return nil, serr
		}
		min, max, desired := g.Min, g.Max, g.Desired
		if in.MinSize != nil {
			min = *in.MinSize
		}
		if in.MaxSize != nil {
			max = *in.MaxSize
		}
		if in.DesiredCapacity != nil {
			desired = *in.DesiredCapacity
		} else {
			desired = clamp(desired, min, max)
		}
		if min < 0 || min > max || desired < min || desired > max {
			return nil, validation("Desired capacity:%d must be between the specified min size:%d and max size:%d", desired, min, max)
		}
		if src != nil {
			g.setSource(src)
		}
		g.Min, g.Max, g.Desired = min, max, desired
		if in.HealthCheckType != nil {
			g.HealthCheckType = *in.HealthCheckType
		}
		if in.HealthCheckGracePeriod != nil {
			g.GracePeriod = *in.HealthCheckGracePeriod
		}
		if len(in.AvailabilityZones) > 0 {
			g.AZs = slices.Clone(in.AvailabilityZones)
		}
		e.scheduleReconcile(g)
		return &autoscaling.UpdateAutoScalingGroupOutput{}, nil
	})
}

func clamp(v, lo, hi int32) int32 { return max(lo, min(v, hi)) }

func (e *Engine) groupOut(w *world, g *group) astypes.AutoScalingGroup {
	out := astypes.AutoScalingGroup{AutoScalingGroupName: aws.String(g.Name), AutoScalingGroupARN: aws.String(g.ARN),
		MinSize: aws.Int32(g.Min), MaxSize: aws.Int32(g.Max), DesiredCapacity: aws.Int32(g.Desired), DefaultCooldown: aws.Int32(300),
		AvailabilityZones: slices.Clone(g.AZs), HealthCheckType: aws.String(g.HealthCheckType), HealthCheckGracePeriod: aws.Int32(g.GracePeriod),
		CreatedTime: aws.Time(g.Created), TerminationPolicies: []string{"Default"}, NewInstancesProtectedFromScaleIn: aws.Bool(false),
		ServiceLinkedRoleARN: aws.String("arn:aws:iam::" + e.cfg.Account + ":role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"),
		Instances:            []astypes.Instance{}, Tags: []astypes.TagDescription{}, SuspendedProcesses: g.suspendedOut()}
	g.sourceOut(&out)
	if g.VPCZoneIdentifier != "" {
		out.VPCZoneIdentifier = aws.String(g.VPCZoneIdentifier)
	}
	for _, id := range g.Instances {
		if i := w.instances[id]; i != nil {
			lt, lc := instanceSource(i)
			out.Instances = append(out.Instances, astypes.Instance{InstanceId: aws.String(i.ID), InstanceType: aws.String(i.Type),
				AvailabilityZone: aws.String(i.AZ), LifecycleState: astypes.LifecycleState(i.Lifecycle), HealthStatus: aws.String(i.Health),
				ProtectedFromScaleIn: aws.Bool(false), LaunchTemplate: lt, LaunchConfigurationName: lc})
		}
	}
	for _, t := range g.Tags {
		out.Tags = append(out.Tags, astypes.TagDescription{Key: aws.String(t.Key), Value: aws.String(t.Value), PropagateAtLaunch: aws.Bool(t.PropagateAtLaunch),
			ResourceId: aws.String(g.Name), ResourceType: aws.String("auto-scaling-group")})
	}
	return out
}

func (a *AutoScalingAPI) DescribeAutoScalingGroups(ctx context.Context, in *autoscaling.DescribeAutoScalingGroupsInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error) {
	return run(ctx, a.e, ServiceAutoScaling, "DescribeAutoScalingGroups", in, func(in *autoscaling.DescribeAutoScalingGroupsInput) (*autoscaling.DescribeAutoScalingGroupsOutput, error) {
		e := a.e
		w := e.readWorld()
		if len(in.AutoScalingGroupNames) > 50 {
			return nil, validation("The number of group names that may be passed in is limited to 50.")
		}
		size, err := maxRecords(in.MaxRecords, 50, 100)
		if err != nil {
			return nil, err
		}
		var fs filterSet
		for _, f := range in.Filters {
			fs = append(fs, struct {
				name   string
				values []string
			}{deref(f.Name), f.Values})
		}
		// Page the matching groups first and build only the page's answer.
		var matched []*group
		for _, name := range sortedKeys(w.groups) {
			g := w.groups[name]
			if len(in.AutoScalingGroupNames) > 0 && !slices.Contains(in.AutoScalingGroupNames, name) {
				continue
			}
			t := tags{}
			for _, tg := range g.Tags {
				t[tg.Key] = tg.Value
			}
			ok, ferr := fs.match(func(n string) ([]string, bool) { return tagFilter(n, t) })
			if ferr != nil {
				return nil, validation("Filter name %s is not valid: use tag-key, tag-value or tag:<key>.", ferr.Message)
			}
			if ok {
				matched = append(matched, g)
			}
		}
		items, next, perr := page(matched, in.NextToken, size)
		if perr != nil {
			return nil, perr
		}
		out := make([]astypes.AutoScalingGroup, len(items))
		for i, g := range items {
			out[i] = e.groupOut(w, g)
		}
		return &autoscaling.DescribeAutoScalingGroupsOutput{AutoScalingGroups: out, NextToken: next}, nil
	})
}

func maxRecords(p *int32, def, hi int) (int, *APIError) {
	if p == nil {
		return def, nil
	}
	if *p < 1 || int(*p) > hi {
		return 0, validation("MaxRecords must be between 1 and %d.", hi)
	}
	return int(*p), nil
}

func (a *AutoScalingAPI) DescribeAutoScalingInstances(ctx context.Context, in *autoscaling.DescribeAutoScalingInstancesInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingInstancesOutput, error) {
	return run(ctx, a.e, ServiceAutoScaling, "DescribeAutoScalingInstances", in, func(in *autoscaling.DescribeAutoScalingInstancesInput) (*autoscaling.DescribeAutoScalingInstancesOutput, error) {
		e := a.e
		w := e.readWorld()
		if len(in.InstanceIds) > 50 {
			return nil, validation("The number of instance ids that may be passed in is limited to 50.")
		}
		size, err := maxRecords(in.MaxRecords, 50, 50)
		if err != nil {
			return nil, err
		}
		var out []astypes.AutoScalingInstanceDetails
		for _, id := range w.order {
			i := w.instances[id]
			g := w.groups[i.Group]
			if g == nil || !slices.Contains(g.Instances, id) {
				continue // unknown or not a member: silently left out
			}
			if len(in.InstanceIds) > 0 && !slices.Contains(in.InstanceIds, id) {
				continue
			}
			lt, lc := instanceSource(i)
			out = append(out, astypes.AutoScalingInstanceDetails{AutoScalingGroupName: aws.String(g.Name), InstanceId: aws.String(i.ID),
				InstanceType: aws.String(i.Type), AvailabilityZone: aws.String(i.AZ), LifecycleState: aws.String(i.Lifecycle),
				HealthStatus: aws.String(strings.ToUpper(i.Health)), ProtectedFromScaleIn: aws.Bool(false),
				LaunchTemplate: lt, LaunchConfigurationName: lc})
		}
		items, next, perr := page(out, in.NextToken, size)
		if perr != nil {
			return nil, perr
		}
		return &autoscaling.DescribeAutoScalingInstancesOutput{AutoScalingInstances: items, NextToken: next}, nil
	})
}

func (a *AutoScalingAPI) DescribeScalingActivities(ctx context.Context, in *autoscaling.DescribeScalingActivitiesInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribeScalingActivitiesOutput, error) {
	return run(ctx, a.e, ServiceAutoScaling, "DescribeScalingActivities", in, func(in *autoscaling.DescribeScalingActivitiesInput) (*autoscaling.DescribeScalingActivitiesOutput, error) {
		e := a.e
		w := e.readWorld()
		size, err := maxRecords(in.MaxRecords, 100, 100)
		if err != nil {
			return nil, err
		}
		var all []*activity
		for _, name := range sortedKeys(w.activities) {
			if in.AutoScalingGroupName == nil || *in.AutoScalingGroupName == name {
				all = append(all, w.activities[name]...)
			}
		}
		slices.SortStableFunc(all, func(x, y *activity) int { return y.Start.Compare(x.Start) }) // newest first
		var out []astypes.Activity
		for _, act := range all {
			if len(in.ActivityIds) > 0 && !slices.Contains(in.ActivityIds, act.ID) {
				continue
			}
			g := w.groups[act.Group]
			o := astypes.Activity{ActivityId: aws.String(act.ID), AutoScalingGroupName: aws.String(act.Group), Description: aws.String(act.Description),
				Cause: aws.String(act.Cause), StartTime: aws.Time(act.Start), StatusCode: astypes.ScalingActivityStatusCode(act.Status),
				Progress: aws.Int32(act.Progress), Details: aws.String(act.Details)}
			if act.StatusMessage != "" {
				o.StatusMessage = aws.String(act.StatusMessage)
			}
			if !act.End.IsZero() {
				o.EndTime = aws.Time(act.End)
			}
			if g != nil {
				o.AutoScalingGroupARN = aws.String(g.ARN)
			}
			out = append(out, o)
		}
		items, next, perr := page(out, in.NextToken, size)
		if perr != nil {
			return nil, perr
		}
		return &autoscaling.DescribeScalingActivitiesOutput{Activities: items, NextToken: next}, nil
	})
}

func (a *AutoScalingAPI) DescribeLifecycleHooks(ctx context.Context, in *autoscaling.DescribeLifecycleHooksInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribeLifecycleHooksOutput, error) {
	return run(ctx, a.e, ServiceAutoScaling, "DescribeLifecycleHooks", in, func(in *autoscaling.DescribeLifecycleHooksInput) (*autoscaling.DescribeLifecycleHooksOutput, error) {
		e := a.e
		g := e.readWorld().groups[deref(in.AutoScalingGroupName)]
		if g == nil {
			return nil, validation("AutoScalingGroup name not found - AutoScalingGroup '%s' not found", deref(in.AutoScalingGroupName))
		}
		out := &autoscaling.DescribeLifecycleHooksOutput{LifecycleHooks: []astypes.LifecycleHook{}}
		for _, h := range g.Hooks {
			if len(in.LifecycleHookNames) > 0 && !slices.Contains(in.LifecycleHookNames, h.Name) {
				continue
			}
			lh := astypes.LifecycleHook{AutoScalingGroupName: aws.String(g.Name), LifecycleHookName: aws.String(h.Name),
				LifecycleTransition: aws.String(h.Transition), DefaultResult: aws.String(h.DefaultResult),
				HeartbeatTimeout: aws.Int32(h.Heartbeat), GlobalTimeout: aws.Int32(int32(globalTimeout(h.Heartbeat).Seconds()))}
			if h.Metadata != "" {
				lh.NotificationMetadata = aws.String(h.Metadata)
			}
			out.LifecycleHooks = append(out.LifecycleHooks, lh)
		}
		return out, nil
	})
}

func (a *AutoScalingAPI) PutLifecycleHook(ctx context.Context, in *autoscaling.PutLifecycleHookInput, _ ...func(*autoscaling.Options)) (*autoscaling.PutLifecycleHookOutput, error) {
	return run(ctx, a.e, ServiceAutoScaling, "PutLifecycleHook", in, func(in *autoscaling.PutLifecycleHookInput) (*autoscaling.PutLifecycleHookOutput, error) {
		e := a.e
		g, err := e.group(deref(in.AutoScalingGroupName))
		if err != nil {
			return nil, err
		}
		name := deref(in.LifecycleHookName)
		idx := slices.IndexFunc(g.Hooks, func(h hook) bool { return h.Name == name })
		h := hook{Name: name, DefaultResult: "ABANDON", Heartbeat: 3600}
		if idx >= 0 {
			h = g.Hooks[idx]
		} else if in.LifecycleTransition == nil {
			return nil, validation("Lifecycle transition is required when creating a lifecycle hook.")
		} else if len(g.Hooks) >= 50 {
			return nil, apiErr("LimitExceeded", "Lifecycle hook limit (50) reached for group %s.", g.Name)
		}
		if in.LifecycleTransition != nil {
			h.Transition = *in.LifecycleTransition
		}
		if in.DefaultResult != nil {
			h.DefaultResult = *in.DefaultResult
		}
		if in.HeartbeatTimeout != nil {
			h.Heartbeat = *in.HeartbeatTimeout
		}
		if in.NotificationMetadata != nil {
			h.Metadata = *in.NotificationMetadata
		}
		if err := checkHook(h.Name, h.Transition, h.DefaultResult, h.Heartbeat); err != nil {
			return nil, err
		}
		if idx >= 0 {
			g.Hooks[idx] = h
		} else {
			g.Hooks = append(g.Hooks, h)
		}
		return &autoscaling.PutLifecycleHookOutput{}, nil
	})
}

// findAction finds the instance whose wait the call names, by instance ID
// or token, with AWS's error when there is none.
func (e *Engine) findAction(groupName, hookName, instanceID, token string) (*instance, *APIError) {
	if _, err := e.group(groupName); err != nil {
		return nil, err
	}
	for _, id := range e.w.groups[groupName].Instances {
		i := e.w.instances[id]
		if i == nil || i.Action == nil || i.Action.Hook != hookName {
			continue
		}
		if (instanceID != "" && i.ID == instanceID) || (instanceID == "" && token != "" && i.Action.Token == token) {
			return i, nil
		}
	}
	if instanceID != "" {
		return nil, validation("No active Lifecycle Action found with instance ID %s", instanceID)
	}
	if token != "" {
		return nil, validation("No active Lifecycle Action found with token %s", token)
	}
	return nil, validation("Either InstanceId or LifecycleActionToken must be specified.")
}

func (a *AutoScalingAPI) CompleteLifecycleAction(ctx context.Context, in *autoscaling.CompleteLifecycleActionInput, _ ...func(*autoscaling.Options)) (*autoscaling.CompleteLifecycleActionOutput, error) {
	return run(ctx, a.e, ServiceAutoScaling, "CompleteLifecycleAction", in, func(in *autoscaling.CompleteLifecycleActionInput) (*autoscaling.CompleteLifecycleActionOutput, error) {
		e := a.e
		result := deref(in.LifecycleActionResult)
		if result != "CONTINUE" && result != "ABANDON" {
			return nil, validation("Invalid value '%s' for LifecycleActionResult: allowed values are CONTINUE and ABANDON.", result)
		}
		i, err := e.findAction(deref(in.AutoScalingGroupName), deref(in.LifecycleHookName), deref(in.InstanceId), deref(in.LifecycleActionToken))
		if err != nil {
			return nil, err
		}
		e.finishAction(i, result, "")
		return &autoscaling.CompleteLifecycleActionOutput{}, nil
	})
}

func (a *AutoScalingAPI) RecordLifecycleActionHeartbeat(ctx context.Context, in *autoscaling.RecordLifecycleActionHeartbeatInput, _ ...func(*autoscaling.Options)) (*autoscaling.RecordLifecycleActionHeartbeatOutput, error) {
	return run(ctx, a.e, ServiceAutoScaling, "RecordLifecycleActionHeartbeat", in, func(in *autoscaling.RecordLifecycleActionHeartbeatInput) (*autoscaling.RecordLifecycleActionHeartbeatOutput, error) {
		e := a.e
		i, err := e.findAction(deref(in.AutoScalingGroupName), deref(in.LifecycleHookName), deref(in.InstanceId), deref(in.LifecycleActionToken))
		if err != nil {
			return nil, err
		}
		e.heartbeat(i)
		return &autoscaling.RecordLifecycleActionHeartbeatOutput{}, nil
	})
}

func (a *AutoScalingAPI) TerminateInstanceInAutoScalingGroup(ctx context.Context, in *autoscaling.TerminateInstanceInAutoScalingGroupInput, _ ...func(*autoscaling.Options)) (*autoscaling.TerminateInstanceInAutoScalingGroupOutput, error) {
	return run(ctx, a.e, ServiceAutoScaling, "TerminateInstanceInAutoScalingGroup", in, func(in *autoscaling.TerminateInstanceInAutoScalingGroupInput) (*autoscaling.TerminateInstanceInAutoScalingGroupOutput, error) {
		e := a.e
		id := deref(in.InstanceId)
		if in.ShouldDecrementDesiredCapacity == nil {
			return nil, validation("1 validation error detected: Value null at 'shouldDecrementDesiredCapacity' failed to satisfy constraint: Member must not be null")
		}
		i := e.w.instances[id]
		var g *group
		if i != nil {
			g = e.w.groups[i.Group]
		}
		if g == nil || !slices.Contains(g.Instances, id) {
			return nil, validation("Instance Id not found - No managed instance found for instance ID %s", id)
		}
		var act *activity
		if i.terminating() {
			// Documented choice (AWS does not say): terminating an instance
			// that is already terminating changes nothing and returns the
			// activity already under way.
			act = e.activity(g.Name, i.TerminateActivity)
		} else {
			cause := fmt.Sprintf("At %s instance %s was taken out of service in response to a user request.", e.now().Format(isoSeconds), id)
			if *in.ShouldDecrementDesiredCapacity {
				if g.Desired-1 < g.Min {
					return nil, validation("Currently, desired capacity is %d and min size is %d. Terminating instance without replacement will violate group's min size constraint. Either set shouldDecrementDesiredCapacity flag to false or lower group's min size.", g.Desired, g.Min)
				}
				cause = strings.TrimSuffix(cause, ".") + fmt.Sprintf(", shrinking the capacity from %d to %d.", g.Desired, g.Desired-1)
				g.Desired--
			}
			act = e.terminateInGroup(i, cause, true)
		}
		return &autoscaling.TerminateInstanceInAutoScalingGroupOutput{Activity: &astypes.Activity{ActivityId: aws.String(act.ID),
			AutoScalingGroupName: aws.String(g.Name), AutoScalingGroupARN: aws.String(g.ARN), Description: aws.String(act.Description),
			Cause: aws.String(act.Cause), StartTime: aws.Time(act.Start), StatusCode: astypes.ScalingActivityStatusCode(act.Status),
			Progress: aws.Int32(act.Progress), Details: aws.String(act.Details)}}, nil
	})
}

func (a *AutoScalingAPI) SetInstanceHealth(ctx context.Context, in *autoscaling.SetInstanceHealthInput, _ ...func(*autoscaling.Options)) (*autoscaling.SetInstanceHealthOutput, error) {
	return run(ctx, a.e, ServiceAutoScaling, "SetInstanceHealth", in, func(in *autoscaling.SetInstanceHealthInput) (*autoscaling.SetInstanceHealthOutput, error) {
		e := a.e
		id, status := deref(in.InstanceId), deref(in.HealthStatus)
		if status != "Healthy" && status != "Unhealthy" {
			return nil, validation("Invalid value '%s' for HealthStatus: allowed values are Healthy and Unhealthy.", status)
		}
		i := e.w.instances[id]
		if i == nil || e.w.groups[i.Group] == nil || i.terminating() {
			return nil, validation("Instance Id not found - No managed instance found for instance ID %s", id)
		}
		g := e.w.groups[i.Group]
		respect := in.ShouldRespectGracePeriod == nil || *in.ShouldRespectGracePeriod
		if status == "Unhealthy" && respect && i.Lifecycle == InService &&
			e.now().Before(i.InServiceAt.Add(secondsOf(g.GracePeriod))) {
			return &autoscaling.SetInstanceHealthOutput{}, nil // within the grace period: ignored
		}
		i.Health = status
		if status == "Unhealthy" && (i.Lifecycle == InService || i.Lifecycle == PendingProceed) {
			e.terminateInGroup(i, fmt.Sprintf("At %s an instance was taken out of service in response to a user health-check.", e.now().Format(isoSeconds)), true)
		}
		return &autoscaling.SetInstanceHealthOutput{}, nil
	})
}
