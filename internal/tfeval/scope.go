package tfeval

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
)

// DataSources answer the data blocks of a type (the key, such as
// "aws_subnet") from their evaluated arguments. A type without an entry is
// one the caller cannot read.
type DataSources map[string]func(args map[string]cty.Value) (cty.Value, error)

// Scope evaluates expressions of one module instance: its variables are
// set, its locals and data blocks are evaluated when first referenced.
type Scope struct {
	m        *Module
	root     string
	vars     map[string]cty.Value
	data     DataSources
	locals   map[string]cty.Value
	dataVals map[string]cty.Value
	busy     map[string]bool // locals and data blocks being evaluated: a cycle
	funcs    map[string]function.Function
}

// NewScope sets a module's variables from inputs (missing ones from their
// defaults), converted to their types with optional attributes filled, and
// checks their validations. root is path.root.
func NewScope(m *Module, root string, inputs map[string]cty.Value, data DataSources) (*Scope, error) {
	s := &Scope{m: m, root: root, vars: map[string]cty.Value{}, data: data, locals: map[string]cty.Value{},
		dataVals: map[string]cty.Value{}, busy: map[string]bool{}, funcs: functions()}
	names := make([]string, 0, len(inputs))
	for n := range inputs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, ok := m.Variables[n]; !ok {
			return nil, fmt.Errorf("the module in %s has no variable %q", m.Dir, n)
		}
	}
	for _, n := range sortedKeys(m.Variables) {
		v := m.Variables[n]
		val, given := inputs[n]
		val, err := v.finalize(val, given)
		if err != nil {
			return nil, err
		}
		s.vars[n] = val
	}
	for _, n := range sortedKeys(m.Variables) {
		for _, c := range m.Variables[n].Validations {
			if err := s.check(c, nil, "invalid value for variable "+n); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// finalize applies the default, optional attributes and the type.
func (v *Variable) finalize(val cty.Value, given bool) (cty.Value, error) {
	if !given || (val.IsNull() && !v.Nullable) {
		if v.Default == nil {
			if given {
				return cty.NilVal, fmt.Errorf("%s: variable %q may not be null: give it a value with -var '%s=...'", rangeString(v.DeclRange), v.Name, v.Name)
			}
			return cty.NilVal, fmt.Errorf("%s: variable %q has no default and no value: give it with -var '%s=...' or in a .tfvars file", rangeString(v.DeclRange), v.Name, v.Name)
		}
		d, diags := v.Default.Expr.Value(nil)
		if diags.HasErrors() {
			return cty.NilVal, diagError(diags)
		}
		val = d
	}
	if v.Defaults != nil {
		val = v.Defaults.Apply(val)
	}
	out, err := convert.Convert(val, v.Type)
	if err != nil {
		return cty.NilVal, fmt.Errorf("%s: invalid value for variable %q: %v", rangeString(v.DeclRange), v.Name, err)
	}
	return out, nil
}

// Var is a variable's value.
func (s *Scope) Var(name string) (cty.Value, bool) {
	v, ok := s.vars[name]
	return v, ok
}

// Module is the scope's module.
func (s *Scope) Module() *Module { return s.m }

// check evaluates a condition; false is its error message as one error.
func (s *Scope) check(c Condition, extra map[string]cty.Value, what string) error {
	ok, err := s.Eval(c.Condition, extra)
	if err != nil {
		return err
	}
	if ok.IsNull() || !ok.Type().Equals(cty.Bool) {
		return fmt.Errorf("%s: the condition is %s, not true or false", rangeString(c.Condition.Range()), ok.Type().FriendlyName())
	}
	if ok.True() {
		return nil
	}
	msg, err := s.Eval(c.ErrorMessage, extra)
	if err != nil {
		return err
	}
	text := ""
	if msg.Type() == cty.String && !msg.IsNull() {
		text = msg.AsString()
	}
	return fmt.Errorf("%s: %s: %s", rangeString(c.Condition.Range()), what, text)
}

// Eval evaluates an expression of the module. extra holds count, each and
// self where the expression has them.
func (s *Scope) Eval(expr hcl.Expression, extra map[string]cty.Value) (cty.Value, error) {
	if err := s.knownFunctions(expr); err != nil {
		return cty.NilVal, err
	}
	vars := map[string]cty.Value{"var": cty.ObjectVal(s.vars)}
	locals := map[string]cty.Value{}
	data := map[string]map[string]cty.Value{}
	for _, t := range expr.Variables() {
		root := t.RootName()
		if v, ok := extra[root]; ok {
			vars[root] = v
			continue
		}
		switch root {
		case "var":
			name := attrName(t, 1)
			if _, ok := s.vars[name]; !ok {
				return cty.NilVal, s.refError(expr, t, fmt.Sprintf("var.%s is not declared in %s", name, s.m.Dir), "declare the variable")
			}
		case "local":
			name := attrName(t, 1)
			v, err := s.local(expr, t, name)
			if err != nil {
				return cty.NilVal, err
			}
			locals[name] = v
		case "data":
			typ, name := attrName(t, 1), attrName(t, 2)
			v, err := s.dataSource(expr, t, typ, name)
			if err != nil {
				return cty.NilVal, err
			}
			if data[typ] == nil {
				data[typ] = map[string]cty.Value{}
			}
			data[typ][name] = v
		case "path":
			cwd, _ := os.Getwd()
			vars["path"] = cty.ObjectVal(map[string]cty.Value{"module": cty.StringVal(s.m.Dir), "root": cty.StringVal(s.root), "cwd": cty.StringVal(cwd)})
		case "terraform":
			vars["terraform"] = cty.ObjectVal(map[string]cty.Value{"workspace": cty.StringVal("default")})
		case "module":
			return cty.NilVal, s.refError(expr, t, fmt.Sprintf("it reads an output of module %s, which exists only once Terraform applies it", attrName(t, 1)), "")
		case "count", "each", "self":
			return cty.NilVal, s.refError(expr, t, root+" has no value here", "")
		default:
			what := "it refers to " + root + ", which this configuration does not declare"
			if _, ok := s.m.Resources[root+"."+attrName(t, 1)]; ok {
				what = fmt.Sprintf("it refers to the resource %s.%s, which exists only once Terraform applies it", root, attrName(t, 1))
			}
			return cty.NilVal, s.refError(expr, t, what, "")
		}
	}
	vars["local"] = cty.ObjectVal(locals)
	dataObj := map[string]cty.Value{}
	for typ, byName := range data {
		dataObj[typ] = cty.ObjectVal(byName)
	}
	vars["data"] = cty.ObjectVal(dataObj)
	v, diags := expr.Value(&hcl.EvalContext{Variables: vars, Functions: s.funcs})
	if diags.HasErrors() {
		return cty.NilVal, fmt.Errorf("%s: cannot evaluate %s: %v", rangeString(expr.Range()), quote(s.m.source(expr.Range())), diagMessages(diags))
	}
	return v, nil
}

func diagMessages(diags hcl.Diagnostics) string {
	var out []string
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			out = append(out, strings.TrimSuffix(d.Summary+": "+d.Detail, ": "))
		}
	}
	return strings.Join(out, "; ")
}

func quote(src string) string { return "`" + src + "`" }

// refError is the one sentence for a reference the evaluator cannot
// follow: where, which expression, why, and how to give the value.
func (s *Scope) refError(expr hcl.Expression, t hcl.Traversal, why, how string) error {
	if how == "" {
		how = "put the value in a variable and give it with -var"
	}
	r := t.SourceRange()
	return fmt.Errorf("%s: the lab cannot evaluate %s in %s: %s; %s", rangeString(r), quote(s.m.source(r)), quote(s.m.source(expr.Range())), why, how)
}

func attrName(t hcl.Traversal, i int) string {
	if i >= len(t) {
		return ""
	}
	if a, ok := t[i].(hcl.TraverseAttr); ok {
		return a.Name
	}
	return ""
}

// knownFunctions refuses a call of a function the evaluator lacks, before
// anything is evaluated.
func (s *Scope) knownFunctions(expr hcl.Expression) error {
	node, ok := expr.(hclsyntax.Node)
	if !ok {
		return nil
	}
	var err error
	_ = hclsyntax.VisitAll(node, func(n hclsyntax.Node) hcl.Diagnostics {
		if call, ok := n.(*hclsyntax.FunctionCallExpr); ok && err == nil {
			if _, known := s.funcs[call.Name]; !known {
				err = fmt.Errorf("%s: the lab cannot evaluate %s: %s is not a function it knows (it knows %s); put the value in a variable and give it with -var",
					rangeString(call.NameRange), quote(s.m.source(call.Range())), call.Name, strings.Join(FunctionNames(), ", "))
			}
		}
		return nil
	})
	return err
}

// local evaluates a local value once.
func (s *Scope) local(expr hcl.Expression, t hcl.Traversal, name string) (cty.Value, error) {
	if v, ok := s.locals[name]; ok {
		return v, nil
	}
	a, ok := s.m.Locals[name]
	if !ok {
		return cty.NilVal, s.refError(expr, t, fmt.Sprintf("local.%s is not declared in %s", name, s.m.Dir), "declare the local value")
	}
	key := "local." + name
	if s.busy[key] {
		return cty.NilVal, fmt.Errorf("%s: local.%s refers to itself", rangeString(a.Range), name)
	}
	s.busy[key] = true
	defer delete(s.busy, key)
	v, err := s.Eval(a.Expr, nil)
	if err != nil {
		return cty.NilVal, err
	}
	s.locals[name] = v
	return v, nil
}

// dataSource reads a data block through the caller's DataSources, with its
// count or for_each, preconditions and postconditions.
func (s *Scope) dataSource(expr hcl.Expression, t hcl.Traversal, typ, name string) (cty.Value, error) {
	key := typ + "." + name
	if v, ok := s.dataVals[key]; ok {
		return v, nil
	}
	b, ok := s.m.Data[key]
	if !ok {
		return cty.NilVal, s.refError(expr, t, fmt.Sprintf("data.%s is not declared in %s", key, s.m.Dir), "declare the data block")
	}
	read, ok := s.data[typ]
	if !ok {
		return cty.NilVal, s.refError(expr, t, fmt.Sprintf("it reads the data source %s, which the lab cannot read (it reads %s)", key, strings.Join(sortedKeys(s.data), ", ")), "")
	}
	if s.busy["data."+key] {
		return cty.NilVal, fmt.Errorf("%s: data.%s refers to itself", rangeString(b.Range), key)
	}
	s.busy["data."+key] = true
	defer delete(s.busy, "data."+key)
	insts, err := s.instances(b.Count, b.ForEach)
	if err != nil {
		return cty.NilVal, err
	}
	vals := map[string]cty.Value{}
	var list []cty.Value
	for _, in := range insts {
		args := map[string]cty.Value{}
		for _, n := range sortedKeys(b.Args) {
			v, err := s.Eval(b.Args[n].Expr, in.Extra)
			if err != nil {
				return cty.NilVal, err
			}
			args[n] = v
		}
		for _, c := range b.Pre {
			if err := s.check(c, in.Extra, "precondition of data."+key+" failed"); err != nil {
				return cty.NilVal, err
			}
		}
		v, err := read(args)
		if err != nil {
			return cty.NilVal, fmt.Errorf("%s: reading data.%s: %w", rangeString(b.Range), key, err)
		}
		withSelf := map[string]cty.Value{"self": v}
		for k, x := range in.Extra {
			withSelf[k] = x
		}
		for _, c := range b.Post {
			if err := s.check(c, withSelf, "postcondition of data."+key+" failed"); err != nil {
				return cty.NilVal, err
			}
		}
		vals[in.Key] = v
		list = append(list, v)
	}
	var v cty.Value
	switch {
	case b.Count != nil:
		v = cty.TupleVal(list)
		if len(list) == 0 {
			v = cty.EmptyTupleVal
		}
	case b.ForEach != nil:
		v = cty.ObjectVal(vals)
	default:
		v = list[0]
	}
	s.dataVals[key] = v
	return v, nil
}

// Instance is one instance of a block with count or for_each: its key
// ("" without either, the index with count) and its count or each.
type Instance struct {
	Key   string
	Extra map[string]cty.Value
}

// instances expands count or for_each.
func (s *Scope) instances(count, forEach hcl.Expression) ([]Instance, error) {
	switch {
	case count != nil:
		v, err := s.Eval(count, nil)
		if err != nil {
			return nil, err
		}
		var n int
		if v.IsNull() || !v.Type().Equals(cty.Number) || !v.AsBigFloat().IsInt() {
			return nil, fmt.Errorf("%s: count must be a whole number", rangeString(count.Range()))
		}
		i64, _ := v.AsBigFloat().Int64()
		n = int(i64)
		out := make([]Instance, n)
		for i := range n {
			out[i] = Instance{Key: fmt.Sprint(i), Extra: map[string]cty.Value{"count": cty.ObjectVal(map[string]cty.Value{"index": cty.NumberIntVal(int64(i))})}}
		}
		return out, nil
	case forEach != nil:
		v, err := s.Eval(forEach, nil)
		if err != nil {
			return nil, err
		}
		ty := v.Type()
		if v.IsNull() || !(ty.IsMapType() || ty.IsObjectType() || ty.IsSetType()) {
			return nil, fmt.Errorf("%s: for_each must be a map, an object or a set of strings, not %s", rangeString(forEach.Range()), ty.FriendlyName())
		}
		var out []Instance
		for it := v.ElementIterator(); it.Next(); {
			k, val := it.Element()
			if ty.IsSetType() {
				k = val
			}
			if k.Type() != cty.String {
				return nil, fmt.Errorf("%s: for_each over a set needs strings, not %s", rangeString(forEach.Range()), k.Type().FriendlyName())
			}
			out = append(out, Instance{Key: k.AsString(), Extra: map[string]cty.Value{"each": cty.ObjectVal(map[string]cty.Value{"key": k, "value": val})}})
		}
		return out, nil
	}
	return []Instance{{Extra: map[string]cty.Value{}}}, nil
}

// CallInstances are the instances of a module call (count, for_each or
// one).
func (s *Scope) CallInstances(c *Call) ([]Instance, error) { return s.instances(c.Count, c.ForEach) }

// Arg evaluates one argument of a module call for one instance; false when
// the block does not set it.
func (s *Scope) Arg(c *Call, in Instance, name string) (cty.Value, bool, error) {
	a, ok := c.Args[name]
	if !ok {
		return cty.NilVal, false, nil
	}
	v, err := s.Eval(a.Expr, in.Extra)
	return v, true, err
}

// CheckData reads every data block of a type the DataSources answer, so
// that their preconditions and postconditions hold as Terraform's plan
// would check them, whether or not a value refers to them.
func (s *Scope) CheckData() error {
	for _, key := range sortedKeys(s.m.Data) {
		b := s.m.Data[key]
		if _, ok := s.data[b.Type]; !ok {
			continue
		}
		t := hcl.Traversal{hcl.TraverseRoot{Name: "data", SrcRange: b.Range}}
		if _, err := s.dataSource(hcl.StaticExpr(cty.NullVal(cty.DynamicPseudoType), b.Range), t, b.Type, b.Name); err != nil {
			return err
		}
	}
	return nil
}

// CallDir is where a module call's local source lives: relative to the
// calling module.
func (m *Module) CallDir(c *Call) (string, bool) {
	if !strings.HasPrefix(c.Source, "./") && !strings.HasPrefix(c.Source, "../") {
		return "", false
	}
	return filepath.Join(m.Dir, c.Source), true
}
