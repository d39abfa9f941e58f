// Package blockdev does what the node agent needs from the OS for the data
// volume: find the block device of an EBS volume, probe it, format it only
// when it is truly blank, and keep it in fstab, mounted, grown and owned.
package blockdev

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrNotFound means the volume's device is not (yet) visible.
var ErrNotFound = errors.New("block device not found")

// Finder resolves an EBS volume ID to its block device. The roots are
// settings so tests can use fake trees.
type Finder struct {
	Dev      string // normally /dev
	SysBlock string // normally /sys/block
}

// DefaultFinder looks at the real system.
var DefaultFinder = Finder{Dev: "/dev", SysBlock: "/sys/block"}

// Find looks once, in the order the EBS CSI driver uses:
//  1. the udev link /dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_<vol id without dash>;
//  2. an NVMe device whose controller serial is that id (sysfs);
//  3. on an instance without NVMe devices (Xen), the requested name (hint,
//     such as /dev/sdf) or its renamed /dev/xvdf, but only when its size
//     is the volume's: Xen devices carry no serial, and on older kernels an
//     instance-store disk can sit at that name.
//
// It never picks a device by position.
func (f Finder) Find(volumeID, hint string, sizeBytes int64) (string, error) {
	serial := strings.ReplaceAll(volumeID, "-", "")
	link := filepath.Join(f.Dev, "disk", "by-id", "nvme-Amazon_Elastic_Block_Store_"+serial)
	if target, err := filepath.EvalSymlinks(link); err == nil {
		return target, nil
	}
	entries, err := os.ReadDir(f.SysBlock)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("listing %s: %w", f.SysBlock, err)
	}
	nvme := false
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "nvme") {
			continue
		}
		nvme = true
		b, err := os.ReadFile(filepath.Join(f.SysBlock, e.Name(), "device", "serial"))
		if err != nil {
			continue
		}
		if strings.TrimSpace(string(b)) == serial {
			return filepath.Join(f.Dev, e.Name()), nil
		}
	}
	if nvme || hint == "" {
		return "", ErrNotFound
	}
	name := strings.TrimPrefix(hint, "/dev/")
	candidates := []string{name}
	if strings.HasPrefix(name, "sd") {
		candidates = append(candidates, "xvd"+strings.TrimPrefix(name, "sd"))
	}
	for _, c := range candidates {
		p := filepath.Join(f.Dev, c)
		if _, err := os.Stat(p); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(f.SysBlock, c, "size"))
		if err != nil {
			return "", fmt.Errorf("%w: %s exists but its size is unknown (%v): not using it", ErrNotFound, p, err)
		}
		sectors, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || sectors*512 != sizeBytes {
			return "", fmt.Errorf("%w: %s is %d bytes, not the volume's %d: another disk (an instance store?) sits at that name", ErrNotFound, p, sectors*512, sizeBytes)
		}
		return p, nil
	}
	return "", ErrNotFound
}
