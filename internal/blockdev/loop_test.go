package blockdev

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

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
			p, err := ProbeDevice(ctx, dev)
			if err != nil || !p.Blank {
				t.Fatalf("a new device probes as %+v, %v; want blank", p, err)
			}
			if err := Format(ctx, dev, fsType, "st-test"); err != nil {
				t.Fatal(err)
			}
			p, err = ProbeDevice(ctx, dev)
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
				if err := Unmount(ctx, mnt); err != nil {
					t.Fatal(err)
				}
				if grown, err := GrowUnmounted(ctx, dev, fsType); err != nil || !grown {
					t.Fatalf("GrowUnmounted: %v, %v", grown, err)
				}
				if _, err := Mount(ctx, dev, mnt, fsType, nil); err != nil {
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
	cases := map[string]struct {
		prepare func(t *testing.T, dev string)
		want    func(p Probe) bool
	}{
		"ext4": {func(t *testing.T, dev string) {
			if out, err := exec.Command("mkfs.ext4", "-q", dev).CombinedOutput(); err != nil {
				t.Fatalf("%v %s", err, out)
			}
		}, func(p Probe) bool { return p.Type == "ext4" }},
		"xfs": {func(t *testing.T, dev string) {
			if out, err := exec.Command("mkfs.xfs", "-q", dev).CombinedOutput(); err != nil {
				t.Fatalf("%v %s", err, out)
			}
		}, func(p Probe) bool { return p.Type == "xfs" }},
		"dos partition table": {func(t *testing.T, dev string) {
			mbr := make([]byte, 512)
			copy(mbr[446:], []byte{0x00, 0x00, 0x02, 0x00, 0x83, 0xfe, 0xff, 0xff, 0x01, 0x00, 0x00, 0x00, 0xff, 0x0f, 0x00, 0x00})
			mbr[510], mbr[511] = 0x55, 0xaa
			writeAt(t, dev, 0, mbr)
		}, func(p Probe) bool { return p.PTType == "dos" }},
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
		}, func(p Probe) bool { return p.Type == "crypto_LUKS" }},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dev, _ := looptest.Device(t, 400*looptest.MiB)
			c.prepare(t, dev)
			before, err := os.ReadFile(dev)
			if err != nil {
				t.Fatal(err)
			}
			p, err := ProbeDevice(ctx, dev)
			if err != nil || p.Blank || !c.want(p) {
				t.Fatalf("probe %+v, %v", p, err)
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
