package lab

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/sim"
)

// instance is one simulated instance made real.
type instance struct {
	id, ip, group string
	netns         string
	dir           string // root overlay: upper, work, root, dev
	cmd           *exec.Cmd
	exited        chan struct{}
	devices       int // NVMe device counter
	once          sync.Once
}

// setup runs inside the instance's own network and mount namespaces: it
// builds the instance's root (an overlay of the host's root), a private
// /dev, /proc, /sys, /tmp and /run, and runs the user data there as
// cloud-init would, as root, output to /var/log/cloud-init-output.log.
// The bash that runs the user data is PID 1 of the instance's PID
// namespace: it stays, as an init does, once the user data is done, since
// the kernel ends every process of the namespace when its PID 1 exits (the
// application and the drain watcher the agent leaves running), and it
// reaps the orphans reparented to it.
const setup = `set -eu
d=$1
mount -t overlay overlay -o "lowerdir=/,upperdir=$d/upper,workdir=$d/work" "$d/root"
mount --bind "$d/dev" "$d/root/dev"
mount -t proc proc "$d/root/proc"
mount -t sysfs sysfs "$d/root/sys"
mount -t tmpfs tmpfs "$d/root/tmp"
mount -t tmpfs tmpfs "$d/root/run"
mkdir -p "$d/root/var/log"
exec chroot "$d/root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
  AWS_ENDPOINT_URL=http://` + controlIP + `:` + apiPort + ` AWS_ACCESS_KEY_ID=lab AWS_SECRET_ACCESS_KEY=lab AWS_REGION=us-east-1 \
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
  /bin/bash -c '/bin/bash /var/lib/cloud/instance/user-data.txt >>/var/log/cloud-init-output.log 2>&1; while :; do sleep 3600 & wait $!; done'
`

// boot is the simulator's boot function: the instance is running. It
// must not block the simulator, so the instance starts on its own.
func (l *Lab) boot(_ *sim.Engine, si sim.Instance) {
	go func() {
		<-l.ready
		if err := l.start(si); err != nil {
			l.log.Error("instance did not start", "instance_id", si.ID, "error", err.Error())
		}
	}()
}

func (l *Lab) start(si sim.Instance) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return errors.New("lab is shutting down")
	}
	l.links++
	n := l.links
	i := &instance{id: si.ID, ip: si.IP, group: si.Group, netns: l.id + "-" + si.ID, dir: l.dir("instances", si.ID), exited: make(chan struct{})}
	l.instances[si.ID] = i
	l.mu.Unlock()

	ctx := context.Background()
	veth := fmt.Sprintf("%sv%d", l.id, n)
	steps := [][]string{
		{"ip", "netns", "add", i.netns},
		{"ip", "-n", i.netns, "link", "set", "lo", "up"},
		{"ip", "-n", l.cpNetns(), "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", i.netns},
		{"ip", "-n", l.cpNetns(), "link", "set", veth, "master", "br0", "up"},
		{"ip", "-n", i.netns, "addr", "add", nodeAddr(i.ip), "dev", "eth0"},
		{"ip", "-n", i.netns, "link", "set", "eth0", "up"},
		// IMDS's link-local address is reached on the lab's bridge, inside
		// this namespace only.
		{"ip", "-n", i.netns, "route", "add", imdsIP + "/32", "dev", "eth0"},
	}
	// Every private range is on the lab's one bridge (addresses.go).
	for _, r := range privateRanges {
		steps = append(steps, []string{"ip", "-n", i.netns, "route", "add", r, "dev", "eth0"})
	}
	for _, s := range steps {
		if err := run(ctx, s[0], s[1:]...); err != nil {
			return err
		}
	}
	for _, sub := range []string{"upper/var/lib/cloud/instance", "work", "root", "dev/disk/by-id"} {
		if err := os.MkdirAll(filepath.Join(i.dir, sub), 0o755); err != nil {
			return err
		}
	}
	if err := populateDev(filepath.Join(i.dir, "dev")); err != nil {
		return err
	}
	userData, err := base64.StdEncoding.DecodeString(si.UserData)
	if err != nil {
		return fmt.Errorf("user data of %s is not base64: %w", si.ID, err)
	}
	if err := os.WriteFile(filepath.Join(i.dir, "upper/var/lib/cloud/instance/user-data.txt"), userData, 0o700); err != nil {
		return err
	}
	// Its own PID namespace too: the user data runs as root, and with the
	// host's PIDs in view nsenter -t 1 would give it the host. /proc,
	// mounted by setup inside the namespace, shows the instance's only.
	// If the lab's process dies without its cleanup (a test's timeout, a
	// SIGKILL), the kernel kills unshare (Pdeathsig) and unshare kills the
	// namespace's PID 1 (--kill-child), which takes every process of the
	// instance with it.
	i.cmd = exec.Command("ip", "netns", "exec", i.netns, "unshare", "--mount", "--pid", "--propagation", "private", "--fork", "--kill-child", "bash", "-c", setup, "setup", i.dir)
	i.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	i.cmd.Stdout, i.cmd.Stderr = nil, nil
	if err := i.cmd.Start(); err != nil {
		return err
	}
	l.log.Info("instance started", "instance_id", i.id, "ip", i.ip)
	go func() { _ = i.cmd.Wait(); close(i.exited) }()
	return nil
}

// populateDev makes the few device nodes programs need, and /dev/fd.
func populateDev(dev string) error {
	nodes := []struct {
		name         string
		major, minor uint32
	}{{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}}
	for _, n := range nodes {
		if err := syscall.Mknod(filepath.Join(dev, n.name), syscall.S_IFCHR|0o666, int(unix.Mkdev(n.major, n.minor))); err != nil && !os.IsExist(err) {
			return fmt.Errorf("mknod %s: %w", n.name, err)
		}
	}
	for name, target := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := os.Symlink(target, filepath.Join(dev, name)); err != nil && !os.IsExist(err) {
			return err
		}
	}
	return nil
}

// observe is the simulator's observer: it queues the change and returns at
// once.
func (l *Lab) observe(c sim.Change) {
	select {
	case l.changes <- c:
	case <-l.stopped:
	}
}

// apply makes the simulator's changes real, one at a time, in order.
func (l *Lab) apply(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-l.changes:
			l.applyChange(c)
		}
	}
}

func (l *Lab) applyChange(c sim.Change) {
	l.mu.Lock()
	i := l.instances[c.Instance]
	v := l.volumes[c.Volume]
	l.mu.Unlock()
	if i == nil {
		return
	}
	switch {
	case c.State == "shutting-down":
		// EC2 stops the instance: everything in it dies now.
		l.log.Info("instance shutting down", "instance_id", i.id)
		l.killNetns(netnsPath(i.netns))
	case c.State == "terminated":
		if err := l.destroy(i); err != nil {
			l.log.Error("instance teardown", "instance_id", i.id, "error", err.Error())
		}
	case c.Attachment == "attached" && v != nil:
		if err := l.plug(i, v); err != nil {
			l.log.Error("volume device", "instance_id", i.id, "volume_id", v.id, "error", err.Error())
		}
	case c.Attachment == "detached" && v != nil:
		l.unplug(i, v)
	}
}

// plug makes the volume's device appear in the instance's /dev under the
// names a Nitro instance has: /dev/nvmeXn1 and the udev by-id link.
func (l *Lab) plug(i *instance, v *volume) error {
	l.mu.Lock()
	i.devices++
	name := fmt.Sprintf("nvme%dn1", i.devices)
	l.mu.Unlock()
	dev := filepath.Join(i.dir, "dev")
	if err := syscall.Mknod(filepath.Join(dev, name), syscall.S_IFBLK|0o660, int(v.rdev)); err != nil {
		return fmt.Errorf("mknod %s: %w", name, err)
	}
	link := filepath.Join(dev, "disk/by-id", "nvme-Amazon_Elastic_Block_Store_"+strings.ReplaceAll(v.id, "-", ""))
	_ = os.Remove(link)
	return os.Symlink("../../"+name, link)
}

func (l *Lab) unplug(i *instance, v *volume) {
	link := filepath.Join(i.dir, "dev/disk/by-id", "nvme-Amazon_Elastic_Block_Store_"+strings.ReplaceAll(v.id, "-", ""))
	if target, err := os.Readlink(link); err == nil {
		_ = os.Remove(filepath.Join(i.dir, "dev", filepath.Base(target)))
	}
	_ = os.Remove(link)
}

// destroy ends an instance: its processes, namespace and files. It keeps
// the instance's cloud-init output under logs/ for the report.
func (l *Lab) destroy(i *instance) error {
	var err error
	i.once.Do(func() {
		l.killNetns(netnsPath(i.netns))
		if i.cmd != nil {
			select {
			case <-i.exited:
			case <-l.cfg.Clock.NewTimer(10 * time.Second).C():
				_ = i.cmd.Process.Kill()
			}
		}
		logs := l.dir("logs")
		_ = os.MkdirAll(logs, 0o755)
		// Every log file the instance wrote: the agent's and the
		// application's.
		files, _ := filepath.Glob(filepath.Join(i.dir, "upper/var/log", "*.log"))
		for _, f := range files {
			if b, rerr := os.ReadFile(f); rerr == nil {
				_ = os.WriteFile(filepath.Join(logs, i.id+"-"+filepath.Base(f)), b, 0o644)
			}
		}
		if _, serr := os.Stat(netnsPath(i.netns)); serr == nil {
			err = run(context.Background(), "ip", "netns", "del", i.netns)
		}
		if rerr := os.RemoveAll(i.dir); rerr != nil && err == nil {
			err = rerr
		}
		l.log.Info("instance gone", "instance_id", i.id)
	})
	return err
}

// killNetns kills every process in the namespace, as the end of an
// instance does, and waits until they are gone.
func (l *Lab) killNetns(path string) {
	ino, err := netnsInode(path)
	if err != nil {
		return
	}
	for range 100 {
		pids := pidsIn(ino)
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		_ = clock.Sleep(context.Background(), l.cfg.Clock, 50*time.Millisecond)
	}
	l.log.Error("processes survive in a namespace", "netns", path)
}
