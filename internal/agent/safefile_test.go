package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/stateful-aws/stateful/internal/blockdev/looptest"
	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/sim"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: node files are written as root, with owners, beside links other users planted")
	}
}

// The application's user owns the data volume's root: links it plants
// there must not redirect node files written beneath the mount, be they a
// directory link on the way, a link or a FIFO at the file's own name.
// Root's own links in root-only directories (a system's /var/run) are
// still followed. Run on a real filesystem on a loop device.
func TestNodeFilesNeverFollowPlantedLinks(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	dev, _ := looptest.Device(t, 300*looptest.MiB)
	mnt := looptest.MountDir(t)
	disk := OSDisk{Fstab: filepath.Join(t.TempDir(), "fstab"), Clock: clock.Real{}}
	v := Volume{MountPath: mnt, FileSystem: "xfs", Owner: "65534", Group: "65534"}
	if _, err := disk.Prepare(ctx, dev, Stamp{Cluster: "kafka", NodeID: "01"}, v); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = disk.Release(context.Background(), mnt, dev) })

	outside := t.TempDir() // stands for /etc: what a planted link aims at
	victim := filepath.Join(outside, "passwd")
	if err := os.WriteFile(victim, []byte("root:x:0:0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	plant := func(link, target string) {
		t.Helper()
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		// Made by the application's user (nobody), who owns the mount root.
		if err := os.Lchown(link, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	plant(filepath.Join(mnt, "conf"), outside)
	plant(filepath.Join(mnt, "app.conf"), victim)
	if err := syscall.Mkfifo(filepath.Join(mnt, "fifo.conf"), 0o666); err != nil {
		t.Fatal(err)
	}

	// Through a planted directory link: refused, nothing written outside.
	err := writeNoFollow(filepath.Join(mnt, "conf", "passwd"), []byte("evil\n"), 0o600, 0, 0)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "refusing to follow") {
		t.Fatalf("through a planted directory link: %v", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "root:x:0:0\n" {
		t.Fatalf("the link's target was written: %q", b)
	}
	if _, err := os.Stat(filepath.Join(outside, ".passwd.stateful-"+strconv.Itoa(os.Getpid()))); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a temporary file was left outside")
	}

	// A link, or a FIFO, at the file's own name is replaced, never
	// written through, and never blocks.
	done := make(chan error, 1)
	go func() {
		if err := writeNoFollow(filepath.Join(mnt, "app.conf"), []byte("mine\n"), 0o600, 0, 0); err != nil {
			done <- err
			return
		}
		done <- writeNoFollow(filepath.Join(mnt, "fifo.conf"), []byte("mine\n"), 0o640, 0, 65534)
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute): // a hang is the failure; this only ends the test
		t.Fatal("writing over a planted FIFO blocked")
	}
	if b, _ := os.ReadFile(victim); string(b) != "root:x:0:0\n" {
		t.Fatalf("the link's target was written: %q", b)
	}
	for name, want := range map[string]os.FileMode{"app.conf": 0o600, "fifo.conf": 0o640} {
		st, err := os.Lstat(filepath.Join(mnt, name))
		if err != nil || !st.Mode().IsRegular() || st.Mode().Perm() != want {
			t.Fatalf("%s: %v %v, want a regular file %o", name, st.Mode(), err, want)
		}
		if sys := st.Sys().(*syscall.Stat_t); name == "fifo.conf" && (sys.Uid != 0 || sys.Gid != 65534) {
			t.Fatalf("fifo.conf owned %d:%d, want 0:65534", sys.Uid, sys.Gid)
		}
	}

	// Missing directories are made, root's.
	deep := filepath.Join(mnt, "a", "b", "c.conf")
	if err := writeNoFollow(deep, []byte("x"), 0o600, 0, 0); err != nil {
		t.Fatal(err)
	}

	// Root's own link in a root-only directory is followed.
	sys := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(sys, "run")); err != nil {
		t.Fatal(err)
	}
	if err := writeNoFollow(filepath.Join(sys, "run", "app.pid"), []byte("42\n"), 0o644, 0, 0); err != nil {
		t.Fatalf("through root's own link: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "app.pid")); string(b) != "42\n" {
		t.Fatalf("through root's own link: %q", b)
	}
}

// TestSecretFilesComeFromSSMDecrypted: a file whose config names an SSM
// parameter gets the parameter's decrypted value, its owner, group and
// mode (0600 by default); the value is never in the config. A missing
// parameter fails the step, naming it.
func TestSecretFilesComeFromSSMDecrypted(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	e, err := sim.New(sim.Config{Clock: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))})
	if err != nil {
		t.Fatal(err)
	}
	const secret = "tls private key\n"
	if _, err := e.SSM().PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/kafka/00/tls.key"), Value: aws.String(secret), Type: ssmtypes.ParameterTypeSecureString}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := &Config{Files: []File{
		{Path: filepath.Join(dir, "tls.key"), SSMParameter: "/kafka/00/tls.key", Owner: "65534", Group: "65534"},
		{Path: filepath.Join(dir, "app.conf"), ContentBase64: b64("id=00\n")},
	}}
	a := &Agent{cfg: cfg, log: discard(), d: Deps{Clock: clock.Real{}, SSM: e.SSM()}}
	if err := a.writeFiles(ctx); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]struct {
		body     string
		uid, gid uint32
	}{"tls.key": {secret, 65534, 65534}, "app.conf": {"id=00\n", 0, 0}} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		st, _ := os.Stat(filepath.Join(dir, name))
		sys := st.Sys().(*syscall.Stat_t)
		if err != nil || string(b) != want.body || st.Mode().Perm() != 0o600 || sys.Uid != want.uid || sys.Gid != want.gid {
			t.Errorf("%s: %q %o %d:%d, %v; want %q 0600 %d:%d", name, b, st.Mode().Perm(), sys.Uid, sys.Gid, err, want.body, want.uid, want.gid)
		}
	}
	cfg.Files = []File{{Path: filepath.Join(dir, "missing"), SSMParameter: "/kafka/00/missing"}}
	if err := a.writeFiles(ctx); err == nil || !strings.Contains(err.Error(), "/kafka/00/missing") {
		t.Fatalf("a missing parameter: %v", err)
	}
}

// A step that never returns fails at its bound instead of holding the
// launch for ever (in a synctest bubble: virtual time).
func TestStepsAreBoundedInTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := &Agent{log: discard(), d: Deps{Clock: clock.Real{}}}
		hang := a.bounded(90*time.Second, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
		start := time.Now()
		err := hang(context.Background())
		if err == nil || !strings.Contains(err.Error(), "within 1m30s") || time.Since(start) != 90*time.Second {
			t.Fatalf("a hanging step: %v after %s", err, time.Since(start))
		}
		quick := a.bounded(time.Hour, func(context.Context) error { return nil })
		if err := quick(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}
