package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/stateful-aws/stateful/internal/cluster"
	"github.com/stateful-aws/stateful/internal/diagnosis"
	"github.com/stateful-aws/stateful/internal/inventory"
)

type statusOptions struct{ awsFlags }

func newStatusCmd(io IO, d deps) *cobra.Command {
	o := &statusOptions{}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "One table of the whole cluster",
		Long: `Show every node: id, IP, instance, its state for Auto Scaling and for EC2,
the launch-template version of its instance against its group's target,
its data volume's attachment, time in its current state, and the
diagnosis: the one reason a node is not fine (a hook holding it and when
that times out, the agent's failure, launches failing and why, its group's
capacity, an impaired instance, a volume not attached). Below the table,
one sentence per node that is not fine. The group's capacity
(desired/min/max) is shown where it is not 1/1/1. The table fits 120
columns; --output wide adds the group, health, volume id and last scaling
activity; --output json gives everything.

A 1000-node cluster takes about 20 API calls (two more per node that is
not fine, for at most 5 nodes). status only reads: a node a killed roll
left down (its group's Launch process suspended) is shown with the command
that repairs it (stateful recover NODE, or the next roll).

Nodes on their first boot (their group has never had an instance in
service) are "forming", and a cluster whose missing majority is all
forming says so instead of "QUORUM LOST".

Exit codes:
  0  every node is in service on its target version
  1  error
  2  bad flags
  3  some node is not in service, or needs attention (its group's capacity
     is not 1/1/1, its volume is not attached, EC2 says it is impaired)
  4  every node is in service, but some run an old version (run stateful roll)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := envDefaults(cmd); err != nil {
				return err
			}
			return translate(runStatus(cmd.Context(), io, d, o), &o.awsFlags)
		},
	}
	o.register(cmd.Flags())
	o.wideOK = true
	return cmd
}

// nodeStatus is one row, also the JSON form.
type nodeStatus struct {
	Node          string              `json:"node_id"`
	IP            string              `json:"ip,omitempty"`
	Group         string              `json:"asg_name"`
	Desired       int32               `json:"desired_capacity"`
	MinSize       int32               `json:"min_size"`
	MaxSize       int32               `json:"max_size"`
	Instance      string              `json:"instance_id,omitempty"`
	Lifecycle     string              `json:"lifecycle_state,omitempty"`
	EC2State      string              `json:"ec2_state,omitempty"` // EC2's own view, beside Auto Scaling's
	Health        string              `json:"health,omitempty"`
	Version       int64               `json:"launch_template_version,omitempty"`
	Target        int64               `json:"target_version,omitempty"`
	Volume        string              `json:"volume_id,omitempty"`
	VolumeState   string              `json:"volume_state,omitempty"`
	Attachment    string              `json:"volume_attachment,omitempty"`
	AttachedTo    string              `json:"volume_attached_to,omitempty"`
	Since         time.Time           `json:"since,omitzero"` // when it entered its current state
	InService     bool                `json:"in_service"`
	Current       bool                `json:"current"`
	Diagnosis     diagnosis.Diagnosis `json:"diagnosis"`
	LastActivity  string              `json:"last_activity,omitempty"`
	ExtraInstance []string            `json:"other_instances,omitempty"`
}

func rowOf(n cluster.Node, d diagnosis.Diagnosis) nodeStatus {
	r := nodeStatus{Node: n.ID, IP: n.IP, Group: n.Group, Desired: n.Desired, MinSize: n.MinSize, MaxSize: n.MaxSize, Target: n.Target,
		Volume: n.Volume.ID, VolumeState: n.Volume.State, Attachment: n.Volume.Attachment, AttachedTo: n.Volume.AttachedTo,
		Since: d.Since, Current: n.Current(), Diagnosis: d}
	_, r.InService = n.Serving()
	if len(n.Instances) > 0 {
		i := n.Instances[0]
		r.Instance, r.Lifecycle, r.Health, r.Version, r.EC2State = i.ID, i.Lifecycle, i.Health, i.Version, i.EC2State
		for _, o := range n.Instances[1:] {
			r.ExtraInstance = append(r.ExtraInstance, o.ID+" "+o.Lifecycle)
		}
	}
	if r.Since.IsZero() {
		r.Since = n.Since
	}
	if n.LastActivity != nil {
		r.LastActivity = n.LastActivity.Summary()
	}
	return r
}

// fine: in service, on its version or not, with nothing needing attention.
func (r nodeStatus) fine() bool { return r.InService && r.Diagnosis.OK() }

func runStatus(ctx context.Context, io IO, d deps, o *statusOptions) error {
	if err := o.validate(); err != nil {
		return err
	}
	o.stderr = io.Err
	_, _, inv, err := d.inventory(ctx, &o.awsFlags)
	if err != nil {
		return err
	}
	snap, err := inv.Observe(ctx, o.selector(), inventory.Full, nil)
	if err != nil {
		return err
	}
	diags, err := diagnoseNodes(ctx, inv, snap)
	if err != nil {
		return err
	}
	rows := make([]nodeStatus, len(snap.Nodes))
	for i, n := range snap.Nodes {
		rows[i] = rowOf(n, diags[n.ID])
	}
	var out, attention, old, forming int
	for _, r := range rows {
		switch {
		case !r.InService:
			out++
			if r.Diagnosis.Cause == diagnosis.Forming {
				forming++
			}
		case !r.fine():
			attention++
		case !r.Current:
			old++
		}
	}
	quorum := cluster.Quorum(len(rows))
	switch o.Output {
	case "json":
		enc := json.NewEncoder(io.Out)
		enc.SetIndent("", "  ")
		doc := map[string]any{"observed_at": snap.At.UTC(), "nodes": rows, "in_service": len(rows) - out, "quorum": quorum, "outdated": old, "needs_attention": attention, "forming": forming}
		if err := enc.Encode(doc); err != nil {
			return err
		}
	default:
		writeTable(io.Out, rows, snap.At, o.Output == "wide")
		verdict := quorumVerdict(rows, quorum)
		fmt.Fprintf(io.Out, "%d of %d nodes in service (a majority is %d: %s); %d on an old launch-template version", len(rows)-out, len(rows), quorum, verdict, old)
		if attention > 0 {
			fmt.Fprintf(io.Out, "; %d need attention", attention)
		}
		fmt.Fprintln(io.Out)
	}
	switch {
	case out > 0 || attention > 0:
		return &exitError{code: ExitNotInService, err: fmt.Errorf("%d of %d nodes not in service, %d needing attention", out, len(rows), attention)}
	case old > 0:
		return &exitError{code: ExitOutdated, err: fmt.Errorf("%d of %d nodes run an old launch-template version; run stateful roll", old, len(rows))}
	}
	return nil
}

// quorumVerdict says whether a majority serves. A cluster short of one only
// because nodes are on their first boot is forming, not lost: nothing has
// served yet, and nothing should be abandoned.
func quorumVerdict(rows []nodeStatus, quorum int) string {
	in, forming, booting := 0, 0, 0
	for _, r := range rows {
		switch c := r.Diagnosis.Cause; {
		case r.InService:
			in++
		case c == diagnosis.Forming:
			forming++
		case c == diagnosis.Launching, c == diagnosis.LaunchHook:
			booting++ // not diagnosed in full (past maxDeepDiagnoses), or a replacement
		}
	}
	switch {
	case in >= quorum:
		return "quorum holds"
	case forming > 0 && in+forming+booting == len(rows):
		return "forming: first boots under way"
	}
	return "QUORUM LOST"
}

// writeTable prints the rows in at most 120 columns (wide: every column),
// then one sentence per node that is not fine.
func writeTable(w io.Writer, rows []nodeStatus, now time.Time, wide bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	capacity := false
	for _, r := range rows {
		if r.Desired != 1 || r.MinSize != 1 || r.MaxSize != 1 {
			capacity = true
		}
	}
	head := []string{"NODE", "IP", "INSTANCE", "STATE (ASG/EC2)", "VERSION", "VOLUME", "SINCE", "DIAGNOSIS"}
	if capacity {
		head = append(head[:2], append([]string{"CAPACITY"}, head[2:]...)...)
	}
	if wide {
		head = append(head, "GROUP", "HEALTH", "VOLUME ID", "LAST ACTIVITY")
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, r := range rows {
		version := "-"
		if r.Instance != "" {
			version = fmt.Sprintf("%d/%d", r.Version, r.Target)
			if r.Target == 0 { // no launch template to compare with
				version = "-"
			}
			if !r.Current && r.Target != 0 && r.Version != r.Target {
				version += " old"
			}
		}
		since := "-"
		if !r.Since.IsZero() {
			since = age(now.Sub(r.Since))
		}
		state := dash(r.Lifecycle)
		if r.Instance != "" {
			state += "/" + dash(r.EC2State)
		}
		if !wide && r.Health != "" && !strings.EqualFold(r.Health, cluster.Healthy) {
			state += " " + r.Health
		}
		if len(r.ExtraInstance) > 0 {
			state += fmt.Sprintf(" +%d", len(r.ExtraInstance))
		}
		volume := dash(r.VolumeState)
		switch {
		case r.AttachedTo != "" && r.AttachedTo == r.Instance:
			volume = r.Attachment
		case r.AttachedTo != "":
			volume = r.Attachment + " elsewhere"
		}
		cells := []string{r.Node, dash(r.IP), dash(r.Instance), state, version, volume, since, string(r.Diagnosis.Cause)}
		if r.Diagnosis.Cause == diagnosis.Serving {
			cells[len(cells)-1] = "ok"
			if !r.Current {
				cells[len(cells)-1] = "ok, outdated"
			}
		}
		if capacity {
			cells = append(cells[:2], append([]string{fmt.Sprintf("%d/%d/%d", r.Desired, r.MinSize, r.MaxSize)}, cells[2:]...)...)
		}
		if wide {
			cells = append(cells, r.Group, dash(r.Health), dash(r.Volume), dash(r.LastActivity))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	_ = tw.Flush()
	for _, r := range rows {
		if r.fine() {
			continue
		}
		fold(w, fmt.Sprintf("node %s: %s", r.Node, r.Diagnosis.Summary), "    ")
		if a := r.Diagnosis.Activity; a != nil {
			fold(w, fmt.Sprintf("  scaling activity (%s): %s", stamp(a.Start), a.Summary()), "    ")
		}
		if r.Diagnosis.Fix != "" {
			fold(w, "  fix: "+r.Diagnosis.Fix, "    ")
		}
	}
}

// statusWidth is the most columns status's text takes (wide mode aside).
const statusWidth = 120

// fold writes s in lines of at most statusWidth columns, breaking at
// spaces, continuation lines indented.
func fold(w io.Writer, s, indent string) {
	width := statusWidth
	for len(s) > width {
		cut := strings.LastIndex(s[:width+1], " ")
		if cut <= len(indent) {
			break
		}
		fmt.Fprintln(w, s[:cut])
		s = indent + strings.TrimLeft(s[cut:], " ")
	}
	fmt.Fprintln(w, s)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// age is a duration as an operator reads it: 42s, 3m12s, 5h03m, 2d04h.
func age(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < 0:
		return "0s"
	case d < time.Hour:
		return d.String()
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}

func stamp(t time.Time) string { return t.UTC().Format("15:04:05Z") }
