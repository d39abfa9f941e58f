// Package inventory reads a cluster's state from AWS: its groups, their
// members, the launch-template versions they should run, the nodes' ENIs,
// volumes and recent scaling activities, in few batched calls.
package inventory

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/cluster"
	"github.com/stateful-aws/stateful/internal/diagnosis"
)

// Selector picks the cluster: by the module's cluster tag, or by group
// names (the original module's style). Groups named alone resolve to their
// cluster (Resolve): every command sees, counts and protects the whole
// cluster, and acts only on the named groups' nodes (Snapshot.Named).
type Selector struct {
	Cluster string
	Groups  []string
}

func (s Selector) String() string {
	switch {
	case s.Cluster != "" && len(s.Groups) > 0:
		return "groups " + strings.Join(s.Groups, ", ") + " of cluster " + s.Cluster
	case s.Cluster != "":
		return "cluster " + s.Cluster
	}
	return "groups " + strings.Join(s.Groups, ", ")
}

// Validate checks that exactly one way of selecting is used.
func (s Selector) Validate() error {
	if (s.Cluster == "") == (len(s.Groups) == 0) {
		return fmt.Errorf("name the cluster with --cluster NAME or its groups with --asg NAME (one of the two)")
	}
	return nil
}

// Depth says how much to read.
type Depth int

const (
	// Groups reads only the groups and their members: one paged call.
	Groups Depth = iota
	// Full also resolves launch-template versions and reads ENIs, volumes
	// and scaling activities.
	Full
)

// maxActivityLookups bounds the per-group activity calls of a Full read:
// only nodes that are not current get one.
const maxActivityLookups = 5

// Config holds the collaborators.
type Config struct {
	AutoScaling awsapi.AutoScaling
	EC2         awsapi.EC2
	Clock       clock.Clock
	Limiter     *awsapi.Limiter // nil: no spacing
}

// Inventory reads clusters.
type Inventory struct{ cfg Config }

// New checks cfg.
func New(cfg Config) (*Inventory, error) {
	if cfg.AutoScaling == nil || cfg.EC2 == nil || cfg.Clock == nil {
		return nil, fmt.Errorf("inventory: AutoScaling, EC2 and Clock are required")
	}
	return &Inventory{cfg: cfg}, nil
}

func (v *Inventory) wait(ctx context.Context) error { return v.cfg.Limiter.Wait(ctx) }

// Resolve turns groups named alone into their cluster: the selector comes
// back with Cluster set (from the groups' cluster tag) and Groups kept as
// the named part. Groups that carry no cluster tag, or the tags of two
// clusters, are refused, naming them: acting on them would count only the
// named groups and miss the rest of the cluster. A selector with Cluster
// set comes back as it is.
func (v *Inventory) Resolve(ctx context.Context, sel Selector) (Selector, error) {
	if sel.Cluster != "" || len(sel.Groups) == 0 {
		return sel, nil
	}
	groups, err := v.describeGroups(ctx, sel)
	if err != nil {
		return Selector{}, err
	}
	names := map[string][]string{}
	var untagged []string
	for _, g := range groups {
		name := groupTag(g, cluster.TagCluster)
		if name == "" {
			untagged = append(untagged, aws.ToString(g.AutoScalingGroupName))
			continue
		}
		names[name] = append(names[name], aws.ToString(g.AutoScalingGroupName))
	}
	if len(untagged) > 0 {
		return Selector{}, &UnresolvedError{Groups: untagged}
	}
	if len(names) > 1 {
		var parts []string
		for _, name := range slices.Sorted(maps.Keys(names)) {
			parts = append(parts, fmt.Sprintf("%s (cluster %s)", strings.Join(names[name], ", "), name))
		}
		return Selector{}, fmt.Errorf("the groups named belong to %d clusters: %s; name the groups of one cluster, or the cluster with --cluster", len(names), strings.Join(parts, "; "))
	}
	for name := range names {
		sel.Cluster = name
	}
	return sel, nil
}

// UnresolvedError refuses groups whose cluster cannot be seen.
type UnresolvedError struct{ Groups []string }

func (e *UnresolvedError) Error() string {
	return fmt.Sprintf("group(s) %s carry no %s tag, so the rest of their cluster cannot be seen or counted; nothing was changed: apply the module (it tags every group) or name the cluster with --cluster",
		strings.Join(e.Groups, ", "), cluster.TagCluster)
}

// Observe reads the whole cluster (groups named alone are resolved to
// theirs first, see Resolve) joined with EC2's view of every instance and
// volume: the one view every decision is made on. A Groups read skips
// what never changes or changes only through the module (targets, while
// the group's version spec is unchanged; the ENI's id and IP) and keeps it
// from prev. Every fact carries when it was read on the runner's clock.
func (v *Inventory) Observe(ctx context.Context, sel Selector, depth Depth, prev *cluster.Snapshot) (cluster.Snapshot, error) {
	sel, err := v.Resolve(ctx, sel)
	if err != nil {
		return cluster.Snapshot{}, err
	}
	now := v.cfg.Clock.Now()
	groups, err := v.describeGroups(ctx, sel)
	if err != nil {
		return cluster.Snapshot{}, err
	}
	snap := cluster.Snapshot{At: now}
	for _, g := range groups {
		n := nodeOf(g)
		n.Seen = now
		snap.Nodes = append(snap.Nodes, n)
		if slices.Contains(sel.Groups, n.Group) {
			snap.Named = append(snap.Named, n.ID)
		}
	}
	cluster.SortNodes(snap.Nodes)
	if depth == Groups && prev != nil {
		for i := range snap.Nodes {
			n := &snap.Nodes[i]
			if p, ok := prev.Node(n.ID); ok {
				carry(n, p)
			}
		}
	}
	if depth == Full {
		if err := v.resolveTargets(ctx, sel, snap.Nodes); err != nil {
			return cluster.Snapshot{}, err
		}
		if err := v.readENIs(ctx, sel.Cluster, snap.Nodes); err != nil {
			return cluster.Snapshot{}, err
		}
		if err := v.readActivities(ctx, snap.Nodes); err != nil {
			return cluster.Snapshot{}, err
		}
	}
	if err := v.readVolumes(ctx, sel.Cluster, nil, snap.Nodes); err != nil {
		return cluster.Snapshot{}, err
	}
	if err := v.EC2States(ctx, sel, snap.Nodes); err != nil {
		return cluster.Snapshot{}, err
	}
	return snap, nil
}

// carry keeps from p what a group read does not see: the target while
// the group's version spec is unchanged, and the node's ENI (id, IP, and
// its last status with the time it was read).
func carry(n *cluster.Node, p cluster.Node) {
	if p.VersionSpec == n.VersionSpec && n.Target == 0 {
		n.Target = p.Target
	}
	n.IP, n.ENI, n.ENIStatus, n.ENISeen = p.IP, p.ENI, p.ENIStatus, p.ENISeen
	if n.Volume.ID == "" {
		n.Volume.ID = p.Volume.ID
	}
}

func groupTag(g astypes.AutoScalingGroup, key string) string {
	for _, t := range g.Tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

// ObserveGroups reads only the named groups (50 a call), joined with EC2's
// view of their instances and volumes, and returns prev with those nodes
// replaced: how the roll watches the nodes it is replacing without paging
// through a large cluster. The other nodes keep their read times, so the
// view's age (Snapshot.ReadAt) stays that of its oldest fact.
func (v *Inventory) ObserveGroups(ctx context.Context, names []string, prev cluster.Snapshot) (cluster.Snapshot, error) {
	now := v.cfg.Clock.Now()
	groups, err := v.describeGroups(ctx, Selector{Groups: names})
	if err != nil {
		return cluster.Snapshot{}, err
	}
	fresh := map[string]cluster.Node{}
	for _, g := range groups {
		n := nodeOf(g)
		n.Seen = now
		fresh[n.Group] = n
	}
	out := cluster.Snapshot{At: prev.At, Named: prev.Named, Nodes: make([]cluster.Node, len(prev.Nodes))}
	var read []cluster.Node
	for i, p := range prev.Nodes {
		n, ok := fresh[p.Group]
		if !ok {
			out.Nodes[i] = p
			continue
		}
		carry(&n, p)
		out.Nodes[i] = n
		read = append(read, n)
	}
	var vols []string
	for _, n := range read {
		if n.Volume.ID != "" {
			vols = append(vols, n.Volume.ID)
		}
	}
	if err := v.readVolumes(ctx, "", vols, read); err != nil {
		return cluster.Snapshot{}, err
	}
	if err := v.EC2States(ctx, Selector{}, read); err != nil {
		return cluster.Snapshot{}, err
	}
	for _, n := range read {
		for i := range out.Nodes {
			if out.Nodes[i].Group == n.Group {
				out.Nodes[i] = n
			}
		}
	}
	return out, nil
}

// ENIStatus reads the status (available, in-use, ...) of the given ENIs,
// 200 IDs a call. SetENIStatus puts the answer into a view.
func (v *Inventory) ENIStatus(ctx context.Context, ids []string) (map[string]string, error) {
	out := map[string]string{}
	for start := 0; start < len(ids); start += 200 {
		if err := v.wait(ctx); err != nil {
			return nil, err
		}
		batch := ids[start:min(start+200, len(ids))]
		res, err := v.cfg.EC2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: batch})
		if err != nil {
			return nil, fmt.Errorf("describing ENIs %s: %w", strings.Join(batch, ", "), err)
		}
		for _, e := range res.NetworkInterfaces {
			out[aws.ToString(e.NetworkInterfaceId)] = string(e.Status)
		}
	}
	return out, nil
}

// describeGroups is the one batched, paged read of every group.
func (v *Inventory) describeGroups(ctx context.Context, sel Selector) ([]astypes.AutoScalingGroup, error) {
	var batches []*autoscaling.DescribeAutoScalingGroupsInput
	if sel.Cluster != "" {
		batches = append(batches, &autoscaling.DescribeAutoScalingGroupsInput{MaxRecords: aws.Int32(100),
			Filters: []astypes.Filter{{Name: aws.String("tag:" + cluster.TagCluster), Values: []string{sel.Cluster}}}})
	}
	for start := 0; sel.Cluster == "" && start < len(sel.Groups); start += 50 {
		batches = append(batches, &autoscaling.DescribeAutoScalingGroupsInput{MaxRecords: aws.Int32(100),
			AutoScalingGroupNames: sel.Groups[start:min(start+50, len(sel.Groups))]})
	}
	var out []astypes.AutoScalingGroup
	for _, in := range batches {
		for {
			if err := v.wait(ctx); err != nil {
				return nil, err
			}
			page, err := v.cfg.AutoScaling.DescribeAutoScalingGroups(ctx, in)
			if err != nil {
				return nil, fmt.Errorf("describing the groups of %s: %w", sel, err)
			}
			out = append(out, page.AutoScalingGroups...)
			if page.NextToken == nil {
				break
			}
			in.NextToken = page.NextToken
		}
	}
	if len(sel.Groups) > 0 {
		found := map[string]bool{}
		for _, g := range out {
			found[aws.ToString(g.AutoScalingGroupName)] = true
		}
		var missing []string
		for _, n := range sel.Groups {
			if !found[n] {
				missing = append(missing, n)
			}
		}
		if len(missing) > 0 {
			what := "Auto Scaling group named " + strings.Join(missing, ", ")
			if sel.Cluster != "" {
				what += " in cluster " + sel.Cluster + " (its " + cluster.TagCluster + " tag changed)"
			}
			return nil, &NotFoundError{What: what, Names: missing}
		}
	}
	if len(out) == 0 {
		return nil, &NotFoundError{What: "Auto Scaling group tagged " + cluster.TagCluster + "=" + sel.Cluster}
	}
	return out, nil
}

// NotFoundError means the selector matched nothing (or not all it named).
type NotFoundError struct {
	What  string
	Names []string // the group names not found, for a selection by name
}

func (e *NotFoundError) Error() string { return "there is no " + e.What }

func nodeOf(g astypes.AutoScalingGroup) cluster.Node {
	n := cluster.Node{Group: aws.ToString(g.AutoScalingGroupName), Desired: aws.ToInt32(g.DesiredCapacity),
		MinSize: aws.ToInt32(g.MinSize), MaxSize: aws.ToInt32(g.MaxSize)}
	if len(g.AvailabilityZones) > 0 {
		n.AZ = g.AvailabilityZones[0]
	}
	for _, p := range g.SuspendedProcesses {
		if aws.ToString(p.ProcessName) == "Launch" {
			n.LaunchSuspended = true
		}
	}
	n.ID = n.Group
	for _, t := range g.Tags {
		if aws.ToString(t.Key) == cluster.TagNodeID {
			n.ID = aws.ToString(t.Value)
		}
	}
	switch {
	case aws.ToString(g.LaunchConfigurationName) != "":
		n.Unsupported = "uses the launch configuration " + aws.ToString(g.LaunchConfigurationName) + ", not a launch template"
	case g.MixedInstancesPolicy != nil:
		n.Unsupported = "has a mixed instances policy, whose instances' template versions a roll cannot compare"
	}
	if lt := g.LaunchTemplate; lt != nil {
		n.LaunchTemplateID, n.LaunchTemplateName, n.VersionSpec = aws.ToString(lt.LaunchTemplateId), aws.ToString(lt.LaunchTemplateName), aws.ToString(lt.Version)
		if n.VersionSpec == "" {
			n.VersionSpec = "$Default"
		}
		n.Target, _ = strconv.ParseInt(n.VersionSpec, 10, 64)
	}
	for _, i := range g.Instances {
		in := cluster.Instance{ID: aws.ToString(i.InstanceId), Lifecycle: string(i.LifecycleState), Health: aws.ToString(i.HealthStatus)}
		if i.LaunchTemplate != nil {
			in.Version, _ = strconv.ParseInt(aws.ToString(i.LaunchTemplate.Version), 10, 64)
		}
		n.Instances = append(n.Instances, in)
	}
	return n
}

// resolveTargets turns $Latest and $Default into numbers with
// DescribeLaunchTemplates: by the cluster tag (paged, 200 a call) or by ID.
func (v *Inventory) resolveTargets(ctx context.Context, sel Selector, nodes []cluster.Node) error {
	var ids []string
	for _, n := range nodes {
		if n.Target == 0 && n.LaunchTemplateID != "" {
			ids = append(ids, n.LaunchTemplateID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	templates := map[string]ec2types.LaunchTemplate{}
	var batches []*ec2.DescribeLaunchTemplatesInput
	if sel.Cluster != "" {
		batches = append(batches, &ec2.DescribeLaunchTemplatesInput{MaxResults: aws.Int32(200),
			Filters: []ec2types.Filter{{Name: aws.String("tag:" + cluster.TagCluster), Values: []string{sel.Cluster}}}})
	} else {
		for start := 0; start < len(ids); start += 200 {
			batches = append(batches, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateIds: ids[start:min(start+200, len(ids))]})
		}
	}
	for _, in := range batches {
		for {
			if err := v.wait(ctx); err != nil {
				return err
			}
			out, err := v.cfg.EC2.DescribeLaunchTemplates(ctx, in)
			if err != nil {
				return fmt.Errorf("describing launch templates of %s: %w", sel, err)
			}
			for _, lt := range out.LaunchTemplates {
				templates[aws.ToString(lt.LaunchTemplateId)] = lt
			}
			if out.NextToken == nil {
				break
			}
			in.NextToken = out.NextToken
		}
	}
	for i := range nodes {
		n := &nodes[i]
		lt, ok := templates[n.LaunchTemplateID]
		if n.Target != 0 || !ok {
			continue
		}
		if n.VersionSpec == "$Latest" {
			n.Target = aws.ToInt64(lt.LatestVersionNumber)
		} else {
			n.Target = aws.ToInt64(lt.DefaultVersionNumber)
		}
	}
	return nil
}

func nodeTag(tags []ec2types.Tag) string { return tagValue(tags, cluster.TagNodeID) }

func tagValue(tags []ec2types.Tag, key string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

func byID(nodes []cluster.Node) map[string]*cluster.Node {
	m := map[string]*cluster.Node{}
	for i := range nodes {
		m[nodes[i].ID] = &nodes[i]
	}
	return m
}

func (v *Inventory) readENIs(ctx context.Context, name string, nodes []cluster.Node) error {
	if name == "" {
		return nil
	}
	m := byID(nodes)
	at := v.cfg.Clock.Now()
	in := &ec2.DescribeNetworkInterfacesInput{MaxResults: aws.Int32(1000),
		Filters: []ec2types.Filter{{Name: aws.String("tag:" + cluster.TagCluster), Values: []string{name}}}}
	for {
		if err := v.wait(ctx); err != nil {
			return err
		}
		out, err := v.cfg.EC2.DescribeNetworkInterfaces(ctx, in)
		if err != nil {
			return fmt.Errorf("describing the ENIs of cluster %s: %w", name, err)
		}
		for _, e := range out.NetworkInterfaces {
			if n := m[nodeTag(e.TagSet)]; n != nil {
				n.ENI, n.IP, n.ENIStatus, n.ENISeen = aws.ToString(e.NetworkInterfaceId), aws.ToString(e.PrivateIpAddress), string(e.Status), at
			}
		}
		if out.NextToken == nil {
			return nil
		}
		in.NextToken = out.NextToken
	}
}

// readVolumes reads the nodes' data volumes: by the cluster tag (500 a
// page), or by id when the cluster is not known. A node whose volume the
// read does not list keeps none (Volume.Seen set, no state).
func (v *Inventory) readVolumes(ctx context.Context, name string, ids []string, nodes []cluster.Node) error {
	m := byID(nodes)
	at := v.cfg.Clock.Now()
	var in *ec2.DescribeVolumesInput
	switch {
	case name != "":
		in = &ec2.DescribeVolumesInput{MaxResults: aws.Int32(500),
			Filters: []ec2types.Filter{{Name: aws.String("tag:" + cluster.TagCluster), Values: []string{name}}}}
	case len(ids) > 0:
		in = &ec2.DescribeVolumesInput{Filters: []ec2types.Filter{{Name: aws.String("volume-id"), Values: ids}}}
	default:
		return nil
	}
	for _, n := range m {
		if name != "" || n.Volume.ID != "" {
			n.Volume = cluster.Volume{ID: n.Volume.ID, Seen: at}
		}
	}
	for {
		if err := v.wait(ctx); err != nil {
			return err
		}
		out, err := v.cfg.EC2.DescribeVolumes(ctx, in)
		if err != nil {
			return fmt.Errorf("describing the data volumes of cluster %s: %w", cmp.Or(name, strings.Join(ids, ", ")), err)
		}
		for _, vol := range out.Volumes {
			if n := m[nodeTag(vol.Tags)]; n != nil {
				n.Volume = cluster.Volume{ID: aws.ToString(vol.VolumeId), State: string(vol.State), Seen: at}
				if len(vol.Attachments) > 0 {
					n.Volume.AttachedTo, n.Volume.Attachment = aws.ToString(vol.Attachments[0].InstanceId), string(vol.Attachments[0].State)
				}
			}
		}
		if out.NextToken == nil {
			return nil
		}
		in.NextToken = out.NextToken
	}
}

// readActivities takes the newest account-wide activities (one call), then
// asks the groups of up to maxActivityLookups nodes that are not current
// and still have none.
func (v *Inventory) readActivities(ctx context.Context, nodes []cluster.Node) error {
	groups := map[string]*cluster.Node{}
	for i := range nodes {
		groups[nodes[i].Group] = &nodes[i]
	}
	take := func(acts []astypes.Activity) {
		for _, a := range acts { // newest first
			n := groups[aws.ToString(a.AutoScalingGroupName)]
			if n == nil || n.LastActivity != nil {
				continue
			}
			n.LastActivity = &cluster.Activity{Status: string(a.StatusCode), Description: aws.ToString(a.Description),
				Message: aws.ToString(a.StatusMessage), Start: aws.ToTime(a.StartTime), End: aws.ToTime(a.EndTime)}
			if len(n.Instances) > 0 && strings.Contains(n.LastActivity.Description, n.Instances[0].ID) {
				n.Since = n.LastActivity.Start
			}
		}
	}
	if err := v.wait(ctx); err != nil {
		return err
	}
	out, err := v.cfg.AutoScaling.DescribeScalingActivities(ctx, &autoscaling.DescribeScalingActivitiesInput{MaxRecords: aws.Int32(100)})
	if err != nil {
		return fmt.Errorf("describing scaling activities: %w", err)
	}
	take(out.Activities)
	looked := 0
	for i := range nodes {
		n := &nodes[i]
		if n.LastActivity != nil || n.Current() || looked == maxActivityLookups {
			continue
		}
		looked++
		if err := v.wait(ctx); err != nil {
			return err
		}
		out, err := v.cfg.AutoScaling.DescribeScalingActivities(ctx, &autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: aws.String(n.Group), MaxRecords: aws.Int32(1)})
		if err != nil {
			return fmt.Errorf("describing scaling activities of group %s: %w", n.Group, err)
		}
		take(out.Activities)
	}
	return nil
}

// RecentActivities reads the account's newest scaling activities (one
// call, at most 100, newest first), with their groups: a cheap way to learn
// whether any group changed since a time (a node leaving service always
// starts an activity), instead of reading every group. full reports that
// the page was full, so older activities may be missing.
func (v *Inventory) RecentActivities(ctx context.Context) (acts []cluster.Activity, full bool, err error) {
	if err := v.wait(ctx); err != nil {
		return nil, false, err
	}
	out, err := v.cfg.AutoScaling.DescribeScalingActivities(ctx, &autoscaling.DescribeScalingActivitiesInput{MaxRecords: aws.Int32(100)})
	if err != nil {
		return nil, false, fmt.Errorf("describing recent scaling activities: %w", err)
	}
	for _, a := range out.Activities {
		acts = append(acts, cluster.Activity{Group: aws.ToString(a.AutoScalingGroupName), Status: string(a.StatusCode), Description: aws.ToString(a.Description),
			Message: aws.ToString(a.StatusMessage), Start: aws.ToTime(a.StartTime), End: aws.ToTime(a.EndTime)})
	}
	return acts, len(out.Activities) == 100, nil
}

// LastActivity reads the scaling activity of one group that best explains
// trouble since a time: the newest Failed or Cancelled one started since
// then that is not the routine ENI retry (diagnosis.Routine), else the
// newest such retry, else the newest activity.
func (v *Inventory) LastActivity(ctx context.Context, group string, since time.Time) (*cluster.Activity, error) {
	if err := v.wait(ctx); err != nil {
		return nil, err
	}
	out, err := v.cfg.AutoScaling.DescribeScalingActivities(ctx, &autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: aws.String(group), MaxRecords: aws.Int32(10)})
	if err != nil {
		return nil, fmt.Errorf("describing scaling activities of group %s: %w", group, err)
	}
	if len(out.Activities) == 0 {
		return nil, nil
	}
	pick, routine := out.Activities[0], -1
	for k, a := range out.Activities {
		if (a.StatusCode == astypes.ScalingActivityStatusCodeFailed || a.StatusCode == astypes.ScalingActivityStatusCodeCancelled) && !aws.ToTime(a.StartTime).Before(since) {
			if diagnosis.Routine(cluster.Activity{Status: string(a.StatusCode), Message: aws.ToString(a.StatusMessage)}) {
				if routine < 0 {
					routine = k
				}
				continue
			}
			pick, routine = a, -2
			break
		}
	}
	if routine >= 0 {
		pick = out.Activities[routine]
	}
	return &cluster.Activity{Status: string(pick.StatusCode), Description: aws.ToString(pick.Description), Message: aws.ToString(pick.StatusMessage),
		Start: aws.ToTime(pick.StartTime), End: aws.ToTime(pick.EndTime)}, nil
}

// EC2States reads EC2's own view of every instance of the nodes (one call
// per 1000 instances of a cluster selected by its tag, per 200 otherwise):
// its state, so that an instance stopped or terminated through EC2 is out
// of service before Auto Scaling's next health check says so; its cluster
// tag and its agent's ready mark and failure report. An instance EC2 does
// not list (just launched, not yet visible) keeps an empty state and is
// not Ready.
func (v *Inventory) EC2States(ctx context.Context, sel Selector, nodes []cluster.Node) error {
	where := map[string]*cluster.Instance{}
	var ids []string
	at := v.cfg.Clock.Now()
	for n := range nodes {
		for i := range nodes[n].Instances {
			in := &nodes[n].Instances[i]
			in.EC2State, in.Seen, in.Tagged, in.Mark, in.Report = "", at, false, "", ""
			where[in.ID] = in
			ids = append(ids, in.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	read := func(in *ec2.DescribeInstancesInput) error {
		for {
			if err := v.wait(ctx); err != nil {
				return err
			}
			out, err := v.cfg.EC2.DescribeInstances(ctx, in)
			if err != nil {
				return fmt.Errorf("describing the instances of %s: %w", sel, err)
			}
			for _, r := range out.Reservations {
				for _, i := range r.Instances {
					if p := where[aws.ToString(i.InstanceId)]; p != nil && i.State != nil {
						p.EC2State, p.Report = string(i.State.Name), tagValue(i.Tags, cluster.TagBootstrapFailure)
						p.ReportClass = tagValue(i.Tags, cluster.TagBootstrapFailureClass)
						p.Tagged, p.Mark = tagValue(i.Tags, cluster.TagCluster) != "", tagValue(i.Tags, cluster.TagReady)
					}
				}
			}
			if out.NextToken == nil {
				return nil
			}
			in.NextToken = out.NextToken
		}
	}
	if sel.Cluster != "" {
		if err := read(&ec2.DescribeInstancesInput{MaxResults: aws.Int32(1000),
			Filters: []ec2types.Filter{{Name: aws.String("tag:" + cluster.TagCluster), Values: []string{sel.Cluster}}}}); err != nil {
			return err
		}
	}
	// By ID, whatever the tag did not find: instances launched before the
	// groups carried the cluster tag (a cluster upgraded from the original
	// module), or every instance of groups named with --asg.
	var missing []string
	for _, id := range ids {
		if where[id].EC2State == "" {
			missing = append(missing, id)
		}
	}
	for start := 0; start < len(missing); start += 200 {
		if err := read(&ec2.DescribeInstancesInput{
			Filters: []ec2types.Filter{{Name: aws.String("instance-id"), Values: missing[start:min(start+200, len(missing))]}}}); err != nil {
			return err
		}
	}
	return nil
}
