// Package userdata renders the Terraform module's user-data template
// (templates/user_data.sh.tftpl) the way Terraform's templatefile does, so
// the local lab boots simulated instances with exactly what the module
// would give real ones.
package userdata

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/zclconf/go-cty/cty"

	"github.com/stateful-aws/stateful/internal/agent"
	"github.com/stateful-aws/stateful/internal/release"
	"github.com/stateful-aws/stateful/internal/tfeval"
)

// TemplatePath is the template's place in the repository.
const TemplatePath = "templates/user_data.sh.tftpl"

// MaxSize is EC2's limit on user data, before base64.
const MaxSize = 16384

// Agent says where the node gets the agent binary: one of URL (with the
// sha256 of each architecture's binary, "{arch}" in the URL standing for
// amd64 or arm64), S3URI or Path. Version is the module's agent.version
// label. The module's agent.tf makes the same choice from its input.
type Agent struct {
	URL                      string
	SHA256AMD64, SHA256ARM64 string
	S3URI, Path, Version     string
	// S3SHA256 (required with S3URI), S3Owner (the account that must own
	// the bucket) and S3Version (optional) check the S3 agent.
	S3SHA256, S3Owner, S3Version string
}

// ReleaseAgent is the module's default agent: the release it pins
// (release.tf), downloaded from baseURL (agent.base_url, default
// release.DefaultBaseURL).
func ReleaseAgent(p release.Pin, baseURL string) Agent {
	return Agent{
		URL:         release.URL(baseURL, p.Version, release.Target{OS: "linux", Arch: "{arch}"}),
		SHA256AMD64: p.Sum(release.Target{OS: "linux", Arch: "amd64"}),
		SHA256ARM64: p.Sum(release.Target{OS: "linux", Arch: "arm64"}),
	}
}

// Render evaluates the template with a node's config.
func Render(template []byte, cfg agent.Config, a Agent) (string, error) {
	configJSON, err := ConfigJSON(cfg)
	if err != nil {
		return "", err
	}
	// Terraform's templatefile, through the one evaluator (internal/tfeval).
	return tfeval.RenderTemplate(template, TemplatePath, map[string]cty.Value{
		"config_json":        cty.StringVal(configJSON),
		"agent_url":          cty.StringVal(a.URL),
		"agent_sha256_amd64": cty.StringVal(a.SHA256AMD64),
		"agent_sha256_arm64": cty.StringVal(a.SHA256ARM64),
		"agent_s3_uri":       cty.StringVal(a.S3URI),
		"agent_s3_sha256":    cty.StringVal(a.S3SHA256),
		"agent_s3_owner":     cty.StringVal(a.S3Owner),
		"agent_s3_version":   cty.StringVal(a.S3Version),
		"agent_path":         cty.StringVal(a.Path),
		"agent_version":      cty.StringVal(a.Version),
		"region":             cty.StringVal(cfg.Region),
		"node_id":            cty.StringVal(cfg.NodeID),
		"asg_name":           cty.StringVal(cfg.ASGName),
		"launch_hook":        cty.StringVal(cfg.LaunchHook),
		"on_failure":         cty.StringVal(cfg.OnFailure),
	})
}

// RenderFile reads the template from a module directory and renders it.
func RenderFile(moduleDir string, cfg agent.Config, a Agent) (string, error) {
	b, err := os.ReadFile(filepath.Join(moduleDir, TemplatePath))
	if err != nil {
		return "", fmt.Errorf("reading the module's user-data template: %w", err)
	}
	return Render(b, cfg, a)
}

// ConfigJSON encodes a config as Terraform's jsonencode does: one line,
// object keys sorted, <, > and & escaped.
func ConfigJSON(cfg agent.Config) (string, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return "", err
	}
	var generic any // maps marshal with sorted keys
	if err := json.Unmarshal(b, &generic); err != nil {
		return "", err
	}
	b, err = json.Marshal(generic)
	return string(b), err
}
