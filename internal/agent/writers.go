package agent

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stateful-aws/stateful/internal/clock"
)

// stopWriters ends the processes that use the filesystem on device dev
// (major:minor): SIGTERM, then SIGKILL to those left after 10s. It never
// signals itself.
func stopWriters(c clock.Clock, dev uint64) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		pids := users(dev)
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, sig)
		}
		for range 50 {
			if len(users(dev)) == 0 {
				return
			}
			_ = clock.Sleep(context.Background(), c, 200*time.Millisecond)
		}
	}
}

// users lists the processes using the filesystem on device dev: an open
// file, a working directory or root, or a memory-mapped file on it. It
// compares device numbers, not paths, so processes in other mount
// namespaces (where the volume has another path, or none) are found too.
func users(dev uint64) []int {
	procs, _ := os.ReadDir("/proc")
	self := os.Getpid()
	maps := fmt.Sprintf(" %02x:%02x ", unix.Major(dev), unix.Minor(dev))
	var out []int
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == self {
			continue
		}
		base := filepath.Join("/proc", p.Name())
		links := []string{filepath.Join(base, "cwd"), filepath.Join(base, "root")}
		fds, _ := os.ReadDir(filepath.Join(base, "fd"))
		for _, fd := range fds {
			links = append(links, filepath.Join(base, "fd", fd.Name()))
		}
		uses := false
		for _, l := range links {
			var st syscall.Stat_t
			if syscall.Stat(l, &st) == nil && uint64(st.Dev) == dev {
				uses = true
				break
			}
		}
		if uses || mapsDevice(filepath.Join(base, "maps"), maps) {
			out = append(out, pid)
		}
	}
	return out
}

// mapsDevice reports whether a /proc/PID/maps lists a mapping of a file on
// the device, written " maj:min " in hex as maps writes it.
func mapsDevice(path, dev string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.Contains(sc.Text(), dev) {
			return true
		}
	}
	return false
}

func syncAll() { syscall.Sync() }
