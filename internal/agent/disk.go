package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/stateful-aws/stateful/internal/blockdev"
	"github.com/stateful-aws/stateful/internal/clock"
)

// OSDisk prepares the data volume on the real system.
type OSDisk struct {
	Finder blockdev.Finder
	Fstab  string
	Clock  clock.Clock
	Log    *slog.Logger // nil: slog's default
}

func (d OSDisk) warn(msg string, args ...any) {
	l := d.Log
	if l == nil {
		l = slog.Default()
	}
	l.Warn(msg, args...)
}

// EffectiveMountOptions are the configured options and, always, nosuid and
// nodev (noexec when asked for), last so that they win: a previous instance
// may have left setuid binaries or device nodes on the volume.
func (v Volume) EffectiveMountOptions() []string {
	opts := slices.Clone(v.MountOptions)
	for _, o := range []string{"nosuid", "nodev"} {
		if !slices.Contains(opts, o) {
			opts = append(opts, o)
		}
	}
	if v.NoExec && !slices.Contains(opts, "noexec") {
		opts = append(opts, "noexec")
	}
	return opts
}

func (d OSDisk) Find(volumeID, hint string, sizeBytes int64) (string, error) {
	return d.Finder.Find(volumeID, hint, sizeBytes)
}

// VolumeAction is what bootstrap does with the node's device.
type VolumeAction string

const (
	VolumeFormat VolumeAction = "format" // proven blank: format, label and stamp it
	VolumeMount  VolumeAction = "mount"  // an ext4 or xfs filesystem of this node, or one to adopt
	VolumeRefuse VolumeAction = "refuse" // anything else: never formatted, never mounted
)

// DecideVolume decides from an inspection alone what bootstrap does with a
// device, and says why. Only a device proven blank is formatted. A mounted
// filesystem is decided on as any other (after a reboot the node's own
// volume is mounted already); the stamp at its root is checked once it is
// mounted.
func DecideVolume(insp blockdev.Inspection, want Stamp) (VolumeAction, string) {
	p := insp.Probe
	switch {
	case insp.Blank():
		return VolumeFormat, "blank: no signature, no partition table, zeros at both ends, not in use"
	case p.NoSignature:
		return VolumeRefuse, fmt.Sprintf("%s holds %s; a device is formatted only when proven blank", insp.Device, insp.Describe())
	case p.PTType != "":
		return VolumeRefuse, fmt.Sprintf("%s holds %s; the agent mounts whole-device ext4 or xfs filesystems only", insp.Device, p.Describe())
	case p.Type != "ext4" && p.Type != "xfs":
		return VolumeRefuse, fmt.Sprintf("%s holds %s, not an ext4 or xfs filesystem", insp.Device, p.Describe())
	case strings.HasPrefix(p.Label, "st-") && p.Label != want.Label():
		return VolumeRefuse, fmt.Sprintf("%s is labelled for another node (label %s; node %s of cluster %s has %s)", insp.Device, p.Label, want.NodeID, want.Cluster, want.Label())
	case p.Label == want.Label():
		return VolumeMount, fmt.Sprintf("this node's %s filesystem (label %s)", p.Type, p.Label)
	default:
		return VolumeMount, fmt.Sprintf("an %s filesystem formatted elsewhere (label %q): adopted, unless its stamp names another node", p.Type, p.Label)
	}
}

// Prepare formats a proven-blank device (and stamps it), refuses anything
// that is not this node's filesystem, then fstab, mount, grow and chown. It
// reports whether it formatted.
func (d OSDisk) Prepare(ctx context.Context, dev string, want Stamp, v Volume) (bool, error) {
	insp, err := blockdev.Inspect(ctx, dev)
	if err != nil {
		return false, err
	}
	formatted := false
	switch action, why := DecideVolume(insp, want); action {
	case VolumeRefuse:
		return false, fmt.Errorf("%w: %s", ErrRefused, why)
	case VolumeFormat:
		if err := blockdev.Format(ctx, dev, v.FileSystem, want.Label()); err != nil {
			return false, err
		}
		formatted = true
	}
	p, err := blockdev.ProbeDevice(ctx, dev)
	if err != nil {
		return formatted, err
	}
	if p.UUID == "" || (p.Type != "ext4" && p.Type != "xfs") {
		return formatted, fmt.Errorf("%s holds %s without a UUID; cannot add it to fstab", dev, p.Describe())
	}
	// Root runs no repair tool on a filesystem the previous instance
	// controlled unless the user opted in: the kernel grows it online below.
	if v.OfflineRepair {
		if _, err := blockdev.GrowUnmounted(ctx, dev, p.Type); err != nil {
			return formatted, err
		}
	}
	opts := v.EffectiveMountOptions()
	if _, err := blockdev.Mount(ctx, dev, v.MountPath, p.Type, opts); err != nil {
		return formatted, err
	}
	if err := checkStamp(v.MountPath, want, formatted); err != nil {
		_ = blockdev.Unmount(ctx, v.MountPath)
		return formatted, err
	}
	// fstab names the volume only once it is accepted as this node's.
	if _, err := blockdev.EnsureFstab(d.Fstab, p.UUID, v.MountPath, p.Type, opts); err != nil {
		return formatted, err
	}
	if err := blockdev.Grow(ctx, dev, v.MountPath, p.Type); err != nil {
		if p.Type != "ext4" {
			return formatted, err
		}
		// The volume still serves at its old size; say why it did not grow.
		d.warn("the ext4 filesystem was not grown online; it keeps its size (offline_repair grows it unmounted, as root)", "error", err.Error())
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
	b, err := readSmall(path, maxStampBytes)
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

// unmountAttempts is how many times Release stops the volume's users and
// tries to unmount: a service its init system restarts may come back.
const unmountAttempts = 3

// Release stops what uses the volume, syncs and unmounts every mount of
// its device in this namespace (the mount path, binds of it, mounts on
// top of it), trying again when a process came back. It returns nil only
// when the device is proven free: an exclusive open succeeds, which it
// does not while the filesystem is mounted in any mount namespace (a
// container's copy included). Any other outcome is an error, and the
// caller must not detach.
func (d OSDisk) Release(ctx context.Context, mountPath, device string) error {
	if device == "" {
		return fmt.Errorf("the volume's device is unknown, so it cannot be proven unmounted")
	}
	var st syscall.Stat_t
	if err := syscall.Stat(device, &st); err != nil {
		return fmt.Errorf("stat %s: %w", device, err)
	}
	rdev := uint64(st.Rdev)
	var last error
	for attempt := range unmountAttempts {
		stopWriters(d.Clock, rdev)
		syncAll()
		last = blockdev.UnmountDevice(ctx, rdev)
		if last == nil {
			if last = blockdev.Free(device); last == nil {
				return nil
			}
		}
		if attempt < unmountAttempts-1 {
			if err := clock.Sleep(ctx, d.Clock, time.Second); err != nil {
				return err
			}
		}
	}
	return fmt.Errorf("%s (%s) is still in use after %d attempts: %w", mountPath, device, unmountAttempts, last)
}

// maxStampBytes bounds the stamp the agent reads from the volume.
const maxStampBytes = 64 << 10

// readSmall reads a regular file of at most max bytes from the data volume,
// which the application's user may write to: it never follows a symbolic
// link at the last step, never blocks on a FIFO or device, and refuses
// anything but a regular file of bounded size.
func readSmall(path string, max int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("%w: %s is a symbolic link", ErrRefused, path)
		}
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file (%s)", ErrRefused, path, st.Mode().Type())
	}
	if st.Size() > max {
		return nil, fmt.Errorf("%w: %s is %d bytes, more than a stamp's %d", ErrRefused, path, st.Size(), max)
	}
	return io.ReadAll(io.LimitReader(f, max))
}
