package lab

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A configuration another local user could change is refused before the
// lab (root) reads it: a directory or file writable by others, or owned by
// someone who is neither root nor the user who ran sudo.
func TestConfigurationOthersCanChangeIsRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: as another user the lab checks nothing (it cannot do more than that user)")
	}
	t.Setenv("SUDO_UID", "")
	base := t.TempDir() // under /tmp: sticky, so accepted above the configuration
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "cfg")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "main.tf")
	if err := os.WriteFile(file, []byte("# x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := trustedDir(dir); err != nil {
		t.Fatalf("a root-owned configuration: %v", err)
	}
	for _, c := range []struct {
		what  string
		setup func() error
		undo  func() error
		want  string
	}{
		{"directory writable by others", func() error { return os.Chmod(dir, 0o777) }, func() error { return os.Chmod(dir, 0o755) }, "writable by other users"},
		{"file writable by others", func() error { return os.Chmod(file, 0o666) }, func() error { return os.Chmod(file, 0o644) }, "writable by other users"},
		{"parent writable, not sticky", func() error { return os.Chmod(base, 0o777) }, func() error { return os.Chmod(base, 0o755) }, "writable by other users"},
		{"file of another user", func() error { return os.Chown(file, 12345, 12345) }, func() error { return os.Chown(file, 0, 0) }, "owned by uid 12345"},
	} {
		if err := c.setup(); err != nil {
			t.Fatal(err)
		}
		err := trustedDir(dir)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.what, err, c.want)
		}
		if err := c.undo(); err != nil {
			t.Fatal(err)
		}
	}
	// The user who ran sudo may own it.
	t.Setenv("SUDO_UID", "12345")
	if err := os.Chown(file, 12345, 12345); err != nil {
		t.Fatal(err)
	}
	if err := trustedDir(dir); err != nil {
		t.Errorf("a file of the user who ran sudo: %v", err)
	}
}
