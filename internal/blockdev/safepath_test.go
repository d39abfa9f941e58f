package blockdev

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func owner(t *testing.T, p string) (uint32, uint32) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Uid, st.Gid
}

// A mount path is accepted only when no component can be swapped by
// anyone but root: a link, or a directory another user owns or may write
// to, is refused; missing components are made; /tmp's sticky bit is enough
// when root owns the entry in it. Root only (chown to another user).
func TestSafeMountPoint(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: makes directories of another user")
	}
	base := t.TempDir() // root's, 0700, under the sticky /tmp
	if err := SafeMountPoint(filepath.Join(base, "a", "b", "data")); err != nil {
		t.Fatalf("a fresh path under root's directories: %v", err)
	}
	if fi, err := os.Lstat(filepath.Join(base, "a", "b", "data")); err != nil || !fi.IsDir() {
		t.Fatalf("the mount point was not made: %v", err)
	}
	if err := os.Symlink("/etc", filepath.Join(base, "link")); err != nil {
		t.Fatal(err)
	}
	user := filepath.Join(base, "user")
	if err := os.Mkdir(user, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(user, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(base, "open")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		filepath.Join(base, "link", "data"): "symbolic link",
		filepath.Join(base, "link"):         "symbolic link",
		filepath.Join(user, "data"):         "owned by uid 65534",
		filepath.Join(open, "data"):         "writable by group or others",
	} {
		if err := SafeMountPoint(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want a refusal saying %q", path, err, want)
		}
	}
	if _, err := os.Stat("/etc/data"); err == nil {
		t.Fatal("a directory was made through the link")
	}
}

// The recursive chown changes the volume's files and the links themselves,
// never what a link points to.
func TestChownFollowsNoLink(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: chown")
	}
	root := t.TempDir()
	outside := filepath.Join(t.TempDir(), "precious")
	if err := os.WriteFile(outside, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"d", "d/e"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "d", "e", "f"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "d", "to-outside")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Dir(outside), filepath.Join(root, "d", "dir-outside")); err != nil {
		t.Fatal(err)
	}
	changed, err := Chown(root, "65534", "65534", true)
	if err != nil || !changed {
		t.Fatalf("Chown: %v %v", changed, err)
	}
	for _, p := range []string{root, filepath.Join(root, "d", "e", "f"), filepath.Join(root, "d", "to-outside"), filepath.Join(root, "d", "dir-outside")} {
		if uid, gid := owner(t, p); uid != 65534 || gid != 65534 {
			t.Errorf("%s: owned by %d:%d, want 65534:65534", p, uid, gid)
		}
	}
	if uid, _ := owner(t, outside); uid != 0 {
		t.Errorf("the file a link points to was chowned to %d", uid)
	}
	if uid, _ := owner(t, filepath.Dir(outside)); uid != 0 {
		t.Errorf("the directory a link points to was chowned to %d", uid)
	}
}
