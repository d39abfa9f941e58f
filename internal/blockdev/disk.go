package blockdev

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Probe is what blkid's low-level probe finds on a device.
type Probe struct {
	// NoSignature: blkid found no filesystem signature and no partition
	// table. That alone does not make a device blank (see Inspection).
	NoSignature bool
	Type        string // filesystem (or other) signature: ext4, xfs, crypto_LUKS, swap...
	UUID        string
	Label       string
	PTType      string // partition table: dos, gpt...
}

// mkfsPackages says which package provides each mkfs tool, for the error
// a node with a missing tool gets.
var mkfsPackages = map[string]string{"ext4": "e2fsprogs", "xfs": "xfsprogs"}

// ProbeDevice runs `blkid -p` (low-level probing, no cache). Exit status 2
// with no output is the only answer that means "no signature"; any other
// failure is an error. blkid also exits 2 on a device it cannot open or
// read, which is why blankness is proven by Inspect, which opens and reads
// the device itself first.
func ProbeDevice(ctx context.Context, dev string) (Probe, error) {
	out, err := exec.CommandContext(ctx, "blkid", "-p", "-s", "TYPE", "-s", "PTTYPE", "-s", "UUID", "-s", "LABEL", "-o", "export", dev).Output()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee) && ee.ExitCode() == 2 && len(bytes.TrimSpace(out)) == 0:
		return Probe{NoSignature: true}, nil
	case errors.Is(err, exec.ErrNotFound):
		return Probe{}, fmt.Errorf("blkid is not installed (package util-linux): cannot tell whether %s is blank", dev)
	case err != nil:
		return Probe{}, fmt.Errorf("probing %s with blkid -p: %w", dev, err)
	}
	var p Probe
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		switch k {
		case "TYPE":
			p.Type = v
		case "UUID":
			p.UUID = v
		case "LABEL":
			p.Label = v
		case "PTTYPE":
			p.PTType = v
		}
	}
	if p.Type == "" && p.PTType == "" {
		return Probe{}, fmt.Errorf("blkid -p found something on %s it cannot name (%q): not treating it as blank", dev, out)
	}
	return p, nil
}

// Format makes a filesystem on dev, but only after a fresh inspection, made
// immediately before mkfs, proves the device blank.
func Format(ctx context.Context, dev, fsType, label string) error {
	pkg, ok := mkfsPackages[fsType]
	if !ok {
		return fmt.Errorf("cannot format %s as %q: only ext4 and xfs are supported", dev, fsType)
	}
	tool := "mkfs." + fsType
	if _, err := exec.LookPath(tool); err != nil {
		return fmt.Errorf("%s is not installed: install the %s package in the image", tool, pkg)
	}
	insp, err := Inspect(ctx, dev)
	if err != nil {
		return fmt.Errorf("refusing to format %s: %w", dev, err)
	}
	if !insp.Blank() {
		return fmt.Errorf("refusing to format %s: it holds %s", dev, insp.Describe())
	}
	// The inspection is the protection: mke2fs run without a terminal does
	// not refuse an existing filesystem. mkfs.xfs (no -f) would, a second
	// line of defence.
	var args []string
	switch fsType {
	case "ext4":
		args = []string{"-q", "-m", "0", "-L", label, dev}
	case "xfs":
		args = []string{"-q", "-L", label, dev}
	}
	cmd := exec.CommandContext(ctx, tool, args...)
	cmd.Stdin = nil
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", tool, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// Describe says what the probe found, for messages.
func (p Probe) Describe() string {
	switch {
	case p.NoSignature:
		return "no signature"
	case p.PTType != "":
		return "a " + p.PTType + " partition table"
	default:
		return "a " + p.Type + " signature"
	}
}

// fstabEntry is the line the node's volume gets: by UUID, with nofail so a
// missing volume never stops the instance from booting.
func fstabEntry(uuid, mountPoint, fsType string, options []string) string {
	opts := slices.Clone(options)
	if !slices.Contains(opts, "nofail") {
		opts = append(opts, "nofail")
	}
	if !slices.Contains(opts, "defaults") && len(opts) == 1 {
		opts = append([]string{"defaults"}, opts...)
	}
	return fmt.Sprintf("UUID=%s %s %s %s 0 2", uuid, FstabEscape(mountPoint), fsType, strings.Join(opts, ","))
}

// FstabEscape writes a field as fstab(5) reads it: space, tab, newline and
// backslash in octal (\040, \011, \012, \134), so no path can shift a
// line's fields or add a line. The config refuses such mount paths anyway.
func FstabEscape(field string) string {
	return strings.NewReplacer(`\`, `\134`, " ", `\040`, "\t", `\011`, "\n", `\012`).Replace(field)
}

// EnsureFstab makes fstab hold exactly one entry for the mount point and
// the UUID: the wanted one. Other lines are kept as they are. It writes
// atomically and reports whether it changed anything.
func EnsureFstab(path, uuid, mountPoint, fsType string, options []string) (bool, error) {
	want := fstabEntry(uuid, mountPoint, fsType, options)
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("reading %s: %w", path, err)
	}
	var lines []string
	found := 0
	for _, l := range strings.Split(strings.TrimRight(string(old), "\n"), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && !strings.HasPrefix(f[0], "#") && (f[1] == FstabEscape(mountPoint) || f[0] == "UUID="+uuid) {
			if l == want && found == 0 {
				lines = append(lines, l)
			}
			found++
			continue
		}
		if l != "" || len(lines) > 0 {
			lines = append(lines, l)
		}
	}
	if found == 1 && slices.Contains(lines, want) {
		return false, nil
	}
	if !slices.Contains(lines, want) {
		lines = append(lines, want)
	}
	return true, WriteFileAtomic(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

// WriteFileAtomic writes to a temporary file beside path, then renames it,
// so a crash leaves the old or the new content, never half of one.
func WriteFileAtomic(path string, data []byte, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Mounted reports which device (major:minor) is mounted at mountPoint, per
// /proc/self/mountinfo.
func Mounted(mountPoint string) (string, bool, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", false, err
	}
	var dev string
	ok := false
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && unescapeMount(f[4]) == mountPoint {
			dev, ok = f[2], true // the last mount on the path wins
		}
	}
	return dev, ok, nil
}

func unescapeMount(s string) string {
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	return r.Replace(s)
}

// DeviceNumber is a block device's major:minor.
func DeviceNumber(dev string) (string, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(dev, &st); err != nil {
		return "", fmt.Errorf("stat %s: %w", dev, err)
	}
	// uint64: Rdev is int32 on darwin, where the operator's binary builds too.
	return fmt.Sprintf("%d:%d", unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev))), nil
}

// Mount mounts dev at mountPoint unless it already is, and checks the
// result. It refuses when something else is mounted there.
func Mount(ctx context.Context, dev, mountPoint, fsType string, options []string) (bool, error) {
	want, err := DeviceNumber(dev)
	if err != nil {
		return false, err
	}
	if got, ok, err := Mounted(mountPoint); err != nil {
		return false, err
	} else if ok {
		if got == want {
			return false, nil
		}
		return false, fmt.Errorf("%s has another device (%s) mounted, not %s (%s)", mountPoint, got, dev, want)
	}
	if err := SafeMountPoint(mountPoint); err != nil {
		return false, err
	}
	args := []string{"-t", fsType}
	if len(options) > 0 {
		args = append(args, "-o", strings.Join(options, ","))
	}
	args = append(args, dev, mountPoint)
	if out, err := exec.CommandContext(ctx, "mount", args...).CombinedOutput(); err != nil {
		return false, fmt.Errorf("mount %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	if got, ok, err := Mounted(mountPoint); err != nil || !ok || got != want {
		return false, fmt.Errorf("after mounting, %s does not show %s (%s) in /proc/self/mountinfo", mountPoint, dev, want)
	}
	if err := checkOptions(mountPoint, options); err != nil {
		_ = Unmount(ctx, mountPoint)
		return false, err
	}
	return true, nil
}

// Unmount unmounts mountPoint if something is mounted there.
func Unmount(ctx context.Context, mountPoint string) error {
	if _, ok, err := Mounted(mountPoint); err != nil || !ok {
		return err
	}
	if out, err := exec.CommandContext(ctx, "umount", mountPoint).CombinedOutput(); err != nil {
		return fmt.Errorf("umount %s: %w: %s", mountPoint, err, bytes.TrimSpace(out))
	}
	return nil
}

// Grow grows a mounted filesystem to the size of its device (a no-op when
// it already fills it), through the kernel only: xfs_growfs (ioctls on the
// mounted filesystem) and, for ext4, EXT4_IOC_RESIZE_FS, the ioctl
// resize2fs uses online, called directly so that no root-run tool parses
// a filesystem the previous instance wrote. The ext4 ioctl needs
// CAP_SYS_RESOURCE, which containers and some sandboxes drop: its error
// is returned for the caller to report, the filesystem left as it is.
func Grow(ctx context.Context, dev, mountPoint, fsType string) error {
	switch fsType {
	case "xfs":
		if out, err := exec.CommandContext(ctx, "xfs_growfs", mountPoint).CombinedOutput(); err != nil {
			return fmt.Errorf("growing %s: xfs_growfs %s: %w: %s", dev, mountPoint, err, bytes.TrimSpace(out))
		}
	case "ext4":
		return growExt4Online(dev, mountPoint)
	}
	return nil
}

// ext4ResizeFS is EXT4_IOC_RESIZE_FS, _IOW('f', 16, __u64).
const ext4ResizeFS = 0x40086610

func growExt4Online(dev, mountPoint string) error {
	devSize, err := deviceSize(dev)
	if err != nil {
		return err
	}
	blocks, bsize, err := ext4Blocks(dev)
	if err != nil {
		return err
	}
	want := devSize / bsize
	if want <= blocks {
		return nil // fills its device already
	}
	f, err := os.Open(mountPoint)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), ext4ResizeFS, uintptr(unsafe.Pointer(&want))); errno != 0 {
		return fmt.Errorf("growing %s online from %d to %d blocks (EXT4_IOC_RESIZE_FS): %w", mountPoint, blocks, want, errno)
	}
	return nil
}

// ext4Blocks reads an ext4 filesystem's block count and block size from
// its superblock (two numbers at fixed offsets; nothing else of the
// filesystem is parsed).
func ext4Blocks(dev string) (blocks, bsize uint64, err error) {
	f, err := os.Open(dev)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sb := make([]byte, 1024)
	if _, err := f.ReadAt(sb, 1024); err != nil {
		return 0, 0, fmt.Errorf("reading the superblock of %s: %w", dev, err)
	}
	le := binary.LittleEndian
	if le.Uint16(sb[0x38:]) != 0xef53 {
		return 0, 0, fmt.Errorf("%s has no ext4 superblock", dev)
	}
	logSize := le.Uint32(sb[0x18:])
	if logSize > 6 {
		return 0, 0, fmt.Errorf("%s: ext4 block size 2^(10+%d) is not valid", dev, logSize)
	}
	blocks = uint64(le.Uint32(sb[0x4:]))
	if le.Uint32(sb[0x60:])&0x80 != 0 { // INCOMPAT_64BIT
		blocks |= uint64(le.Uint32(sb[0x150:])) << 32
	}
	return blocks, 1024 << logSize, nil
}

// GrowUnmounted grows an unmounted ext4 filesystem that is smaller than its
// device (after the volume was enlarged): e2fsck -f -p, then resize2fs, both
// as root on whatever the previous instance left; only with the user's
// opt-in (offline_repair). It does nothing, and costs no fsck, when the
// filesystem fills the device.
func GrowUnmounted(ctx context.Context, dev, fsType string) (bool, error) {
	if fsType != "ext4" {
		return false, nil
	}
	devSize, err := deviceSize(dev)
	if err != nil {
		return false, err
	}
	out, err := exec.CommandContext(ctx, "dumpe2fs", "-h", dev).Output()
	if err != nil {
		return false, fmt.Errorf("dumpe2fs -h %s: %w", dev, err)
	}
	var blocks, size uint64
	for _, l := range strings.Split(string(out), "\n") {
		k, v, _ := strings.Cut(l, ":")
		n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		switch k {
		case "Block count":
			blocks = n
		case "Block size":
			size = n
		}
	}
	if blocks == 0 || size == 0 || blocks*size+16*size >= devSize {
		return false, nil
	}
	for _, args := range [][]string{{"e2fsck", "-f", "-p", dev}, {"resize2fs", dev}} {
		if out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput(); err != nil {
			return false, fmt.Errorf("growing %s: %s: %w: %s", dev, strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
	}
	return true, nil
}

// deviceSize is a block device's size in bytes.
func deviceSize(dev string) (uint64, error) {
	f, err := os.Open(dev)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n, err := f.Seek(0, io.SeekEnd)
	return uint64(n), err
}

// LookupID turns a user or group name (or a number) into its id.
func LookupID(name string, group bool) (int, error) {
	if n, err := strconv.Atoi(name); err == nil {
		return n, nil
	}
	var id string
	if group {
		g, err := user.LookupGroup(name)
		if err != nil {
			return 0, fmt.Errorf("group %s: %w", name, err)
		}
		id = g.Gid
	} else {
		u, err := user.Lookup(name)
		if err != nil {
			return 0, fmt.Errorf("user %s: %w", name, err)
		}
		id = u.Uid
	}
	return strconv.Atoi(id)
}

// checkOptions makes sure the kernel applied the nosuid, nodev and noexec
// asked for (mountinfo's per-mount options, field 6).
func checkOptions(mountPoint string, options []string) error {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var have []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 5 && unescapeMount(f[4]) == mountPoint {
			have = strings.Split(f[5], ",") // the last mount on the path wins
		}
	}
	for _, o := range []string{"nosuid", "nodev", "noexec"} {
		if slices.Contains(options, o) && !slices.Contains(have, o) {
			return fmt.Errorf("%s is mounted without %s (options %s); unmounted", mountPoint, o, strings.Join(have, ","))
		}
	}
	return nil
}
