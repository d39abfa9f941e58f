package tfeval

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Inputs are a root module's variable values as Terraform gathers them, in
// its order of precedence (later wins): terraform.tfvars, *.auto.tfvars in
// name order, then each -var-file and -var in the order given. A -var
// value is a literal string for a variable of a primitive type (or none)
// and an HCL expression otherwise, as on Terraform's command line.
func Inputs(m *Module, varFiles, vars []string) (map[string]cty.Value, error) {
	out := map[string]cty.Value{}
	files := []string{}
	if p := filepath.Join(m.Dir, "terraform.tfvars"); fileExists(p) {
		files = append(files, p)
	}
	auto, _ := filepath.Glob(filepath.Join(m.Dir, "*.auto.tfvars"))
	sort.Strings(auto)
	files = append(append(files, auto...), varFiles...)
	for _, f := range files {
		if err := m.readVarFile(f, out); err != nil {
			return nil, err
		}
	}
	for _, kv := range vars {
		name, raw, ok := strings.Cut(kv, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("-var %q must be NAME=VALUE", kv)
		}
		v, declared := m.Variables[name]
		if !declared {
			return nil, fmt.Errorf("-var %s: the configuration in %s declares no variable %q", kv, m.Dir, name)
		}
		if v.Type.IsPrimitiveType() || v.Type == cty.DynamicPseudoType {
			out[name] = cty.StringVal(raw)
			continue
		}
		expr, diags := hclsyntax.ParseExpression([]byte(raw), "-var "+name, hcl.Pos{Line: 1, Column: 1})
		if diags.HasErrors() {
			return nil, fmt.Errorf("-var %s: the value is not an HCL expression: %v", name, diagMessages(diags))
		}
		val, diags := expr.Value(nil)
		if diags.HasErrors() {
			return nil, fmt.Errorf("-var %s: the value must be a literal (no references or functions): %v", name, diagMessages(diags))
		}
		out[name] = val
	}
	return out, nil
}

func (m *Module) readVarFile(path string, out map[string]cty.Value) error {
	f, diags := m.parser.ParseHCLFile(path)
	if diags.HasErrors() {
		return diagError(diags)
	}
	attrs, diags := f.Body.JustAttributes()
	if diags.HasErrors() {
		return diagError(diags)
	}
	for _, n := range sortedKeys(attrs) {
		a := attrs[n]
		if _, ok := m.Variables[n]; !ok {
			return fmt.Errorf("%s: the configuration in %s declares no variable %q", rangeString(a.Range), m.Dir, n)
		}
		v, diags := a.Expr.Value(nil)
		if diags.HasErrors() {
			return fmt.Errorf("%s: the value of %s must be a literal (no references or functions): %v", rangeString(a.Range), n, diagMessages(diags))
		}
		out[n] = v
	}
	return nil
}
