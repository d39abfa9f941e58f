// Package tfeval evaluates Terraform configurations the way Terraform does,
// for what a module call needs: variables (defaults, optional attributes,
// -var and .tfvars values, validations), locals, module-call arguments,
// path.*, count and for_each, data sources answered by the caller, and
// Terraform's functions that such configurations use. It is the one
// evaluator of the repository's HCL in Go: the lab evaluates a user's
// module block and this module's own locals and templates with it, and
// internal/userdata renders the user-data template with it.
//
// What it cannot evaluate (a managed resource, a module output, an
// unsupported function, a variable without a value) is one sentence naming
// the file, the line and the expression, and how to give the value.
package tfeval

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
)

// Module is one Terraform module directory, parsed.
type Module struct {
	Dir       string
	Variables map[string]*Variable
	Locals    map[string]*hcl.Attribute
	Calls     map[string]*Call     // module blocks by name
	Data      map[string]*Block    // data blocks by "TYPE.NAME"
	Resources map[string]hcl.Range // managed resources by "TYPE.NAME"
	parser    *hclparse.Parser
}

// Variable is a variable block.
type Variable struct {
	Name        string
	Type        cty.Type
	Defaults    *typeexpr.Defaults
	Default     *hcl.Attribute // nil: required
	Nullable    bool
	Validations []Condition
	DeclRange   hcl.Range
}

// Condition is a validation, precondition or postcondition.
type Condition struct {
	Condition, ErrorMessage hcl.Expression
}

// Call is a module block.
type Call struct {
	Name    string
	Source  string
	Count   hcl.Expression // nil when absent
	ForEach hcl.Expression // nil when absent
	Args    map[string]*hcl.Attribute
	Range   hcl.Range
}

// Block is a data block: its arguments and conditions.
type Block struct {
	Type, Name     string
	Count, ForEach hcl.Expression
	Args           map[string]*hcl.Attribute
	Pre, Post      []Condition
	Range          hcl.Range
}

var fileSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
	{Type: "variable", LabelNames: []string{"name"}},
	{Type: "locals"},
	{Type: "module", LabelNames: []string{"name"}},
	{Type: "data", LabelNames: []string{"type", "name"}},
	{Type: "resource", LabelNames: []string{"type", "name"}},
	{Type: "output", LabelNames: []string{"name"}},
	{Type: "terraform"}, {Type: "provider", LabelNames: []string{"name"}},
	{Type: "moved"}, {Type: "import"}, {Type: "removed"}, {Type: "check", LabelNames: []string{"name"}},
}}

// Load parses the .tf files of a module directory.
func Load(dir string) (*Module, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s holds no Terraform configuration (no .tf file)", dir)
	}
	sort.Strings(files)
	m := &Module{Dir: dir, Variables: map[string]*Variable{}, Locals: map[string]*hcl.Attribute{}, Calls: map[string]*Call{},
		Data: map[string]*Block{}, Resources: map[string]hcl.Range{}, parser: hclparse.NewParser()}
	for _, name := range files {
		f, diags := m.parser.ParseHCLFile(name)
		if diags.HasErrors() {
			return nil, diagError(diags)
		}
		content, _, diags := f.Body.PartialContent(fileSchema)
		if diags.HasErrors() {
			return nil, diagError(diags)
		}
		for _, b := range content.Blocks {
			if err := m.add(b); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *Module) add(b *hcl.Block) error {
	switch b.Type {
	case "variable":
		return m.addVariable(b)
	case "locals":
		attrs, diags := b.Body.JustAttributes()
		if diags.HasErrors() {
			return diagError(diags)
		}
		for n, a := range attrs {
			m.Locals[n] = a
		}
	case "module":
		return m.addCall(b)
	case "data":
		d, err := dataBlock(b)
		if err != nil {
			return err
		}
		m.Data[d.Type+"."+d.Name] = d
	case "resource":
		m.Resources[b.Labels[0]+"."+b.Labels[1]] = b.DefRange
	}
	return nil
}

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "type"}, {Name: "default"}, {Name: "description"}, {Name: "sensitive"}, {Name: "nullable"}, {Name: "ephemeral"}},
	Blocks:     []hcl.BlockHeaderSchema{{Type: "validation"}},
}

var conditionSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "condition", Required: true}, {Name: "error_message", Required: true}}}

func conditionOf(b *hcl.Block) (Condition, error) {
	c, diags := b.Body.Content(conditionSchema)
	if diags.HasErrors() {
		return Condition{}, diagError(diags)
	}
	return Condition{Condition: c.Attributes["condition"].Expr, ErrorMessage: c.Attributes["error_message"].Expr}, nil
}

func (m *Module) addVariable(b *hcl.Block) error {
	c, diags := b.Body.Content(variableSchema)
	if diags.HasErrors() {
		return diagError(diags)
	}
	v := &Variable{Name: b.Labels[0], Type: cty.DynamicPseudoType, Default: c.Attributes["default"], Nullable: true, DeclRange: b.DefRange}
	if a, ok := c.Attributes["type"]; ok {
		ty, defaults, diags := typeexpr.TypeConstraintWithDefaults(a.Expr)
		if diags.HasErrors() {
			return diagError(diags)
		}
		v.Type, v.Defaults = ty, defaults
	}
	if a, ok := c.Attributes["nullable"]; ok {
		val, diags := a.Expr.Value(nil)
		if diags.HasErrors() || val.Type() != cty.Bool || val.IsNull() {
			return fmt.Errorf("%s: nullable of variable %s must be true or false", rangeString(a.Range), v.Name)
		}
		v.Nullable = val.True()
	}
	for _, vb := range c.Blocks {
		cond, err := conditionOf(vb)
		if err != nil {
			return err
		}
		v.Validations = append(v.Validations, cond)
	}
	m.Variables[v.Name] = v
	return nil
}

func (m *Module) addCall(b *hcl.Block) error {
	attrs, diags := b.Body.JustAttributes()
	if diags.HasErrors() {
		// Nested blocks (providers = {...} is an attribute; lifecycle-like
		// blocks are not allowed in module blocks) are not expected.
		return diagError(diags)
	}
	c := &Call{Name: b.Labels[0], Args: map[string]*hcl.Attribute{}, Range: b.DefRange}
	for n, a := range attrs {
		switch n {
		case "source":
			v, diags := a.Expr.Value(nil)
			if diags.HasErrors() || v.Type() != cty.String || v.IsNull() {
				return fmt.Errorf("%s: the source of module %s must be a literal string", rangeString(a.Range), c.Name)
			}
			c.Source = v.AsString()
		case "count":
			c.Count = a.Expr
		case "for_each":
			c.ForEach = a.Expr
		case "version", "providers", "depends_on":
		default:
			c.Args[n] = a
		}
	}
	m.Calls[c.Name] = c
	return nil
}

var dataBodySchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "lifecycle"}}}

var lifecycleSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "precondition"}, {Type: "postcondition"}}}

func dataBlock(b *hcl.Block) (*Block, error) {
	d := &Block{Type: b.Labels[0], Name: b.Labels[1], Args: map[string]*hcl.Attribute{}, Range: b.DefRange}
	content, rest, diags := b.Body.PartialContent(dataBodySchema)
	if diags.HasErrors() {
		return nil, diagError(diags)
	}
	attrs, _ := rest.JustAttributes() // nested blocks of a data source (filter {...}) stay unevaluated
	for n, a := range attrs {
		switch n {
		case "count":
			d.Count = a.Expr
		case "for_each":
			d.ForEach = a.Expr
		case "depends_on", "provider":
		default:
			d.Args[n] = a
		}
	}
	for _, lb := range content.Blocks {
		lc, diags := lb.Body.Content(lifecycleSchema)
		if diags.HasErrors() {
			return nil, diagError(diags)
		}
		for _, cb := range lc.Blocks {
			cond, err := conditionOf(cb)
			if err != nil {
				return nil, err
			}
			if cb.Type == "precondition" {
				d.Pre = append(d.Pre, cond)
			} else {
				d.Post = append(d.Post, cond)
			}
		}
	}
	return d, nil
}

// source is the text of a range in its file, for messages.
func (m *Module) source(r hcl.Range) string {
	b, err := os.ReadFile(r.Filename)
	if err != nil || r.End.Byte > len(b) || r.Start.Byte > r.End.Byte {
		return ""
	}
	s := strings.Join(strings.Fields(string(b[r.Start.Byte:r.End.Byte])), " ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

func rangeString(r hcl.Range) string { return fmt.Sprintf("%s:%d", r.Filename, r.Start.Line) }

// diagError turns HCL diagnostics into one error per diagnostic: file, line,
// summary and detail.
func diagError(diags hcl.Diagnostics) error {
	var errs []error
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		where := ""
		if d.Subject != nil {
			where = rangeString(*d.Subject) + ": "
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += ": " + d.Detail
		}
		errs = append(errs, errors.New(where+msg))
	}
	return errors.Join(errs...)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
