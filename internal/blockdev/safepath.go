package blockdev

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// The data volume's mount point and its owner are set as root on paths a
// non-root user may otherwise influence (the previous instance's files on
// the volume, a mount path under a directory someone else may write). Every
// step here works on file descriptors, never follows a symbolic link, and
// never crosses into another filesystem, so a link or a rename swapped in
// between a check and an action cannot redirect root's mount or chown.

// SafeMountPoint makes sure path is a directory that only root can swap:
// every ancestor is a real directory (no symbolic link) owned by root and
// writable by no one else (or sticky, as /tmp, with root's entry in it),
// walked from / with openat and O_NOFOLLOW.
// Missing components are created (0755, root's). A mount on the result
// cannot be redirected: replacing any component needs root.
func SafeMountPoint(path string) error {
	if !strings.HasPrefix(path, "/") || path == "/" {
		return fmt.Errorf("mount path %q must be an absolute path other than /", path)
	}
	fd, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening /: %w", err)
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	walked := ""
	for _, name := range parts {
		shared, err := rootOnly(fd, walked+"/")
		if err != nil {
			unix.Close(fd)
			return fmt.Errorf("mount path %s: %w", path, err)
		}
		if name == "" || name == "." || name == ".." {
			unix.Close(fd)
			return fmt.Errorf("mount path %s has an empty, . or .. component", path)
		}
		walked += "/" + name
		next, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) {
			if err = unix.Mkdirat(fd, name, 0o755); err == nil || errors.Is(err, unix.EEXIST) {
				next, err = unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			}
		}
		unix.Close(fd)
		if err != nil {
			if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
				return fmt.Errorf("mount path %s: %s is a symbolic link or not a directory; refused", path, walked)
			}
			return fmt.Errorf("mount path %s: opening %s: %w", path, walked, err)
		}
		fd = next
		if shared {
			// In a sticky directory others may write (/tmp), only an
			// entry's owner can rename it: it must be root's.
			var st unix.Stat_t
			if err := unix.Fstat(fd, &st); err != nil || st.Uid != 0 {
				unix.Close(fd)
				return fmt.Errorf("mount path %s: %s, in a directory others may write, is not root's; a mount on it could be redirected", path, walked)
			}
		}
	}
	unix.Close(fd)
	return nil
}

// rootOnly refuses a directory that someone other than root owns or may
// write to, where its entries could be swapped for symbolic links; a
// sticky directory (/tmp) is accepted, reported shared: there only an
// entry's owner may rename it.
func rootOnly(fd int, name string) (shared bool, err error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false, err
	}
	if st.Uid != 0 {
		return false, fmt.Errorf("%s is owned by uid %d, not root; a mount below it could be redirected", name, st.Uid)
	}
	if st.Mode&0o022 != 0 {
		if st.Mode&unix.S_ISVTX == 0 {
			return false, fmt.Errorf("%s is writable by group or others (mode %o); a mount below it could be redirected", name, st.Mode&0o7777)
		}
		return true, nil
	}
	return false, nil
}

// Chown gives root to owner:group when it is not theirs already, and the
// whole tree beneath it when recursive. Empty names leave that id alone.
// It never follows a symbolic link (fchownat with AT_SYMLINK_NOFOLLOW),
// descends through directory descriptors opened with O_NOFOLLOW and checked
// to be the entry it looked at, and stays on root's filesystem: a link or
// rename swapped in mid-walk changes nothing outside the volume.
func Chown(root, owner, group string, recursive bool) (bool, error) {
	uid, gid := -1, -1
	var err error
	if owner != "" {
		if uid, err = LookupID(owner, false); err != nil {
			return false, err
		}
	}
	if group != "" {
		if gid, err = LookupID(group, true); err != nil {
			return false, err
		}
	}
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, fmt.Errorf("opening %s: %w", root, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false, err
	}
	if (uid < 0 || int(st.Uid) == uid) && (gid < 0 || int(st.Gid) == gid) {
		return false, nil
	}
	if err := unix.Fchown(fd, uid, gid); err != nil {
		return true, fmt.Errorf("chown %s: %w", root, err)
	}
	if !recursive {
		return true, nil
	}
	return true, chownTree(fd, root, uint64(st.Dev), uid, gid)
}

// chownTree chowns every entry of the open directory dir, and below.
func chownTree(dir int, path string, dev uint64, uid, gid int) error {
	f := os.NewFile(uintptr(dup(dir)), path)
	if f == nil {
		return fmt.Errorf("reading %s: cannot duplicate its descriptor", path)
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	for _, name := range names {
		p := path + "/" + name
		var st unix.Stat_t
		if err := unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue // removed meanwhile
			}
			return fmt.Errorf("stat %s: %w", p, err)
		}
		if uint64(st.Dev) != dev {
			continue // a mount on the volume: not the volume's
		}
		if err := unix.Fchownat(dir, name, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("chown %s: %w", p, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			continue
		}
		sub, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			continue // swapped meanwhile: not followed
		}
		if err != nil {
			return fmt.Errorf("opening %s: %w", p, err)
		}
		var got unix.Stat_t
		if err := unix.Fstat(sub, &got); err != nil || got.Dev != st.Dev || got.Ino != st.Ino {
			unix.Close(sub) // another directory was swapped in: not ours to walk
			continue
		}
		err = chownTree(sub, p, dev, uid, gid)
		unix.Close(sub)
		if err != nil {
			return err
		}
	}
	return nil
}

func dup(fd int) int {
	n, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return n
}
