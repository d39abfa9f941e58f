package tfmodule

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/stateful-aws/stateful/internal/proctest"
	"github.com/stateful-aws/stateful/internal/tfeval"
)

// TestRollScriptRunsOnlyWhatItHashed renders templates/roll.sh.tftpl and
// runs it with a fake curl and fake stateful binaries (shell scripts): the
// bytes that run are always a copy in the script's own private directory
// whose sha256 is the pinned one; a PATH binary or a cached one with other
// bytes (the same version string, rebuilt) is never run, a bad download is
// refused, nothing is cached without HOME, and the private directory is
// gone afterwards.
func TestRollScriptRunsOnlyWhatItHashed(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" || (runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64") {
		t.Skip("the roll script's test runs on Linux amd64 or arm64 (it checks the cache of this machine's binary)")
	}
	for _, tool := range []string{"sh", "sha256sum", "mktemp"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	good := "#!/bin/sh\necho \"GOOD-RAN $0 $*\"\n"
	evil := "#!/bin/sh\necho \"EVIL-RAN $0 $*\"\nexit 0\n"
	sum := sha256.Sum256([]byte(good))
	want := hex.EncodeToString(sum[:])
	src, err := os.ReadFile(filepath.Join(root, "templates", "roll.sh.tftpl"))
	if err != nil {
		t.Fatal(err)
	}
	script, err := tfeval.RenderTemplate(src, "roll.sh.tftpl", map[string]cty.Value{
		"version":  cty.StringVal("0.1.0"),
		"base_url": cty.StringVal("https://releases.example.com"),
		"sha256": cty.MapVal(map[string]cty.Value{
			"linux-amd64": cty.StringVal(want), "linux-arm64": cty.StringVal(want),
			"darwin-amd64": cty.StringVal(want), "darwin-arm64": cty.StringVal(want),
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name                  string
		onPath, cached, serve string // "" = none
		noHome                bool
		wantCode              int
		wantOut               string
		wantDownload          bool
	}{
		{name: "the pinned binary on the PATH", onPath: good, wantOut: "GOOD-RAN"},
		{name: "same version, other bytes on the PATH", onPath: evil, serve: good, wantOut: "GOOD-RAN", wantDownload: true},
		{name: "a tampered cache", cached: evil, serve: good, wantOut: "GOOD-RAN", wantDownload: true},
		{name: "a good cache", cached: good, wantOut: "GOOD-RAN"},
		{name: "no HOME: no cache", noHome: true, serve: good, wantOut: "GOOD-RAN", wantDownload: true},
		{name: "a tampered download", serve: evil, wantCode: 1, wantOut: "the sha256 the module pins for it: refusing to run it", wantDownload: true},
		{name: "no download", wantCode: 1, wantOut: "could not download https://releases.example.com/v0.1.0/stateful-", wantDownload: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			bin, home, tmp := filepath.Join(dir, "bin"), filepath.Join(dir, "home"), filepath.Join(dir, "tmp")
			for _, d := range []string{bin, home, tmp} {
				if err := os.Mkdir(d, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			write := func(path, content string) {
				t.Helper()
				if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			served := filepath.Join(dir, "served")
			if c.serve != "" {
				write(served, c.serve)
			}
			// curl -fsSL ... -o FILE URL: copies the served file, or fails
			// as curl does on a 404 (exit 22); every call is recorded.
			write(filepath.Join(bin, "curl"), `#!/bin/sh
echo "$*" >>"`+filepath.Join(dir, "curl.log")+`"
while [ $# -gt 0 ]; do case "$1" in -o) out=$2; shift ;; esac; shift; done
[ -f "`+served+`" ] || exit 22
cp "`+served+`" "$out"
`)
			if c.onPath != "" {
				write(filepath.Join(bin, "stateful"), c.onPath)
			}
			cache := filepath.Join(home, ".cache", "stateful", "v0.1.0")
			if c.cached != "" {
				for _, p := range []string{"linux-amd64", "linux-arm64"} {
					write(filepath.Join(cache, "stateful-"+p), c.cached)
				}
			}
			cmd := proctest.Command(t, "sh", "-c", script, "stateful", "roll")
			cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "TMPDIR=" + tmp}
			if !c.noHome {
				cmd.Env = append(cmd.Env, "HOME="+home)
			}
			out, err := cmd.CombinedOutput("the roll trigger's script")
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			text := string(out)
			if code != c.wantCode || !strings.Contains(text, c.wantOut) || strings.Contains(text, "EVIL-RAN") {
				t.Fatalf("exit %d (want %d), output:\n%s(want %q and never the other bytes run)", code, c.wantCode, text, c.wantOut)
			}
			if code == 0 && !strings.Contains(text, "GOOD-RAN "+tmp+"/stateful-roll.") || code == 0 && !strings.HasSuffix(strings.TrimSpace(text), " roll") {
				t.Errorf("ran %q: want the private copy under %s, with the roll subcommand", text, tmp)
			}
			if left, _ := os.ReadDir(tmp); len(left) != 0 {
				t.Errorf("the private directory is left behind: %v", left)
			}
			_, err = os.Stat(filepath.Join(dir, "curl.log"))
			if downloaded := err == nil; downloaded != c.wantDownload {
				t.Errorf("downloaded: %v, want %v", downloaded, c.wantDownload)
			}
			if c.noHome {
				if entries, _ := os.ReadDir(home); len(entries) != 0 {
					t.Errorf("a cache was written without HOME: %v", entries)
				}
			} else if code == 0 && c.wantDownload {
				// This machine's binary (the tests run on Linux).
				if b, err := os.ReadFile(filepath.Join(cache, "stateful-linux-"+runtime.GOARCH)); err != nil || string(b) != good {
					t.Errorf("the cache after the download: %q, %v; want the pinned bytes", b, err)
				}
				if leftovers, _ := filepath.Glob(filepath.Join(cache, ".stateful.*")); len(leftovers) != 0 {
					t.Errorf("temporary files left in the cache: %v", leftovers)
				}
			}
		})
	}
}
