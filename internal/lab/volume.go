package lab

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/stateful-aws/stateful/internal/blockdev"
)

// volume is a simulated EBS volume backed by a loop device.
type volume struct {
	id, backing, loop string
	rdev              uint64 // the loop device's number, for mknod
}

func (l *Lab) newVolume(ctx context.Context, id string) (*volume, error) {
	backing := l.dir("volumes", id+".img")
	if err := os.MkdirAll(filepath.Dir(backing), 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(backing)
	if err != nil {
		return nil, err
	}
	if err := f.Truncate(l.cfg.VolumeSize); err != nil {
		f.Close()
		return nil, err
	}
	f.Close()
	out, err := exec.CommandContext(ctx, "losetup", "--find", "--show", backing).CombinedOutput()
	if err != nil {
		return nil, err
	}
	v := &volume{id: id, backing: backing, loop: strings.TrimSpace(string(out))}
	var st syscall.Stat_t
	if err := syscall.Stat(v.loop, &st); err != nil {
		_ = v.release()
		return nil, err
	}
	v.rdev = uint64(st.Rdev) // int32 on darwin, where the binary builds too
	l.mu.Lock()
	l.volumes[id] = v
	l.mu.Unlock()
	l.loops.Store(id, v.loop)
	return v, nil
}

// volumeMounted tells the simulator whether a volume's filesystem is
// mounted in any instance: an exclusive open of a block device fails with
// EBUSY while it is mounted, in whatever mount namespace. The simulator
// calls it under its lock, so it takes no lock of the lab's.
func (l *Lab) volumeMounted(id string) bool {
	loop, ok := l.loops.Load(id)
	if !ok {
		return false
	}
	busy, _ := blockdev.Busy(loop.(string))
	return busy
}

// release detaches the loop device and deletes the backing file.
func (v *volume) release() error {
	if v.loop != "" {
		if err := run(context.Background(), "losetup", "-d", v.loop); err != nil {
			return err
		}
	}
	return os.Remove(v.backing)
}
