package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// maxLinks bounds the trusted links a path may go through (the kernel's
// own limit is 40).
const maxLinks = 40

// writeNoFollow writes data to path atomically (a temporary file beside it,
// renamed over it) with the given mode and owner, walking the path one
// directory at a time from / with openat. A directory the path goes
// through is never reached through a symbolic link anyone but root could
// have planted: a link is followed only when root owns it and its
// directory is writable by root alone (the system's own, such as
// /var/run); any other link, say one the application's user made on the
// data volume, is refused. Missing directories are created (0755, root's).
// The final name is replaced by the rename, never written through.
func writeNoFollow(path string, data []byte, mode os.FileMode, uid, gid int) error {
	if !filepath.IsAbs(path) || filepath.Clean(path) != path || path == "/" {
		return fmt.Errorf("%q is not a clean absolute file path", path)
	}
	dir, err := openDirNoFollow(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("opening the directory of %s: %w", path, err)
	}
	defer unix.Close(dir)
	base := filepath.Base(path)
	tmp := fmt.Sprintf(".%s.stateful-%d", base, os.Getpid())
	fd, err := unix.Openat(dir, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if errors.Is(err, unix.EEXIST) { // left by a crash: it is ours, replace it
		if err = unix.Unlinkat(dir, tmp, 0); err == nil {
			fd, err = unix.Openat(dir, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		}
	}
	if err != nil {
		return fmt.Errorf("creating a temporary file beside %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), filepath.Join(filepath.Dir(path), tmp))
	ok := false
	defer func() {
		if !ok {
			_ = unix.Unlinkat(dir, tmp, 0)
		}
	}()
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	// Owner first, then the mode: chown clears set-id bits.
	if err := f.Chown(uid, gid); err != nil {
		f.Close()
		return fmt.Errorf("chown of %s to %d:%d: %w", path, uid, gid, err)
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("chmod of %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", path, err)
	}
	if err := unix.Renameat(dir, tmp, dir, base); err != nil {
		return fmt.Errorf("renaming the new %s into place: %w", path, err)
	}
	ok = true
	_ = unix.Fsync(dir)
	return nil
}

// openDirNoFollow opens a directory by walking its path from / with
// O_NOFOLLOW, creating missing directories, following only root's links
// in root-only directories (see writeNoFollow).
func openDirNoFollow(path string) (int, error) {
	fd, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	todo := strings.Split(strings.Trim(path, "/"), "/")
	links := 0
	for len(todo) > 0 {
		name := todo[0]
		todo = todo[1:]
		if name == "" || name == "." {
			continue
		}
		if name == ".." {
			unix.Close(fd)
			return -1, fmt.Errorf("%s: a path through .. is refused", path)
		}
		next, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) {
			if err = unix.Mkdirat(fd, name, 0o755); err == nil || errors.Is(err, unix.EEXIST) {
				next, err = unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			}
		}
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			target, lerr := trustedLink(fd, name)
			if lerr != nil {
				unix.Close(fd)
				return -1, fmt.Errorf("%s: %w", path, lerr)
			}
			if links++; links > maxLinks {
				unix.Close(fd)
				return -1, fmt.Errorf("%s: more than %d links", path, maxLinks)
			}
			if filepath.IsAbs(target) {
				unix.Close(fd)
				if fd, err = unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
					return -1, err
				}
			}
			todo = append(strings.Split(strings.Trim(target, "/"), "/"), todo...)
			continue
		}
		unix.Close(fd)
		if err != nil {
			return -1, fmt.Errorf("opening %s in %s: %w", name, path, err)
		}
		fd = next
	}
	return fd, nil
}

// trustedLink returns the target of the link name in directory dir when
// root made it in a directory only root may write to; otherwise it says
// why the link is refused.
func trustedLink(dir int, name string) (string, error) {
	var st, dst unix.Stat_t
	if err := unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return "", err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		return "", fmt.Errorf("%s is not a directory", name)
	}
	if err := unix.Fstat(dir, &dst); err != nil {
		return "", err
	}
	if st.Uid != 0 || dst.Uid != 0 || dst.Mode&0o022 != 0 {
		return "", fmt.Errorf("%w: %s is a symbolic link that a user other than root could have made (link owner uid %d, its directory's owner uid %d, mode %o): refusing to follow it", ErrRefused, name, st.Uid, dst.Uid, dst.Mode&0o7777)
	}
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(dir, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}
