package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/stateful-aws/stateful/internal/clock"
)

// State is what `stateful lab up` leaves for the other lab commands.
type State struct {
	PID      int    `json:"pid"`
	ID       string `json:"id"`
	Endpoint string `json:"endpoint"`
	Cluster  string `json:"cluster"`
	// Secret signs requests to Endpoint (secret.go): the file is 0600.
	Secret string `json:"secret"`
}

func statePath(workDir string) string { return filepath.Join(workDir, "current.json") }

// SaveState records the running lab, readable by root only: it holds the
// secret of the lab's endpoint.
func (l *Lab) SaveState() error {
	b, _ := json.MarshalIndent(State{PID: os.Getpid(), ID: l.id, Endpoint: l.Endpoint, Cluster: l.spec.Name, Secret: l.secret}, "", "  ")
	return writePrivate(statePath(l.cfg.WorkDir), b)
}

// ClearState forgets the running lab.
func ClearState(workDir string) { _ = os.Remove(statePath(workDir)) }

// LoadState reads the running lab's state, and checks it before anyone
// acts on it (lab down kills its PID and removes its ID's directory): see
// readState.
func LoadState(workDir string) (State, error) {
	b, err := readPrivate(statePath(workDir))
	if errors.Is(err, os.ErrNotExist) {
		return State{}, fmt.Errorf("no lab is running (no %s): start one with stateful lab up", statePath(workDir))
	}
	if err != nil {
		return State{}, err
	}
	return parseState(statePath(workDir), b)
}

// Stop ends the lab that `stateful lab up` runs (it tears itself down), and
// removes what a lab that died without tearing down left behind: its
// namespaces, loop devices and files.
func Stop(ctx context.Context, workDir string, c clock.Clock) error {
	s, err := LoadState(workDir)
	if err != nil {
		return err
	}
	if s.PID > 0 && syscall.Kill(s.PID, syscall.SIGTERM) == nil {
		for range 300 {
			if syscall.Kill(s.PID, 0) != nil {
				break
			}
			if err := clock.Sleep(ctx, c, 100*time.Millisecond); err != nil {
				return err
			}
		}
	}
	var errs []error
	if out, err := exec.Command("ip", "netns", "list").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) > 0 && strings.HasPrefix(f[0], s.ID+"-") {
				name := f[0]
				for _, pid := range pidsInNamed(name) {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
				if err := run(ctx, "ip", "netns", "del", name); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	dir := filepath.Join(workDir, s.ID)
	if out, err := exec.Command("losetup", "-a").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			if dev, _, ok := strings.Cut(line, ":"); ok && strings.Contains(line, dir) {
				if err := run(ctx, "losetup", "-d", dev); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		errs = append(errs, err)
	}
	ClearState(workDir)
	return errors.Join(errs...)
}

func pidsInNamed(name string) []int {
	ino, err := netnsInode(netnsPath(name))
	if err != nil {
		return nil
	}
	return pidsIn(ino)
}
