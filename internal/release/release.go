// Package release is what the module pins: the release layout
// (<base_url>/v<version>/stateful-<os>-<arch> and SHA256SUMS), the
// reproducible build of each binary, and release.tf, the generated locals
// that record the version and every binary's sha256 in the module.
//
// The binary never embeds release.tf (its checksums would change its own
// bytes): the version reaches the binary through the linker
// (-X VersionSymbol=...), the checksums reach only the module.
package release

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// DefaultBaseURL is where the module's default agent and roll trigger
// download releases: GitHub's release assets, whose layout
// (<base>/<tag>/<asset>) is the release layout with tag v<version>.
const DefaultBaseURL = "https://github.com/stateful-aws/stateful/releases/download"

// LocalsFile is the generated file of locals in the module's root.
const LocalsFile = "release.tf"

// VersionSymbol is the variable the linker sets to the release version.
const VersionSymbol = "github.com/stateful-aws/stateful/internal/cli.version"

// SumsFile lists every binary's sha256 in a release directory, in
// sha256sum's format.
const SumsFile = "SHA256SUMS"

// Target is one operating system and architecture a release is built for.
type Target struct{ OS, Arch string }

func (t Target) String() string { return t.OS + "-" + t.Arch }

// Targets are the release's binaries: linux for nodes (amd64, arm64), and
// linux and darwin for operators and Terraform runners.
var Targets = []Target{{"linux", "amd64"}, {"linux", "arm64"}, {"darwin", "amd64"}, {"darwin", "arm64"}}

// FileName is a target's binary in a release directory.
func FileName(t Target) string { return "stateful-" + t.String() }

// Path is a binary's path under the base URL: v<version>/stateful-<os>-<arch>.
func Path(version string, t Target) string { return "v" + version + "/" + FileName(t) }

// URL is where a binary of a release is downloaded from.
func URL(baseURL, version string, t Target) string {
	return strings.TrimRight(baseURL, "/") + "/" + Path(version, t)
}

var (
	versionRE = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$`)
	sumRE     = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// ValidVersion says in one sentence what is wrong with a release version.
func ValidVersion(v string) error {
	if !versionRE.MatchString(v) {
		return fmt.Errorf("VERSION %q is not a release version: use MAJOR.MINOR.PATCH, optionally with a -suffix of letters, digits and dots (for example 0.2.0 or 1.0.0-rc.1)", v)
	}
	return nil
}

// Pin is what the module records of a release.
type Pin struct {
	Version   string
	GoVersion string            // the Go release that built it: another Go gives other bytes
	SHA256    map[string]string // by target ("linux-amd64")
}

// Sum is a target's pinned sha256.
func (p Pin) Sum(t Target) string { return p.SHA256[t.String()] }

// BuildTags leave the simulator and the lab (and the HCL and template
// libraries they use) out of the release binaries: nodes run them as root
// and need only the agent, operators only the roll and its kin.
const BuildTags = "stateful_node"

// BuildArgs are the go build arguments of a release binary: no paths
// (-trimpath), no VCS stamp (a commit would change the bytes, and
// committing release.tf makes a new commit), no build ID, no symbols, and
// no lab or simulator (BuildTags).
func BuildArgs(version, out string) []string {
	return []string{"build", "-trimpath", "-buildvcs=false", "-tags", BuildTags,
		"-ldflags", "-s -w -buildid= -X " + VersionSymbol + "=" + version,
		"-o", out, "./cmd/stateful"}
}

// BuildEnv is the environment of a release build: the target, no cgo, the
// baseline instruction sets, and no GOFLAGS from the caller's
// environment, on top of env.
func BuildEnv(env []string, t Target) []string {
	out := make([]string, 0, len(env)+6)
	for _, kv := range env {
		switch strings.SplitN(kv, "=", 2)[0] {
		case "GOOS", "GOARCH", "CGO_ENABLED", "GOFLAGS", "GOAMD64", "GOARM64", "GOEXPERIMENT":
			continue
		}
		out = append(out, kv)
	}
	return append(out, "GOOS="+t.OS, "GOARCH="+t.Arch, "CGO_ENABLED=0", "GOFLAGS=", "GOAMD64=v1", "GOARM64=v8.0")
}

// Build builds a target's release binary from the module source in srcDir.
func Build(ctx context.Context, goTool, srcDir, version string, t Target, out string) error {
	cmd := exec.CommandContext(ctx, goTool, BuildArgs(version, out)...)
	cmd.Dir = srcDir
	cmd.Env = BuildEnv(os.Environ(), t)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building %s of release %s in %s: %w\n%s", t, version, srcDir, err, b)
	}
	return nil
}

// CopySource copies what a build reads (go.mod, go.sum, and the non-test
// files of cmd/ and internal/, without testdata) from srcDir to dst, so a
// second build from another path proves that no path reaches the bytes.
func CopySource(srcDir, dst string) error {
	for _, f := range []string{"go.mod", "go.sum"} {
		if err := copyFile(filepath.Join(srcDir, f), filepath.Join(dst, f)); err != nil {
			return err
		}
	}
	for _, top := range []string{"cmd", "internal"} {
		err := filepath.WalkDir(filepath.Join(srcDir, top), func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == "testdata" {
				return filepath.SkipDir
			}
			if d.IsDir() || strings.HasSuffix(d.Name(), "_test.go") || !d.Type().IsRegular() {
				return nil
			}
			rel, err := filepath.Rel(srcDir, p)
			if err != nil {
				return err
			}
			return copyFile(p, filepath.Join(dst, rel))
		})
		if err != nil {
			return fmt.Errorf("copying the source for a second build: %w", err)
		}
	}
	return nil
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o644)
}

// FileSHA256 is the hex sha256 of a file.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Sums renders SHA256SUMS: one "<sha256>  <file>" line per binary, sorted
// by file, as sha256sum writes it (sha256sum -c checks it).
func Sums(p Pin) []byte {
	var b bytes.Buffer
	for _, t := range sortedTargets(p) {
		fmt.Fprintf(&b, "%s  stateful-%s\n", p.SHA256[t], t)
	}
	return b.Bytes()
}

func sortedTargets(p Pin) []string {
	ts := make([]string, 0, len(p.SHA256))
	for t := range p.SHA256 {
		ts = append(ts, t)
	}
	sort.Strings(ts)
	return ts
}

// Locals renders release.tf, canonically formatted (tofu fmt).
func Locals(p Pin) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `# Generated by make release VERSION=%s (internal/release): the release the
# module's default agent and roll trigger download, and the sha256 of each of
# its binaries. Do not edit: run make release again.
locals {
  release = {
    version = %q
    go_version = %q
    sha256 = {
`, p.Version, p.Version, p.GoVersion)
	for _, t := range sortedTargets(p) {
		fmt.Fprintf(&b, "      %q = %q\n", t, p.SHA256[t])
	}
	b.WriteString("    }\n  }\n}\n")
	return hclwrite.Format(b.Bytes())
}

// ReadPin reads the module's release.tf.
func ReadPin(moduleDir string) (Pin, error) {
	path := filepath.Join(moduleDir, LocalsFile)
	src, err := os.ReadFile(path)
	if err != nil {
		return Pin{}, fmt.Errorf("reading the module's pinned release: %w", err)
	}
	f, diags := hclsyntax.ParseConfig(src, path, hcl.Pos{Line: 1, Column: 1})
	if diags.HasErrors() {
		return Pin{}, fmt.Errorf("parsing %s: %s", path, diags.Error())
	}
	for _, blk := range f.Body.(*hclsyntax.Body).Blocks {
		a, ok := blk.Body.Attributes["release"]
		if blk.Type != "locals" || !ok {
			continue
		}
		v, diags := a.Expr.Value(nil)
		if diags.HasErrors() {
			return Pin{}, fmt.Errorf("evaluating local.release in %s: %s", path, diags.Error())
		}
		return pinOf(path, v)
	}
	return Pin{}, fmt.Errorf("%s has no local.release", path)
}

func pinOf(path string, v cty.Value) (Pin, error) {
	shape := fmt.Errorf("local.release in %s is not { version, go_version, sha256 = { TARGET = SUM } }: run make release VERSION=x.y.z", path)
	str := func(obj cty.Value, name string) (string, bool) {
		if !obj.Type().IsObjectType() || !obj.Type().HasAttribute(name) {
			return "", false
		}
		a := obj.GetAttr(name)
		if a.IsNull() || !a.Type().Equals(cty.String) {
			return "", false
		}
		return a.AsString(), true
	}
	var p Pin
	var ok1, ok2 bool
	p.Version, ok1 = str(v, "version")
	p.GoVersion, ok2 = str(v, "go_version")
	if !ok1 || !ok2 || !v.Type().HasAttribute("sha256") {
		return p, shape
	}
	sums := v.GetAttr("sha256")
	if !sums.Type().IsObjectType() || sums.IsNull() {
		return p, shape
	}
	p.SHA256 = map[string]string{}
	for name := range sums.Type().AttributeTypes() {
		if s, ok := str(sums, name); ok {
			p.SHA256[name] = s
		}
	}
	for _, t := range Targets {
		if !sumRE.MatchString(p.Sum(t)) {
			return p, fmt.Errorf("local.release in %s has no sha256 for %s", path, t)
		}
	}
	return p, ValidVersion(p.Version)
}
