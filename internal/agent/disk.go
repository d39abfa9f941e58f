package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/stateful-aws/stateful/internal/blockdev"
	"github.com/stateful-aws/stateful/internal/clock"
)

// OSDisk prepares the data volume on the real system.
type OSDisk struct {
	Finder blockdev.Finder
	Fstab  string
	Clock  clock.Clock
}

func (d OSDisk) Find(volumeID, hint string) (string, error) { return d.Finder.Find(volumeID, hint) }

// Prepare formats a blank device (and stamps it), refuses anything that is
// not this node's filesystem, then fstab, mount, grow and chown. It
// reports whether it formatted.
func (d OSDisk) Prepare(ctx context.Context, dev string, want Stamp, v Volume) (bool, error) {
	p, err := blockdev.ProbeDevice(ctx, dev)
	if err != nil {
		return false, err
	}
	formatted := false
	if p.Blank {
		if err := blockdev.Format(ctx, dev, v.FileSystem, want.Label()); err != nil {
			return false, err
		}
		formatted = true
		if p, err = blockdev.ProbeDevice(ctx, dev); err != nil {
			return false, err
		}
	}
	switch {
	case p.PTType != "":
		return false, fmt.Errorf("%w: %s holds %s; the agent mounts whole-device ext4 or xfs filesystems only", ErrRefused, dev, p.Describe())
	case p.Type != "ext4" && p.Type != "xfs":
		return false, fmt.Errorf("%w: %s holds %s, not an ext4 or xfs filesystem", ErrRefused, dev, p.Describe())
	case strings.HasPrefix(p.Label, "st-") && p.Label != want.Label():
		return false, fmt.Errorf("%w: %s is stamped for another node (label %s; node %s of cluster %s has %s)", ErrRefused, dev, p.Label, want.NodeID, want.Cluster, want.Label())
	case p.UUID == "":
		return false, fmt.Errorf("%s holds %s without a UUID; cannot add it to fstab", dev, p.Type)
	}
	if _, err := blockdev.GrowUnmounted(ctx, dev, p.Type); err != nil {
		return formatted, err
	}
	if _, err := blockdev.EnsureFstab(d.Fstab, p.UUID, v.MountPath, p.Type, v.MountOptions); err != nil {
		return formatted, err
	}
	if _, err := blockdev.Mount(ctx, dev, v.MountPath, p.Type, v.MountOptions); err != nil {
		return formatted, err
	}
	if err := checkStamp(v.MountPath, want, formatted); err != nil {
		_ = blockdev.Unmount(ctx, v.MountPath)
		return formatted, err
	}
	if err := blockdev.Grow(ctx, dev, v.MountPath, p.Type); err != nil {
		return formatted, err
	}
	if _, err := blockdev.Chown(v.MountPath, v.Owner, v.Group, v.RecursiveChown); err != nil {
		return formatted, fmt.Errorf("chown of %s: %w", v.MountPath, err)
	}
	return formatted, nil
}

// checkStamp reads the stamp at the volume's root: it must name this node.
// A volume without one (formatted elsewhere, say before a migration) is
// adopted: it gets this node's stamp.
func checkStamp(mountPath string, want Stamp, formatted bool) error {
	path := filepath.Join(mountPath, StampFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil && !formatted:
		var got Stamp
		if err := json.Unmarshal(b, &got); err != nil {
			return fmt.Errorf("%w: %s is unreadable: %v", ErrRefused, path, err)
		}
		if got.Cluster != want.Cluster || got.NodeID != want.NodeID {
			return fmt.Errorf("%w: the volume is stamped for node %s of cluster %s, not node %s of cluster %s", ErrRefused, got.NodeID, got.Cluster, want.NodeID, want.Cluster)
		}
		return nil
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return err
	}
	if !formatted { // adopted: formatted elsewhere, by someone else
		want.FormattedBy, want.FormattedAt = "", ""
	}
	b, _ = json.MarshalIndent(want, "", "  ")
	return blockdev.WriteFileAtomic(path, append(b, '\n'), 0o644)
}

// Release stops what writes to the volume, syncs and unmounts it.
func (d OSDisk) Release(ctx context.Context, mountPath string) error {
	stopWriters(d.Clock, mountPath)
	syncAll()
	return blockdev.Unmount(ctx, mountPath)
}
