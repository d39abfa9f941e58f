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

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/stateful-aws/stateful/internal/agent"
)

// TemplatePath is the template's place in the repository.
const TemplatePath = "templates/user_data.sh.tftpl"

// MaxSize is EC2's limit on user data, before base64.
const MaxSize = 16384

// Agent says where the node gets the agent binary: one of URL (with
// SHA256), S3URI or Path.
type Agent struct {
	URL, SHA256, S3URI, Path string
}

// Render evaluates the template with a node's config.
func Render(template []byte, cfg agent.Config, a Agent) (string, error) {
	configJSON, err := ConfigJSON(cfg)
	if err != nil {
		return "", err
	}
	expr, diags := hclsyntax.ParseTemplate(template, TemplatePath, hcl.Pos{Line: 1, Column: 1})
	if diags.HasErrors() {
		return "", fmt.Errorf("parsing %s: %s", TemplatePath, diags.Error())
	}
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{
		"config_json":  cty.StringVal(configJSON),
		"agent_url":    cty.StringVal(a.URL),
		"agent_sha256": cty.StringVal(a.SHA256),
		"agent_s3_uri": cty.StringVal(a.S3URI),
		"agent_path":   cty.StringVal(a.Path),
		"region":       cty.StringVal(cfg.Region),
	}}
	v, diags := expr.Value(ctx)
	if diags.HasErrors() {
		return "", fmt.Errorf("rendering %s: %s", TemplatePath, diags.Error())
	}
	if !v.Type().Equals(cty.String) {
		return "", fmt.Errorf("rendering %s: result is %s, not a string", TemplatePath, v.Type().FriendlyName())
	}
	return v.AsString(), nil
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
