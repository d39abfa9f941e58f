// Command mkrelease is `make release VERSION=x.y.z`: it builds every
// target of the release twice (once here, once from a copy of the source
// at another path) and refuses when the two differ, writes the binaries
// and SHA256SUMS to DIST/v<version>/, and records the version and
// checksums in the module's release.tf.
//
// With -verify it builds only -targets (make demo: the lab's node binary),
// once, into DIST/v<version>/ and checks them against release.tf instead of
// writing it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/stateful-aws/stateful/internal/release"
)

func main() {
	version := flag.String("version", "", "the release version, MAJOR.MINOR.PATCH")
	dist := flag.String("dist", "dist", "where the release directory v<version>/ is written")
	module := flag.String("module", ".", "the repository root: the module and the Go source")
	verify := flag.Bool("verify", false, "build -targets of the pinned release and check them against release.tf, writing nothing else")
	targets := flag.String("targets", "", "with -verify: comma-separated targets such as linux-amd64")
	flag.Parse()
	var err error
	if *verify {
		err = verifyPinned(context.Background(), *targets, *dist, *module)
	} else {
		err = run(context.Background(), *version, *dist, *module)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "make release:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, version, dist, module string) error {
	if err := release.ValidVersion(version); err != nil {
		return err
	}
	goVersion, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output()
	if err != nil {
		return fmt.Errorf("asking go for its version: %w", err)
	}
	dir := filepath.Join(dist, "v"+version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	copyDir, err := os.MkdirTemp("", "stateful-release-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(copyDir)
	if err := release.CopySource(module, copyDir); err != nil {
		return err
	}
	pin := release.Pin{Version: version, GoVersion: strings.TrimSpace(string(goVersion)), SHA256: map[string]string{}}
	for _, t := range release.Targets {
		out, _ := filepath.Abs(filepath.Join(dir, release.FileName(t)))
		again := filepath.Join(copyDir, "again-"+release.FileName(t))
		if err := release.Build(ctx, "go", module, version, t, out); err != nil {
			return err
		}
		if err := release.Build(ctx, "go", copyDir, version, t, again); err != nil {
			return err
		}
		sum, err := release.FileSHA256(out)
		if err != nil {
			return err
		}
		sumAgain, err := release.FileSHA256(again)
		if err != nil {
			return err
		}
		if sum != sumAgain {
			return fmt.Errorf("%s is not reproducible: two builds of the same source gave sha256 %s and %s", t, sum, sumAgain)
		}
		pin.SHA256[t.String()] = sum
		fmt.Printf("%s  %s (built twice, identical)\n", sum, out)
	}
	if err := os.WriteFile(filepath.Join(dir, release.SumsFile), release.Sums(pin), 0o644); err != nil {
		return err
	}
	tf := filepath.Join(module, release.LocalsFile)
	if err := os.WriteFile(tf+".tmp", release.Locals(pin), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tf+".tmp", tf); err != nil {
		return err
	}
	fmt.Printf("wrote %s and %s: upload %s/ as release v%s (see README: the release layout)\n", filepath.Join(dir, release.SumsFile), tf, dir, version)
	return nil
}

// verifyPinned builds targets of the release release.tf pins and refuses
// when one differs from its pinned sha256.
func verifyPinned(ctx context.Context, targets, dist, module string) error {
	pin, err := release.ReadPin(module)
	if err != nil {
		return err
	}
	for _, name := range strings.Split(targets, ",") {
		var t release.Target
		for _, c := range release.Targets {
			if c.String() == name {
				t = c
			}
		}
		if t.OS == "" {
			return fmt.Errorf("-targets %q: each target must be one of linux-amd64, linux-arm64, darwin-amd64, darwin-arm64", targets)
		}
		out, _ := filepath.Abs(filepath.Join(dist, filepath.FromSlash(release.Path(pin.Version, t))))
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		if err := release.Build(ctx, "go", module, pin.Version, t, out); err != nil {
			return err
		}
		sum, err := release.FileSHA256(out)
		if err != nil {
			return err
		}
		if sum != pin.Sum(t) {
			return fmt.Errorf("%s of this source has sha256 %s, but release.tf pins %s for release %s (built with %s): the source changed since; run make release VERSION=%s", t, sum, pin.Sum(t), pin.Version, pin.GoVersion, pin.Version)
		}
		fmt.Printf("%s  %s (the pinned release %s)\n", sum, out, pin.Version)
	}
	return nil
}
