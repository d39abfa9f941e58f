package blockdev

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// tree builds a fake /dev and /sys/block.
func tree(t *testing.T, files map[string]string, links map[string]string) Finder {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for p, target := range links {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, full); err != nil {
			t.Fatal(err)
		}
	}
	return Finder{Dev: filepath.Join(root, "dev"), SysBlock: filepath.Join(root, "sys/block")}
}

func TestFind(t *testing.T) {
	t.Parallel()
	const vol = "vol-0123456789abcdef0"
	cases := []struct {
		name  string
		files map[string]string
		links map[string]string
		hint  string
		want  string // relative to dev; "" for ErrNotFound
	}{
		{"udev link", map[string]string{"dev/nvme2n1": "", "sys/block/nvme2n1/device/serial": "vol0123456789abcdef0"},
			map[string]string{"dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0": "../../nvme2n1"}, "/dev/sdf", "nvme2n1"},
		{"sysfs serial, space padded, no udev", map[string]string{"dev/nvme0n1": "", "dev/nvme1n1": "", "sys/block/nvme0n1/device/serial": "vol0aaaaaaaaaaaaaaaa  \n",
			"sys/block/nvme1n1/device/serial": "vol0123456789abcdef0      \n"}, nil, "/dev/sdf", "nvme1n1"},
		{"nitro, not attached yet: never the hint", map[string]string{"dev/nvme0n1": "", "dev/sdf": "", "sys/block/nvme0n1/device/serial": "vol0aaaaaaaaaaaaaaaa"}, nil, "/dev/sdf", ""},
		{"xen, requested name", map[string]string{"dev/sdf": "", "sys/block/sdf/dev": "8:80", "sys/block/sdf/size": "33554432\n"}, nil, "/dev/sdf", "sdf"},
		{"xen, renamed to xvd", map[string]string{"dev/xvdf": "", "sys/block/xvdf/dev": "202:80", "sys/block/xvdf/size": "33554432\n"}, nil, "/dev/sdf", "xvdf"},
		{"xen, another disk at the name", map[string]string{"dev/xvdf": "", "sys/block/xvdf/dev": "202:80", "sys/block/xvdf/size": "157286400\n"}, nil, "/dev/sdf", ""},
		{"xen, size unknown", map[string]string{"dev/xvdf": ""}, nil, "/dev/sdf", ""},
		{"xen, not there", map[string]string{"dev/xvda": ""}, nil, "/dev/sdf", ""},
	}
	for _, c := range cases {
		f := tree(t, c.files, c.links)
		got, err := f.Find(vol, c.hint, 16<<30)
		if c.want == "" {
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("%s: Find = %q, %v; want ErrNotFound", c.name, got, err)
			}
			continue
		}
		if err != nil || got != filepath.Join(f.Dev, c.want) {
			t.Errorf("%s: Find = %q, %v; want %s", c.name, got, err, c.want)
		}
	}
}

func TestFormatNamesThePackageOfAMissingTool(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for fs, pkg := range map[string]string{"xfs": "xfsprogs", "ext4": "e2fsprogs"} {
		err := Format(t.Context(), "/dev/null", fs, "st-x")
		if err == nil || err.Error() != "mkfs."+fs+" is not installed: install the "+pkg+" package in the image" {
			t.Errorf("Format without mkfs.%s: %v", fs, err)
		}
	}
	if err := Format(t.Context(), "/dev/null", "btrfs", "st-x"); err == nil {
		t.Error("btrfs accepted")
	}
}
