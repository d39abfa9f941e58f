package lab

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
)

// The state file tells `lab down` which process to kill and which
// namespaces, loop devices and directory to remove, so it must come from
// the lab itself: root's file, 0600, in root's 0700 work directory, and
// every field of the shape the lab writes.

var (
	labIDPattern   = regexp.MustCompile(`^stl[0-9a-f]{4}$`)
	clusterPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,39}$`) // the module's app_name
	secretPattern  = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// maxStateBytes bounds the state file read.
const maxStateBytes = 64 << 10

// writePrivate writes a root-only file atomically, never through a link.
func writePrivate(path string, data []byte) error {
	if err := privateDir(filepath.Dir(path)); err != nil {
		return err
	}
	tmp := path + ".tmp"
	_ = os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("writing the lab's state %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing the lab's state %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing the lab's state %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// readPrivate reads a file only when it is a regular file of this user's,
// 0600 (or stricter), not a link, in a directory of this user's that no
// one else may write.
func readPrivate(path string) ([]byte, error) {
	var dir syscall.Stat_t
	if err := syscall.Lstat(filepath.Dir(path), &dir); err != nil {
		return nil, err
	}
	uid := uint32(os.Geteuid())
	if dir.Mode&syscall.S_IFMT != syscall.S_IFDIR || dir.Uid != uid || dir.Mode&0o022 != 0 {
		return nil, fmt.Errorf("the lab's directory %s is not uid %d's alone (owner %d, mode %o): refusing to trust %s", filepath.Dir(path), uid, dir.Uid, dir.Mode&0o7777, path)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return nil, err
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG || st.Uid != uid || st.Mode&0o077 != 0 {
		return nil, fmt.Errorf("the lab's state %s is not a 0600 file of uid %d (owner %d, mode %o): refusing to trust it", path, uid, st.Uid, st.Mode&0o7777)
	}
	return io.ReadAll(io.LimitReader(f, maxStateBytes))
}

// parseState checks every field: an ID of the lab's shape (it names the
// namespaces and the directory lab down removes), a PID of a running
// process of this same program (lab down signals it), an endpoint on the
// loopback, a cluster name as the module allows it, a secret of the lab's shape.
func parseState(path string, b []byte) (State, error) {
	var s State
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return State{}, fmt.Errorf("the lab's state %s is not what lab up writes: %w", path, err)
	}
	bad := func(what string, v any) (State, error) {
		return State{}, fmt.Errorf("the lab's state %s has %s %v, not one lab up writes: refusing to act on it", path, what, v)
	}
	if !labIDPattern.MatchString(s.ID) {
		return bad("id", strconv.Quote(s.ID))
	}
	if u, err := url.Parse(s.Endpoint); err != nil || u.Scheme != "http" || u.Hostname() != "127.0.0.1" || u.Path != "" {
		return bad("endpoint", strconv.Quote(s.Endpoint))
	}
	if !clusterPattern.MatchString(s.Cluster) {
		return bad("cluster", strconv.Quote(s.Cluster))
	}
	if !secretPattern.MatchString(s.Secret) {
		return bad("secret", "(of the wrong shape)")
	}
	if s.PID <= 1 {
		return bad("pid", s.PID)
	}
	if s.PID != os.Getpid() && !sameProgram(s.PID) {
		// Gone, or another program: not signalled, its leftovers still removed.
		s.PID = 0
	}
	return s, nil
}

// sameProgram reports whether pid runs this very executable.
func sameProgram(pid int) bool {
	self, err := os.Executable()
	if err != nil {
		return false
	}
	exe, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "exe"))
	return err == nil && exe == self
}
