package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stateful-aws/stateful/internal/blockdev"
	"github.com/stateful-aws/stateful/internal/blockdev/looptest"
	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/proctest"
)

func TestPrepareStampsAndRefusesOtherNodesVolumes(t *testing.T) {
	ctx := context.Background()
	dev, _ := looptest.Device(t, 400*looptest.MiB)
	mnt := looptest.MountDir(t)
	disk := OSDisk{Fstab: filepath.Join(t.TempDir(), "fstab"), Clock: clock.Real{}}
	v := Volume{MountPath: mnt, FileSystem: "xfs", MountOptions: []string{"noatime"}, Owner: "65534", Group: "65534"}
	me := Stamp{Cluster: "kafka", NodeID: "01", VolumeID: "vol-1"}

	formatted, err := disk.Prepare(ctx, dev, me, v)
	if err != nil || !formatted {
		t.Fatalf("first prepare: formatted %v, %v", formatted, err)
	}
	var got Stamp
	b, err := os.ReadFile(filepath.Join(mnt, StampFile))
	if err != nil || json.Unmarshal(b, &got) != nil || got.NodeID != "01" || got.Cluster != "kafka" {
		t.Fatalf("stamp %s, %v", b, err)
	}
	if err := os.WriteFile(filepath.Join(mnt, "data"), []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A reboot: everything again, nothing formatted, data kept.
	if formatted, err = disk.Prepare(ctx, dev, me, v); err != nil || formatted {
		t.Fatalf("second prepare: formatted %v, %v", formatted, err)
	}
	if b, _ := os.ReadFile(filepath.Join(mnt, "data")); string(b) != "precious" {
		t.Fatal("data lost")
	}
	tab, _ := os.ReadFile(disk.Fstab)
	if strings.Count(string(tab), mnt) != 1 {
		t.Fatalf("fstab:\n%s", tab)
	}
	if err := disk.Release(ctx, mnt, dev); err != nil {
		t.Fatal(err)
	}
	// Another node's agent is given this volume: refused before mounting.
	other := Stamp{Cluster: "kafka", NodeID: "02", VolumeID: "vol-1"}
	if _, err := disk.Prepare(ctx, dev, other, v); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "labelled for another node") {
		t.Fatalf("another node's prepare: %v", err)
	}
	if _, mounted, _ := blockdev.Mounted(mnt); mounted {
		t.Fatal("another node's volume was mounted")
	}
}

func TestPrepareAdoptsAForeignFilesystemAndRefusesTheRest(t *testing.T) {
	ctx := context.Background()
	me := Stamp{Cluster: "kafka", NodeID: "01", VolumeID: "vol-1"}

	// A volume formatted before this module (a migration): mounted as it
	// is, with its own type, never reformatted, and stamped.
	dev, _ := looptest.Device(t, 400*looptest.MiB)
	if out, err := exec.Command("mkfs.ext4", "-q", "-L", "legacy", dev).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	mnt := looptest.MountDir(t)
	disk := OSDisk{Fstab: filepath.Join(t.TempDir(), "fstab"), Clock: clock.Real{}}
	formatted, err := disk.Prepare(ctx, dev, me, Volume{MountPath: mnt, FileSystem: "xfs"})
	if err != nil || formatted {
		t.Fatalf("legacy ext4 volume: formatted %v, %v", formatted, err)
	}
	if p, _ := blockdev.ProbeDevice(ctx, dev); p.Type != "ext4" || p.Label != "legacy" {
		t.Fatalf("the legacy filesystem changed: %+v", p)
	}
	if _, err := os.Stat(filepath.Join(mnt, StampFile)); err != nil {
		t.Fatal("the adopted volume got no stamp")
	}
	if err := disk.Release(ctx, mnt, dev); err != nil {
		t.Fatal(err)
	}

	// A stamp file for another node on a volume without our label.
	if _, err := disk.Prepare(ctx, dev, Stamp{Cluster: "kafka", NodeID: "09"}, Volume{MountPath: mnt, FileSystem: "xfs"}); !errors.Is(err, ErrRefused) {
		t.Fatalf("a volume stamped for node 01 given to node 09: %v", err)
	}
	if _, mounted, _ := blockdev.Mounted(mnt); mounted {
		t.Fatal("left mounted after the refusal")
	}

	// A partition table.
	dev2, _ := looptest.Device(t, 400*looptest.MiB)
	f, _ := os.OpenFile(dev2, os.O_WRONLY, 0)
	mbr := make([]byte, 512)
	copy(mbr[446:], []byte{0x00, 0x00, 0x02, 0x00, 0x83, 0xfe, 0xff, 0xff, 0x01, 0x00, 0x00, 0x00, 0xff, 0x0f, 0x00, 0x00})
	mbr[510], mbr[511] = 0x55, 0xaa
	_, _ = f.WriteAt(mbr, 0)
	f.Close()
	if _, err := disk.Prepare(ctx, dev2, me, Volume{MountPath: mnt, FileSystem: "xfs"}); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "partition table") {
		t.Fatalf("partition table: %v", err)
	}
}

// The application's user owns the volume's root: a stamp replaced by a
// FIFO must not hang bootstrap, one replaced by a symbolic link must not
// make root read the file it points to.
func TestPlantedStampsAreRefused(t *testing.T) {
	ctx := context.Background()
	for name, plant := range map[string]func(path string) error{
		"fifo":    func(p string) error { return syscallMkfifo(p) },
		"symlink": func(p string) error { return os.Symlink("/etc/shadow", p) },
		"huge":    func(p string) error { return os.WriteFile(p, make([]byte, maxStampBytes+1), 0o644) },
	} {
		t.Run(name, func(t *testing.T) {
			dev, _ := looptest.Device(t, 300*looptest.MiB)
			mnt := looptest.MountDir(t)
			disk := OSDisk{Fstab: filepath.Join(t.TempDir(), "fstab"), Clock: clock.Real{}}
			v := Volume{MountPath: mnt, FileSystem: "xfs"}
			me := Stamp{Cluster: "kafka", NodeID: "01", VolumeID: "vol-1"}
			if _, err := disk.Prepare(ctx, dev, me, v); err != nil {
				t.Fatal(err)
			}
			stamp := filepath.Join(mnt, StampFile)
			if err := os.Remove(stamp); err != nil {
				t.Fatal(err)
			}
			if err := plant(stamp); err != nil {
				t.Fatal(err)
			}
			if err := disk.Release(ctx, mnt, dev); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			_, err := disk.Prepare(ctx, dev, me, v)
			if !errors.Is(err, ErrRefused) || strings.Contains(err.Error(), "root:") {
				t.Fatalf("prepare with a planted %s stamp: %v; want a refusal that leaks nothing", name, err)
			}
		})
	}
}

func syscallMkfifo(path string) error { return syscall.Mkfifo(path, 0o644) }

// TestHelperProcess is not a test: Release's test runs it as a process
// that uses the volume (STATEFUL_TEST_HOLD=fd:PATH or mmap:PATH).
func TestHelperProcess(t *testing.T) {
	how, path, ok := strings.Cut(os.Getenv("STATEFUL_TEST_HOLD"), ":")
	if !ok {
		return
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		os.Exit(3)
	}
	if how == "mmap" {
		if err := f.Truncate(4096); err != nil {
			os.Exit(3)
		}
		if _, err := syscall.Mmap(int(f.Fd()), 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED); err != nil {
			os.Exit(3)
		}
		f.Close() // only the mapping holds the volume now
	}
	os.Stdout.WriteString("ready\n")
	select {}
}

// Release ends every user of the volume (an open file, a mapping whose
// file descriptor is closed) and unmounts it.
func TestReleaseStopsEveryUserOfTheVolume(t *testing.T) {
	ctx := context.Background()
	dev, _ := looptest.Device(t, 300*looptest.MiB)
	mnt := looptest.MountDir(t)
	disk := OSDisk{Fstab: filepath.Join(t.TempDir(), "fstab"), Clock: clock.Real{}}
	if _, err := disk.Prepare(ctx, dev, Stamp{Cluster: "kafka", NodeID: "01"}, Volume{MountPath: mnt, FileSystem: "xfs"}); err != nil {
		t.Fatal(err)
	}
	var holders []*proctest.Cmd
	for _, how := range []string{"fd", "mmap"} {
		cmd := proctest.Command(t, os.Args[0], "-test.run=^TestHelperProcess$")
		cmd.Env = append(os.Environ(), "STATEFUL_TEST_HOLD="+how+":"+filepath.Join(mnt, how))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if line, _ := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
			t.Fatalf("helper %s: %q", how, line)
		}
		holders = append(holders, cmd)
	}
	if err := blockdev.Unmount(ctx, mnt); err == nil {
		t.Fatal("the volume unmounted while in use: the test proves nothing")
	}
	if err := disk.Release(ctx, mnt, dev); err != nil {
		t.Fatalf("release: %v", err)
	}
	if _, mounted, _ := blockdev.Mounted(mnt); mounted {
		t.Fatal("still mounted after Release")
	}
	for _, cmd := range holders {
		if err := cmd.Wait(); err == nil {
			t.Errorf("holder %v exited cleanly; Release should have ended it", cmd.Env[len(cmd.Env)-1])
		}
	}
}

// Release proves the device free, not only the mount path unmounted: a
// bind of the mount path is unmounted too; a copy of the mount held in
// another mount namespace (a container) keeps it in use, and Release says
// so, so the drain does not detach it.
func TestReleaseProvesTheDeviceFree(t *testing.T) {
	ctx := context.Background()
	dev, _ := looptest.Device(t, 300*looptest.MiB)
	mnt := looptest.MountDir(t)
	disk := OSDisk{Fstab: filepath.Join(t.TempDir(), "fstab"), Clock: clock.Real{}}
	if _, err := disk.Prepare(ctx, dev, Stamp{Cluster: "kafka", NodeID: "01"}, Volume{MountPath: mnt, FileSystem: "xfs"}); err != nil {
		t.Fatal(err)
	}
	bind := looptest.MountDir(t)
	if err := os.MkdirAll(bind, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "--bind", mnt, bind).CombinedOutput(); err != nil {
		t.Fatalf("bind mount: %v %s", err, out)
	}
	if err := disk.Release(ctx, mnt, dev); err != nil {
		t.Fatalf("release with a bind mount: %v", err)
	}
	if err := blockdev.Free(dev); err != nil {
		t.Fatalf("after release: %v", err)
	}

	// Mounted again, and copied into another mount namespace by a process
	// that uses nothing on the volume.
	if _, err := blockdev.Mount(ctx, dev, mnt, "xfs", nil); err != nil {
		t.Fatal(err)
	}
	other := proctest.Command(t, "unshare", "-m", "--propagation", "private", "sleep", "600")
	if err := other.Start(); err != nil {
		t.Skipf("unshare: %v", err)
	}
	for range 50 { // until the namespace exists
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", other.Process.Pid)); strings.Contains(string(b), mnt) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	err := disk.Release(ctx, mnt, dev)
	if err == nil || !strings.Contains(err.Error(), "still mounted or held") {
		t.Fatalf("release while another namespace holds the mount: %v; want an error", err)
	}
}
