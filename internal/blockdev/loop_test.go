package blockdev

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/stateful-aws/stateful/internal/blockdev/looptest"
)

func TestBlankVolumesAreFormattedMountedGrownAndOwned(t *testing.T) {
	for _, fsType := range []string{"ext4", "xfs"} {
		t.Run(fsType, func(t *testing.T) {
			ctx := context.Background()
			dev, backing := looptest.Device(t, 400*looptest.MiB)
			mnt := looptest.MountDir(t)
			fstab := filepath.Join(t.TempDir(), "fstab")
			if err := os.WriteFile(fstab, []byte("# static file system information\n/dev/root / ext4 defaults 0 1\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			insp, err := Inspect(ctx, dev)
			if err != nil || !insp.Blank() {
				t.Fatalf("a new device inspects as %+v, %v; want blank", insp, err)
			}
			if err := Format(ctx, dev, fsType, "st-test"); err != nil {
				t.Fatal(err)
			}
			p, err := ProbeDevice(ctx, dev)
			if err != nil || p.Type != fsType || p.Label != "st-test" || p.UUID == "" {
				t.Fatalf("after format: %+v, %v", p, err)
			}
			if err := Format(ctx, dev, fsType, "st-again"); err == nil {
				t.Fatal("a formatted device was formatted again")
			}
			for run := 0; run < 2; run++ {
				changed, err := EnsureFstab(fstab, p.UUID, mnt, fsType, []string{"noatime"})
				if err != nil || changed != (run == 0) {
					t.Fatalf("fstab run %d: changed %v, %v", run, changed, err)
				}
				mounted, err := Mount(ctx, dev, mnt, fsType, []string{"noatime"})
				if err != nil || mounted != (run == 0) {
					t.Fatalf("mount run %d: mounted %v, %v", run, mounted, err)
				}
				if grown, err := GrowUnmounted(ctx, dev, fsType); err != nil || grown {
					t.Fatalf("GrowUnmounted on a filesystem that fills its device: %v, %v", grown, err)
				}
				if err := Grow(ctx, dev, mnt, fsType); err != nil {
					t.Fatal(err)
				}
				owned, err := Chown(mnt, "65534", "65534", false)
				if err != nil || owned != (run == 0) {
					t.Fatalf("chown run %d: changed %v, %v", run, owned, err)
				}
			}
			tab, _ := os.ReadFile(fstab)
			if n := bytes.Count(tab, []byte("UUID="+p.UUID)); n != 1 || !bytes.Contains(tab, []byte("/dev/root / ext4")) || !bytes.Contains(tab, []byte("nofail")) {
				t.Fatalf("fstab:\n%s", tab)
			}
			var st syscall.Stat_t
			if err := syscall.Stat(mnt, &st); err != nil || st.Uid != 65534 || st.Gid != 65534 {
				t.Fatalf("mount root owned by %d:%d", st.Uid, st.Gid)
			}
			// The volume grows: the filesystem follows.
			before := fsSize(t, mnt)
			if err := os.Truncate(backing, 800*looptest.MiB); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("losetup", "-c", dev).CombinedOutput(); err != nil {
				t.Fatalf("losetup -c: %v %s", err, out)
			}
			if fsType == "ext4" {
				// Online, through the kernel; without CAP_SYS_RESOURCE (a
				// container) only the opt-in offline repair grows it.
				err := Grow(ctx, dev, mnt, fsType)
				if errors.Is(err, syscall.EPERM) {
					t.Log("no CAP_SYS_RESOURCE here: ext4 grows through the opt-in offline path")
					if err := Unmount(ctx, mnt); err != nil {
						t.Fatal(err)
					}
					if grown, err := GrowUnmounted(ctx, dev, fsType); err != nil || !grown {
						t.Fatalf("GrowUnmounted: %v, %v", grown, err)
					}
					if _, err := Mount(ctx, dev, mnt, fsType, nil); err != nil {
						t.Fatal(err)
					}
				} else if err != nil {
					t.Fatal(err)
				}
			}
			if err := Grow(ctx, dev, mnt, fsType); err != nil {
				t.Fatal(err)
			}
			if after := fsSize(t, mnt); after < before*3/2 {
				t.Fatalf("filesystem %d bytes before growing, %d after; want it to follow the device", before, after)
			}
			if err := Unmount(ctx, mnt); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func fsSize(t *testing.T, path string) uint64 {
	t.Helper()
	var s syscall.Statfs_t
	if err := syscall.Statfs(path, &s); err != nil {
		t.Fatal(err)
	}
	return s.Blocks * uint64(s.Bsize)
}

func TestNonBlankDevicesAreNeverFormatted(t *testing.T) {
	ctx := context.Background()
	writeAt := func(t *testing.T, dev string, off int64, b []byte) {
		f, err := os.OpenFile(dev, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	// Pseudo-random bytes no probe recognises: application data written
	// to the raw device, or an encryption header blkid does not know.
	noise := func(n int) []byte {
		b := make([]byte, n)
		x := uint32(2463534242)
		for i := range b {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			b[i] = byte(x)
		}
		return b
	}
	cases := map[string]struct {
		prepare func(t *testing.T, dev string)
		want    func(i Inspection) bool
	}{
		"ext4": {func(t *testing.T, dev string) {
			if out, err := exec.Command("mkfs.ext4", "-q", dev).CombinedOutput(); err != nil {
				t.Fatalf("%v %s", err, out)
			}
		}, func(i Inspection) bool { return i.Probe.Type == "ext4" }},
		"xfs": {func(t *testing.T, dev string) {
			if out, err := exec.Command("mkfs.xfs", "-q", dev).CombinedOutput(); err != nil {
				t.Fatalf("%v %s", err, out)
			}
		}, func(i Inspection) bool { return i.Probe.Type == "xfs" }},
		"random data without a signature": {func(t *testing.T, dev string) {
			writeAt(t, dev, 0, noise(3*looptest.MiB))
		}, func(i Inspection) bool { return i.Probe.NoSignature && !i.HeadZero && i.TailZero }},
		"data at the end only": {func(t *testing.T, dev string) {
			writeAt(t, dev, 400*looptest.MiB-4096, noise(4096))
		}, func(i Inspection) bool { return i.Probe.NoSignature && i.HeadZero && !i.TailZero }},
		"dos partition table": {func(t *testing.T, dev string) {
			mbr := make([]byte, 512)
			copy(mbr[446:], []byte{0x00, 0x00, 0x02, 0x00, 0x83, 0xfe, 0xff, 0xff, 0x01, 0x00, 0x00, 0x00, 0xff, 0x0f, 0x00, 0x00})
			mbr[510], mbr[511] = 0x55, 0xaa
			writeAt(t, dev, 0, mbr)
		}, func(i Inspection) bool { return i.Probe.PTType == "dos" }},
		"LUKS header": {func(t *testing.T, dev string) {
			hdr := make([]byte, 592)
			copy(hdr, []byte{'L', 'U', 'K', 'S', 0xba, 0xbe, 0x00, 0x01})
			copy(hdr[8:], "aes")
			copy(hdr[40:], "xts-plain64")
			copy(hdr[72:], "sha256")
			hdr[108], hdr[109], hdr[110], hdr[111] = 0, 0, 0x10, 0 // payload offset 4096 sectors
			hdr[112], hdr[115] = 0, 64                             // key bytes 64
			copy(hdr[168:], "0b7a8a5c-3c39-4f7d-8c58-7f1a2b3c4d5e")
			writeAt(t, dev, 0, hdr)
		}, func(i Inspection) bool { return i.Probe.Type == "crypto_LUKS" }},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dev, _ := looptest.Device(t, 400*looptest.MiB)
			c.prepare(t, dev)
			before, err := os.ReadFile(dev)
			if err != nil {
				t.Fatal(err)
			}
			insp, err := Inspect(ctx, dev)
			if err != nil || insp.Blank() || !c.want(insp) {
				t.Fatalf("inspection %+v, %v", insp, err)
			}
			for _, fs := range []string{"ext4", "xfs"} {
				if err := Format(ctx, dev, fs, "st-x"); err == nil || !strings.Contains(err.Error(), "refusing to format") {
					t.Fatalf("Format(%s) on %s: %v; want a refusal", fs, name, err)
				}
			}
			after, _ := os.ReadFile(dev)
			if !bytes.Equal(before, after) {
				t.Fatal("the device changed")
			}
		})
	}
}

// A device in use is never blank, even when it reads as blank: here a
// mounted filesystem whose signature was wiped.
func TestDevicesInUseAreNeverFormatted(t *testing.T) {
	ctx := context.Background()
	t.Run("mounted, signature wiped", func(t *testing.T) {
		dev, _ := looptest.Device(t, 400*looptest.MiB)
		if out, err := exec.Command("mkfs.ext4", "-q", dev).CombinedOutput(); err != nil {
			t.Fatalf("%v %s", err, out)
		}
		mnt := looptest.MountDir(t)
		if _, err := Mount(ctx, dev, mnt, "ext4", nil); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = Unmount(ctx, mnt) })
		f, err := os.OpenFile(dev, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.WriteAt(make([]byte, 4*looptest.MiB), 0)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		insp, err := Inspect(ctx, dev)
		if err != nil || insp.Blank() || !strings.HasPrefix(insp.InUse, "mounted at ") {
			t.Fatalf("inspection %+v, %v; want in use (mounted)", insp, err)
		}
		if err := Format(ctx, dev, "xfs", "st-x"); err == nil || !strings.Contains(err.Error(), "in use") {
			t.Fatalf("Format of a mounted device: %v; want a refusal", err)
		}
	})
}

// Nothing that cannot be opened and read is blank (blkid -p exits 2 for a
// missing device too). The root device is inspected, never formatted: the
// test does not risk the machine's own disk.
func TestUnreadableAndRootDevicesAreNotBlank(t *testing.T) {
	ctx := context.Background()
	if os.Geteuid() != 0 {
		t.Skip("needs root to open block devices (CI runs as root)")
	}
	if _, err := Inspect(ctx, "/dev/does-not-exist"); err == nil {
		t.Error("a missing device inspects without an error")
	}
	if err := Format(ctx, "/dev/does-not-exist", "ext4", "st-x"); err == nil || !strings.Contains(err.Error(), "refusing to format") {
		t.Errorf("Format of a missing device: %v; want a refusal", err)
	}
	root := RootDevice(t)
	// Either it cannot be opened here (a sandbox may forbid it: an error,
	// never blank) or it is seen in use.
	insp, err := Inspect(ctx, root)
	if err == nil && (insp.Blank() || insp.InUse == "") {
		t.Errorf("the root device %s inspects as %+v; want in use", root, insp)
	}
	t.Logf("the root device %s: %+v, %v", root, insp, err)
}

// RootDevice is the block device mounted at /, or the test is skipped
// (a container's / is not a block device).
func RootDevice(t *testing.T) string {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat("/", &st); err != nil {
		t.Fatal(err)
	}
	num := fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
	uevent, err := os.ReadFile(filepath.Join("/sys/dev/block", num, "uevent"))
	if err != nil {
		t.Skipf("/ is not on a block device here (%s): %v", num, err)
	}
	for _, l := range strings.Split(string(uevent), "\n") {
		if name, ok := strings.CutPrefix(l, "DEVNAME="); ok {
			return "/dev/" + name
		}
	}
	t.Skipf("no DEVNAME for the root device %s", num)
	return ""
}
