package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// trustedDir refuses a configuration directory whose files another local
// user could change: the lab runs as root, and evaluates the directory's
// HCL, runs its node script in the instances and its probe commands on the
// host. The directory, every directory above it and every file in it must
// be owned by root or by the user who ran sudo (SUDO_UID), and writable by
// no one else; a directory above it that others may write must be sticky
// (as /tmp is: nobody else can rename or remove what is in it). Run as
// another user, the lab cannot do more than that user, and nothing is
// checked.
func trustedDir(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	owners := map[uint32]bool{0: true}
	if id, err := strconv.ParseUint(os.Getenv("SUDO_UID"), 10, 32); err == nil {
		owners[uint32(id)] = true
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	check := func(path string, ancestor bool) error {
		var st syscall.Stat_t
		if err := syscall.Stat(path, &st); err != nil {
			return fmt.Errorf("checking %s: %w", path, err)
		}
		if !owners[st.Uid] {
			return fmt.Errorf("%s is owned by uid %d, neither root nor the user who ran sudo: the lab runs its configuration as root and will not read it (chown it)", path, st.Uid)
		}
		writable := st.Mode&0o022 != 0
		if writable && !(ancestor && st.Mode&syscall.S_ISVTX != 0) {
			return fmt.Errorf("%s is writable by other users (mode %o): the lab runs its configuration as root and will not read it (chmod go-w %s)", path, st.Mode&0o777, path)
		}
		return nil
	}
	if err := check(abs, false); err != nil {
		return err
	}
	for p := filepath.Dir(abs); ; p = filepath.Dir(p) {
		if err := check(p, true); err != nil {
			return err
		}
		if p == "/" {
			break
		}
	}
	entries, err := os.ReadDir(abs)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Type().IsRegular() {
			if err := check(filepath.Join(abs, e.Name()), false); err != nil {
				return err
			}
		}
	}
	return nil
}
