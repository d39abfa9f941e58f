package agent

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/stateful-aws/stateful/internal/clock"
)

// stopWriters ends the processes that have files open (or their working
// directory) under dir: SIGTERM, then SIGKILL to those left after 10s. It
// never signals itself.
func stopWriters(c clock.Clock, dir string) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		pids := users(dir)
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, sig)
		}
		for range 50 {
			if len(users(dir)) == 0 {
				return
			}
			_ = clock.Sleep(context.Background(), c, 200*time.Millisecond)
		}
	}
}

// users lists the processes using files under dir.
func users(dir string) []int {
	procs, _ := os.ReadDir("/proc")
	self := os.Getpid()
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
		for _, l := range links {
			if t, err := os.Readlink(l); err == nil && (t == dir || strings.HasPrefix(t, dir+"/")) {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

func syncAll() { syscall.Sync() }
