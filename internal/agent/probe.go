package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/stateful-aws/stateful/internal/blockdev"
)

// ProbeReport is what `stateful node probe` prints: what bootstrap sees on
// a device and what it would do with it for this node.
type ProbeReport struct {
	Device      string       `json:"device"`
	SizeBytes   int64        `json:"size_bytes"`
	Type        string       `json:"type,omitempty"`
	Label       string       `json:"label,omitempty"`
	UUID        string       `json:"uuid,omitempty"`
	PTType      string       `json:"partition_table,omitempty"`
	NoSignature bool         `json:"no_signature"`
	HeadZero    bool         `json:"first_mib_zero"`
	TailZero    bool         `json:"last_mib_zero"`
	InUse       string       `json:"in_use,omitempty"`
	Stamp       *Stamp       `json:"stamp,omitempty"`
	StampNote   string       `json:"stamp_note,omitempty"`
	Action      VolumeAction `json:"action"`
	Why         string       `json:"why"`
}

// ProbeVolume inspects dev without writing to it and decides as bootstrap
// would for the node of cfg. The stamp is read when the device's
// filesystem is mounted (bootstrap reads it after mounting).
func ProbeVolume(ctx context.Context, dev string, cfg *Config) (ProbeReport, error) {
	insp, err := blockdev.Inspect(ctx, dev)
	if err != nil {
		return ProbeReport{}, err
	}
	want := Stamp{Cluster: cfg.Cluster, NodeID: cfg.NodeID}
	r := ProbeReport{Device: dev, SizeBytes: insp.Size, Type: insp.Probe.Type, Label: insp.Probe.Label, UUID: insp.Probe.UUID,
		PTType: insp.Probe.PTType, NoSignature: insp.Probe.NoSignature, HeadZero: insp.HeadZero, TailZero: insp.TailZero, InUse: insp.InUse}
	r.Action, r.Why = DecideVolume(insp, want)
	mnt, mounted := strings.CutPrefix(insp.InUse, "mounted at ")
	switch {
	case r.Action != VolumeMount:
	case !mounted:
		r.StampNote = "not read: the filesystem is not mounted (bootstrap reads it after mounting)"
	default:
		b, err := readSmall(filepath.Join(mnt, StampFile), maxStampBytes)
		if err != nil {
			r.StampNote = fmt.Sprintf("none readable at %s: %v (bootstrap adopts a volume without one)", filepath.Join(mnt, StampFile), err)
			break
		}
		var got Stamp
		if err := json.Unmarshal(b, &got); err != nil {
			r.Action, r.Why = VolumeRefuse, fmt.Sprintf("its stamp %s is unreadable: %v", filepath.Join(mnt, StampFile), err)
			break
		}
		r.Stamp = &got
		if got.Cluster != want.Cluster || got.NodeID != want.NodeID {
			r.Action, r.Why = VolumeRefuse, fmt.Sprintf("the volume is stamped for node %s of cluster %s, not node %s of cluster %s", got.NodeID, got.Cluster, want.NodeID, want.Cluster)
		}
	}
	return r, nil
}

// Text renders the report for a terminal.
func (r ProbeReport) Text() string {
	var b strings.Builder
	yes := map[bool]string{true: "yes", false: "no"}
	row := func(k, v string) { fmt.Fprintf(&b, "%-13s %s\n", k, v) }
	row("device", fmt.Sprintf("%s (%.1f GiB)", r.Device, float64(r.SizeBytes)/(1<<30)))
	switch {
	case r.NoSignature:
		row("signature", "none (blkid -p)")
	case r.PTType != "":
		row("signature", r.PTType+" partition table")
	default:
		row("signature", fmt.Sprintf("%s, label %q, UUID %s", r.Type, r.Label, r.UUID))
	}
	row("zeros", fmt.Sprintf("first MiB %s, last MiB %s", yes[r.HeadZero], yes[r.TailZero]))
	row("in use", map[bool]string{true: r.InUse, false: "no"}[r.InUse != ""])
	switch {
	case r.Stamp != nil:
		row("stamp", fmt.Sprintf("node %s of cluster %s, volume %s", r.Stamp.NodeID, r.Stamp.Cluster, r.Stamp.VolumeID))
	case r.StampNote != "":
		row("stamp", r.StampNote)
	}
	row("bootstrap", fmt.Sprintf("%s: %s", r.Action, r.Why))
	return b.String()
}
