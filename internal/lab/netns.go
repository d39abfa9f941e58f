package lab

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// run runs a command and returns its combined output on error.
func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// inNetns runs f on an OS thread switched into the network namespace at
// path: sockets f creates belong to that namespace.
func inNetns(path string, f func() error) error {
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	target, err := os.Open(path)
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer target.Close()
	if err := setns(int(target.Fd())); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("entering network namespace %s: %w", path, err)
	}
	ferr := f()
	if err := setns(int(orig.Fd())); err != nil {
		// The thread stays locked, so the runtime retires it with this
		// goroutine instead of reusing it in the wrong namespace.
		return fmt.Errorf("leaving network namespace %s: %w", path, err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// listenIn listens on addr inside the namespace.
func listenIn(path, addr string) (net.Listener, error) {
	var ln net.Listener
	err := inNetns(path, func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	})
	return ln, err
}

// netnsPath is where `ip netns add NAME` pins a namespace.
func netnsPath(name string) string { return filepath.Join("/run/netns", name) }

// netnsInode identifies a namespace, to find the processes inside it.
func netnsInode(path string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// pidsIn lists the processes whose network namespace has inode ino.
func pidsIn(ino uint64) []int {
	procs, _ := os.ReadDir("/proc")
	var out []int
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat(filepath.Join("/proc", p.Name(), "ns", "net"), &st) == nil && st.Ino == ino {
			out = append(out, pid)
		}
	}
	return out
}
