package blockdev

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// zeroCheck is how much of each end of a device must read back as zeros
// for the device to count as blank: a new EBS volume reads as zeros, and
// filesystems, partition tables, LUKS and LVM headers all write within
// the first MiB (GPT and some RAID superblocks also at the end).
const zeroCheck = 1 << 20

// Inspection is everything the agent knows about a device before it
// decides to format, mount or refuse it.
type Inspection struct {
	Device string
	Probe  Probe // blkid -p
	Size   int64
	// HeadZero and TailZero: the first and last MiB read back as zeros.
	HeadZero, TailZero bool
	// InUse says why the device is in use ("" when it is not): mounted,
	// backing /, partitioned, or held by device-mapper, md or LVM.
	InUse string
}

// Blank is the proof that formatting destroys nothing: the device opened
// and read, blkid found no signature and no partition table, both ends
// read back as zeros, and nothing uses it.
func (i Inspection) Blank() bool {
	return i.Probe.NoSignature && i.HeadZero && i.TailZero && i.InUse == ""
}

// Describe says what the inspection found, for messages.
func (i Inspection) Describe() string {
	switch {
	case i.InUse != "":
		return "a device in use (" + i.InUse + ")"
	case !i.Probe.NoSignature:
		return i.Probe.Describe()
	case !i.HeadZero || !i.TailZero:
		return "data blkid cannot name (it does not read back as zeros: raw application data, or a header blkid does not know)"
	default:
		return "nothing: it is blank"
	}
}

// Inspect opens and reads dev, probes it with blkid and checks whether it
// is in use. Any failure to open, read or probe is an error, never "blank".
func Inspect(ctx context.Context, dev string) (Inspection, error) {
	insp := Inspection{Device: dev}
	f, err := os.Open(dev)
	if err != nil {
		return insp, fmt.Errorf("opening %s: %w", dev, err)
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return insp, fmt.Errorf("stat %s: %w", dev, err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFBLK {
		return insp, fmt.Errorf("%s is not a block device", dev)
	}
	if insp.Size, err = f.Seek(0, io.SeekEnd); err != nil {
		return insp, fmt.Errorf("sizing %s: %w", dev, err)
	}
	if insp.HeadZero, err = readsZero(f, 0, min(zeroCheck, insp.Size)); err != nil {
		return insp, fmt.Errorf("reading the start of %s: %w", dev, err)
	}
	tail := min(zeroCheck, insp.Size)
	if insp.TailZero, err = readsZero(f, insp.Size-tail, tail); err != nil {
		return insp, fmt.Errorf("reading the end of %s: %w", dev, err)
	}
	if insp.InUse, err = inUse(uint64(st.Rdev)); err != nil {
		return insp, fmt.Errorf("checking whether %s is in use: %w", dev, err)
	}
	if insp.Probe, err = ProbeDevice(ctx, dev); err != nil {
		return insp, err
	}
	return insp, nil
}

func readsZero(f *os.File, off, n int64) (bool, error) {
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, off); err != nil {
		return false, err
	}
	return !hasNonZero(buf), nil
}

func hasNonZero(buf []byte) bool { return bytes.ContainsFunc(buf, func(r rune) bool { return r != 0 }) }

// inUse says why the device rdev is in use: a mount of it (in this mount
// namespace), the root filesystem on it, partitions on it, or a holder
// (device-mapper, md, LVM) above it.
func inUse(rdev uint64) (string, error) {
	num := fmt.Sprintf("%d:%d", unix.Major(rdev), unix.Minor(rdev))
	var root syscall.Stat_t
	if err := syscall.Stat("/", &root); err != nil {
		return "", err
	}
	if uint64(root.Dev) == rdev {
		return "it backs /", nil
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(string(mi), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[2] == num {
			return "mounted at " + unescapeMount(f[4]), nil
		}
	}
	sys := filepath.Join("/sys/dev/block", num)
	entries, err := os.ReadDir(sys)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", nil // no sysfs (a container): the other checks stand
		}
		return "", err
	}
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(sys, e.Name(), "partition")); err == nil {
			return "it has partitions (" + e.Name() + ")", nil
		}
	}
	if holders, _ := os.ReadDir(filepath.Join(sys, "holders")); len(holders) > 0 {
		return "held by " + holders[0].Name(), nil
	}
	return "", nil
}

// UnmountDevice unmounts every mount of the device rdev in this mount
// namespace, the most recent first (a mount on top of another, a bind of
// the mount path).
func UnmountDevice(ctx context.Context, rdev uint64) error {
	num := fmt.Sprintf("%d:%d", unix.Major(rdev), unix.Minor(rdev))
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var points []string
	for _, l := range strings.Split(string(mi), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[2] == num {
			points = append(points, unescapeMount(f[4]))
		}
	}
	for i := len(points) - 1; i >= 0; i-- {
		if out, err := exec.CommandContext(ctx, "umount", points[i]).CombinedOutput(); err != nil {
			return fmt.Errorf("umount %s: %w: %s", points[i], err, bytes.TrimSpace(out))
		}
	}
	return nil
}

// Free proves that nothing has dev mounted or held, in any mount
// namespace: an exclusive open fails with EBUSY while it is mounted or
// claimed (device-mapper, md, another exclusive opener).
func Free(dev string) error {
	busy, err := Busy(dev)
	switch {
	case err != nil:
		return err
	case busy:
		return fmt.Errorf("%s is still mounted or held (in this or another mount namespace)", dev)
	}
	return nil
}

// Busy reports whether an exclusive open of dev fails with EBUSY: the
// device is mounted or held somewhere.
func Busy(dev string) (bool, error) {
	f, err := os.OpenFile(dev, os.O_RDONLY|syscall.O_EXCL, 0)
	if errors.Is(err, syscall.EBUSY) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("opening %s exclusively: %w", dev, err)
	}
	return false, f.Close()
}
