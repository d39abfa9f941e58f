// Package looptest gives tests real block devices: loop devices over
// sparse files. They need root; elsewhere the test is skipped with a
// message. Everything is undone when the test ends, also on failure.
package looptest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// MiB is a mebibyte.
const MiB = 1 << 20

// Device backs a new loop device with a sparse file of size bytes and
// returns the device and the file.
func Device(t *testing.T, size int64) (dev, backing string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for loop devices and mounts (CI runs as root)")
	}
	for _, tool := range []string{"losetup", "blkid", "mkfs.ext4", "mkfs.xfs", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (.ci/run installs xfsprogs; e2fsprogs and util-linux come with Debian)", tool)
		}
	}
	backing = filepath.Join(t.TempDir(), "volume.img")
	f, err := os.Create(backing)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out, err := exec.Command("losetup", "--find", "--show", backing).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup: %v: %s", err, out)
	}
	dev = strings.TrimSpace(string(out))
	t.Cleanup(func() { _ = exec.Command("losetup", "-d", dev).Run() })
	return dev, backing
}

// MountDir is a directory to mount on, lazily unmounted at the end.
func MountDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}
