package release

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/stateful-aws/stateful/internal/proctest"
)

// renderRoll renders templates/roll.sh.tftpl as the module's agent.tf does.
func renderRoll(t *testing.T, version, baseURL string, sums map[string]string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(repoRoot, "templates", "roll.sh.tftpl"))
	if err != nil {
		t.Fatal(err)
	}
	expr, diags := hclsyntax.ParseTemplate(src, "roll.sh.tftpl", hcl.Pos{Line: 1, Column: 1})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	m := map[string]cty.Value{}
	for k, v := range sums {
		m[k] = cty.StringVal(v)
	}
	v, diags := expr.Value(&hcl.EvalContext{Variables: map[string]cty.Value{
		"version": cty.StringVal(version), "base_url": cty.StringVal(baseURL), "sha256": cty.MapVal(m)}})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	return v.AsString()
}

// TestRollTrigger runs the roll trigger's command with a shell, a fake
// stateful on the PATH or none, and a release server on 127.0.0.1.
func TestRollTrigger(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"sh", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (.ci/run installs curl)", tool)
		}
	}
	target := hostTarget(t)
	// The "release binary" is a script: what matters is that the trigger
	// checks and runs exactly the bytes the module pins.
	good := []byte("#!/bin/sh\necho \"downloaded stateful $*\"\n")
	goodSum := sha256.Sum256(good)
	corrupt := []byte("#!/bin/sh\necho \"corrupted stateful $*\"\n")
	corruptSum := sha256.Sum256(corrupt)
	sums := map[string]string{}
	for _, tg := range Targets {
		sums[tg.String()] = strings.Repeat("0", 64)
	}
	sums[target.String()] = hex.EncodeToString(goodSum[:])

	type server struct {
		url  string
		gets *atomic.Int32
	}
	serve := func(t *testing.T, body []byte) server {
		gets := &atomic.Int32{}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/rel/"+Path("0.1.0", target) || body == nil {
				http.NotFound(w, r)
				return
			}
			gets.Add(1)
			_, _ = w.Write(body)
		}))
		t.Cleanup(srv.Close)
		return server{srv.URL + "/rel", gets}
	}
	// run runs the trigger (as the module does: sh -c SCRIPT stateful
	// roll) with the given stateful on the PATH (nil for none) and the
	// cache in cacheHome.
	run := func(t *testing.T, s server, onPath []byte, cacheHome string) (string, int) {
		script := renderRoll(t, "0.1.0", s.url, sums)
		bin := t.TempDir()
		if onPath != nil {
			if err := os.WriteFile(filepath.Join(bin, "stateful"), onPath, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		cmd := proctest.Command(t, "sh", "-c", script, "stateful", "roll")
		cmd.Env = []string{"PATH=" + bin + string(os.PathListSeparator) + pathWithoutStateful(t), "XDG_CACHE_HOME=" + cacheHome, "HOME=/nonexistent"}
		out, err := cmd.CombinedOutput("the roll trigger's script")
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	cached := func(cacheHome string) string {
		return filepath.Join(cacheHome, "stateful", "v0.1.0", FileName(target))
	}

	// A stateful that says it is the pinned version but has other bytes
	// (a rebuild under the same version label).
	sameVersion := []byte("#!/bin/sh\nif [ \"$1\" = version ]; then echo 0.1.0; else echo \"PATH stateful $*\"; fi\n")

	t.Run("the pinned bytes on the PATH run, nothing is downloaded", func(t *testing.T) {
		t.Parallel()
		s := serve(t, good)
		out, code := run(t, s, good, t.TempDir())
		if code != 0 || out != "downloaded stateful roll\n" || s.gets.Load() != 0 {
			t.Fatalf("exit %d, %d downloads, output %q", code, s.gets.Load(), out)
		}
	})
	t.Run("other bytes on the PATH, whatever their version says: the pinned release is downloaded once, checked, cached and run", func(t *testing.T) {
		t.Parallel()
		s := serve(t, good)
		cache := t.TempDir()
		for range 2 {
			out, code := run(t, s, sameVersion, cache)
			if code != 0 || out != "downloaded stateful roll\n" {
				t.Fatalf("exit %d, output %q", code, out)
			}
		}
		if n := s.gets.Load(); n != 1 {
			t.Fatalf("%d downloads for two runs, want 1 (the second from the cache)", n)
		}
		// A cached file that is not the pinned binary any more is fetched again.
		if err := os.WriteFile(cached(cache), corrupt, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, code := run(t, s, nil, cache); code != 0 || out != "downloaded stateful roll\n" || s.gets.Load() != 2 {
			t.Fatalf("after tampering with the cache: exit %d, %d downloads, output %q", code, s.gets.Load(), out)
		}
	})
	t.Run("a corrupted download fails with the checksum sentence and runs nothing", func(t *testing.T) {
		t.Parallel()
		s := serve(t, corrupt)
		cache := t.TempDir()
		out, code := run(t, s, nil, cache)
		want := fmt.Sprintf("stateful: %s/%s has sha256 %s, not %s, the sha256 the module pins for it: refusing to run it\n",
			s.url, Path("0.1.0", target), hex.EncodeToString(corruptSum[:]), sums[target.String()])
		if code != 1 || out != want {
			t.Fatalf("exit %d, output %q; want exit 1 and %q", code, out, want)
		}
		if entries, _ := os.ReadDir(filepath.Dir(cached(cache))); len(entries) != 0 {
			t.Fatalf("files left in the cache: %v", entries)
		}
	})
	t.Run("a missing download fails naming the URL and the pinned sha256", func(t *testing.T) {
		t.Parallel()
		s := serve(t, nil)
		out, code := run(t, s, nil, t.TempDir())
		want := fmt.Sprintf("could not download %s/%s (the release the module pins, sha256 %s)", s.url, Path("0.1.0", target), sums[target.String()])
		if code != 1 || !strings.Contains(out, want) {
			t.Fatalf("exit %d, output %q; want exit 1 and %q", code, out, want)
		}
	})
	t.Run("shellcheck", func(t *testing.T) {
		t.Parallel()
		sc, err := exec.LookPath("shellcheck")
		if err != nil {
			t.Skip("shellcheck is not installed (.ci/run installs it)")
		}
		cmd := exec.Command(sc, "-s", "sh", "-")
		cmd.Stdin = strings.NewReader(renderRoll(t, "0.1.0", DefaultBaseURL, sums))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("shellcheck: %v\n%s", err, out)
		}
	})
}
