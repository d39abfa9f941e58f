package blockdev

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A mount path with a space, a tab, a newline or a backslash stays one
// field of one fstab line, with nofail kept: fstab(5)'s octal escapes.
func TestFstabFieldsAreEscaped(t *testing.T) {
	t.Parallel()
	fstab := filepath.Join(t.TempDir(), "fstab")
	if err := os.WriteFile(fstab, []byte("/dev/root / ext4 defaults 0 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mnt := "/my data\n/dev/sdz /etc xfs defaults 0 0\t\\x"
	if _, err := EnsureFstab(fstab, "1234-abcd", mnt, "xfs", []string{"noatime"}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(fstab)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 {
		t.Fatalf("fstab has %d lines, want 2:\n%s", len(lines), b)
	}
	f := strings.Fields(lines[1])
	if len(f) != 6 || f[1] != `/my\040data\012/dev/sdz\040/etc\040xfs\040defaults\0400\0400\011\134x` || f[3] != "noatime,nofail" {
		t.Fatalf("the entry's fields: %q", f)
	}
	// Idempotent: the escaped entry is recognised as this mount point's.
	if changed, err := EnsureFstab(fstab, "1234-abcd", mnt, "xfs", []string{"noatime"}); err != nil || changed {
		t.Fatalf("second EnsureFstab: changed %v, %v", changed, err)
	}
}
