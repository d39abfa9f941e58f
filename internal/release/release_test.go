package release

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

const repoRoot = "../.."

// hostTarget is the release target this machine runs.
func hostTarget(t *testing.T) Target {
	t.Helper()
	for _, c := range Targets {
		if c.OS == runtime.GOOS && c.Arch == runtime.GOARCH {
			return c
		}
	}
	t.Skipf("releases are not built for %s/%s", runtime.GOOS, runtime.GOARCH)
	return Target{}
}

var hostBuild struct {
	once    sync.Once
	pin     Pin
	bin     string // this source's release binary for this machine
	again   string // the same, built from a copy of the source elsewhere
	copyDir string
	err     error
}

// builtRelease builds this machine's binary of the pinned release twice,
// once for all tests: from the repository, and from a copy of the source
// (no release.tf, no tests) at another path. Each build of the whole
// release costs minutes on 2 cores, so the test builds one target; make
// release builds all four twice and refuses any difference.
func builtRelease(t *testing.T) (pin Pin, bin, again, copyDir string) {
	t.Helper()
	target := hostTarget(t)
	hostBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "stateful-release-test-")
		if err != nil {
			hostBuild.err = err
			return
		}
		hostBuild.pin, hostBuild.err = ReadPin(repoRoot)
		if hostBuild.err != nil {
			return
		}
		root, _ := filepath.Abs(repoRoot)
		hostBuild.bin = filepath.Join(dir, "first", FileName(target))
		hostBuild.copyDir = filepath.Join(dir, "elsewhere", "source")
		hostBuild.again = filepath.Join(dir, "second", FileName(target))
		ctx := context.Background()
		if hostBuild.err = Build(ctx, "go", root, hostBuild.pin.Version, target, hostBuild.bin); hostBuild.err != nil {
			return
		}
		if hostBuild.err = CopySource(root, hostBuild.copyDir); hostBuild.err != nil {
			return
		}
		hostBuild.err = Build(ctx, "go", hostBuild.copyDir, hostBuild.pin.Version, target, hostBuild.again)
	})
	if hostBuild.err != nil {
		t.Fatal(hostBuild.err)
	}
	return hostBuild.pin, hostBuild.bin, hostBuild.again, hostBuild.copyDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if hostBuild.bin != "" {
		_ = os.RemoveAll(filepath.Dir(filepath.Dir(hostBuild.bin)))
	}
	os.Exit(code)
}

// TestReleaseBuildIsReproducibleAndPinned builds this machine's binary of
// the module's release twice, from two paths, and requires identical bytes,
// no trace of either path or of a VCS stamp, the release version inside,
// and the sha256 release.tf pins.
func TestReleaseBuildIsReproducibleAndPinned(t *testing.T) {
	t.Parallel()
	pin, bin, again, copyDir := builtRelease(t)
	target := hostTarget(t)
	first, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	second, err := os.ReadFile(again)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Fatalf("two builds of %s of the same source differ (%d and %d bytes): the release is not reproducible", target, len(first), len(second))
	}
	root, _ := filepath.Abs(repoRoot)
	for _, p := range []string{root, copyDir} {
		if bytes.Contains(first, []byte(p)) {
			t.Errorf("the binary contains the build path %s", p)
		}
	}
	info, err := exec.Command("go", "version", "-m", bin).CombinedOutput()
	if err != nil {
		t.Fatalf("go version -m: %v\n%s", err, info)
	}
	if strings.Contains(string(info), "vcs.") || !strings.Contains(string(info), "-trimpath=true") {
		t.Errorf("build info should have -trimpath and no VCS stamp:\n%s", info)
	}
	if out, err := exec.Command(bin, "version").Output(); err != nil || strings.TrimSpace(string(out)) != pin.Version {
		t.Errorf("%s version = %q, %v; want %s", bin, out, err, pin.Version)
	}
	sum, err := FileSHA256(bin)
	if err != nil {
		t.Fatal(err)
	}
	if sum != pin.Sum(target) {
		goVersion, _ := exec.Command("go", "env", "GOVERSION").Output()
		t.Fatalf("this source builds %s of release %s with sha256 %s, but release.tf pins %s (built with %s; this is %s): "+
			"the source changed since the release. Run make release VERSION=%s and commit release.tf",
			target, pin.Version, sum, pin.Sum(target), pin.GoVersion, strings.TrimSpace(string(goVersion)), pin.Version)
	}
}

func TestLocalsRoundTrip(t *testing.T) {
	t.Parallel()
	p := Pin{Version: "1.2.3-rc.1", GoVersion: "go1.26.8", SHA256: map[string]string{}}
	for i, tg := range Targets {
		p.SHA256[tg.String()] = strings.Repeat(string("abcd"[i]), 64)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, LocalsFile), Locals(p), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadPin(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != p.Version || got.GoVersion != p.GoVersion || len(got.SHA256) != len(Targets) || got.Sum(Targets[3]) != p.Sum(Targets[3]) {
		t.Fatalf("read back %+v, wrote %+v", got, p)
	}
	sums := string(Sums(p))
	if !strings.Contains(sums, strings.Repeat("a", 64)+"  stateful-linux-amd64\n") || strings.Count(sums, "\n") != len(Targets) {
		t.Fatalf("SHA256SUMS:\n%s", sums)
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"", "1.2", "v1.2.3", "1.2.3 ", "1.2.3-'x'"} {
		if err := ValidVersion(v); err == nil {
			t.Errorf("ValidVersion(%q) accepted it", v)
		}
	}
	for _, v := range []string{"0.1.0", "10.20.30-rc.1"} {
		if err := ValidVersion(v); err != nil {
			t.Errorf("ValidVersion(%q): %v", v, err)
		}
	}
	dir := t.TempDir()
	p := Pin{Version: "0.1.0", GoVersion: "go1", SHA256: map[string]string{"linux-amd64": strings.Repeat("a", 64)}}
	if err := os.WriteFile(filepath.Join(dir, LocalsFile), Locals(p), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadPin(dir); err == nil || !strings.Contains(err.Error(), "no sha256 for linux-arm64") {
		t.Errorf("a release.tf without every target: %v", err)
	}
	if _, err := ReadPin(t.TempDir()); err == nil {
		t.Error("no release.tf: no error")
	}
	for _, bad := range []string{`release = "0.1.0"`, `release = { version = "0.1.0" }`, `release = { version = "0.1.0", go_version = "go1", sha256 = "x" }`} {
		if err := os.WriteFile(filepath.Join(dir, LocalsFile), []byte("locals {\n  "+bad+"\n}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadPin(dir); err == nil || !strings.Contains(err.Error(), "run make release VERSION=") {
			t.Errorf("release.tf with %s: %v", bad, err)
		}
	}
}
