package tfmodule

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/stateful-aws/stateful/internal/agent"
	"github.com/stateful-aws/stateful/internal/cluster"
	"github.com/stateful-aws/stateful/internal/tfeval"
)

const root = "../.."

func parse(t *testing.T, file string) *hclsyntax.Body {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(root, file))
	if err != nil {
		t.Fatal(err)
	}
	f, diags := hclsyntax.ParseConfig(src, file, hcl.Pos{Line: 1, Column: 1})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	return f.Body.(*hclsyntax.Body)
}

// local finds the expression of a local value in a file.
func local(t *testing.T, file, name string) hclsyntax.Expression {
	t.Helper()
	for _, b := range parse(t, file).Blocks {
		if b.Type == "locals" {
			if a, ok := b.Body.Attributes[name]; ok {
				return a.Expr
			}
		}
	}
	t.Fatalf("no local %s in %s", name, file)
	return nil
}

func literal(t *testing.T, e hclsyntax.Expression) string {
	t.Helper()
	v, diags := e.Value(nil)
	if diags.HasErrors() {
		t.Fatalf("not a literal at %s: %s", e.Range(), diags.Error())
	}
	return v.AsString()
}

// keyName is an object key written as an identifier or a string.
func keyName(t *testing.T, e hclsyntax.Expression) string {
	t.Helper()
	w := e.(*hclsyntax.ObjectConsKeyExpr).Wrapped
	if kw := hcl.ExprAsKeyword(w); kw != "" {
		return kw
	}
	return literal(t, w)
}

func TestTagKeysAgree(t *testing.T) {
	t.Parallel()
	if got := literal(t, local(t, "main.tf", "cluster_tag_key")); got != cluster.TagCluster {
		t.Errorf("HCL cluster tag %q, Go %q", got, cluster.TagCluster)
	}
	if got := literal(t, local(t, "main.tf", "node_id_tag_key")); got != cluster.TagNodeID {
		t.Errorf("HCL node-id tag %q, Go %q", got, cluster.TagNodeID)
	}
}

// TestNamesAgree evaluates the module's name expressions for one cluster
// and node and compares them with the Go side's (the simulator, the lab and
// the tests build clusters with those).
func TestNamesAgree(t *testing.T) {
	t.Parallel()
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{
		"var": cty.ObjectVal(map[string]cty.Value{"app_name": cty.StringVal("kafka-prod")}),
		"id":  cty.StringVal("07"),
	}}
	eval := func(e hclsyntax.Expression) string {
		t.Helper()
		v, diags := e.Value(ctx)
		if diags.HasErrors() {
			t.Fatalf("evaluating %s: %s", e.Range(), diags.Error())
		}
		return v.AsString()
	}
	group, ok := local(t, "main.tf", "group_names").(*hclsyntax.ForExpr)
	if !ok {
		t.Fatal("local.group_names is not a for expression")
	}
	for _, c := range []struct{ what, hcl, goName string }{
		{"group", eval(group.ValExpr), cluster.GroupName("kafka-prod", "07")},
		{"launch hook", eval(local(t, "main.tf", "launch_hook_name")), cluster.LaunchHookName("kafka-prod")},
		{"drain hook", eval(local(t, "main.tf", "drain_hook_name")), cluster.DrainHookName("kafka-prod")},
	} {
		if c.hcl != c.goName {
			t.Errorf("%s name: HCL %q, Go %q", c.what, c.hcl, c.goName)
		}
	}
}

// keys lists the attribute paths an HCL object expression builds.
func keys(t *testing.T, e hclsyntax.Expression, prefix string, into map[string]bool) {
	switch x := e.(type) {
	case *hclsyntax.ForExpr:
		keys(t, x.ValExpr, prefix, into)
	case *hclsyntax.TupleConsExpr:
		for _, el := range x.Exprs {
			keys(t, el, prefix+"[]", into)
		}
	case *hclsyntax.ObjectConsExpr:
		for _, it := range x.Items {
			k := keyName(t, it.KeyExpr)
			into[prefix+k] = true
			keys(t, it.ValueExpr, prefix+k+".", into)
		}
	}
}

// jsonKeys lists the JSON attribute paths of a Go type.
func jsonKeys(typ reflect.Type, prefix string, into map[string]bool) {
	for typ.Kind() == reflect.Slice {
		typ = typ.Elem()
		prefix = strings.TrimSuffix(prefix, ".") + "[]."
	}
	if typ.Kind() != reflect.Struct {
		return
	}
	for i := range typ.NumField() {
		f := typ.Field(i)
		name := strings.Split(f.Tag.Get("json"), ",")[0]
		into[prefix+name] = true
		jsonKeys(f.Type, prefix+name+".", into)
	}
}

func TestAgentConfigShapeAgrees(t *testing.T) {
	t.Parallel()
	hclKeys, goKeys := map[string]bool{}, map[string]bool{}
	keys(t, local(t, "main.tf", "agent_config"), "", hclKeys)
	jsonKeys(reflect.TypeFor[agent.Config](), "", goKeys)
	// A list of objects built by a for expression has its keys under [].
	fixed := map[string]bool{}
	for k := range hclKeys {
		fixed[strings.Replace(k, "files.", "files[].", 1)] = true
	}
	if !reflect.DeepEqual(fixed, goKeys) {
		t.Errorf("local.agent_config and agent.Config differ:\nHCL only: %v\nGo only:  %v", diff(fixed, goKeys), diff(goKeys, fixed))
	}
}

func diff(a, b map[string]bool) []string {
	var out []string
	for k := range a {
		if !b[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// statement is one policy statement as written in modules/node/iam.tf.
type statement struct {
	sid      string
	actions  []string
	wildcard bool // Resource = "*"
}

func statements(t *testing.T) []statement {
	t.Helper()
	var out []statement
	var walk func(e hclsyntax.Expression)
	walk = func(e hclsyntax.Expression) {
		switch x := e.(type) {
		case *hclsyntax.FunctionCallExpr:
			for _, a := range x.Args {
				walk(a)
			}
		case *hclsyntax.ConditionalExpr:
			walk(x.TrueResult)
			walk(x.FalseResult)
		case *hclsyntax.TupleConsExpr:
			for _, el := range x.Exprs {
				walk(el)
			}
		case *hclsyntax.ObjectConsExpr:
			s := statement{}
			deny := false
			for _, it := range x.Items {
				if keyName(t, it.KeyExpr) == "Effect" && literal(t, it.ValueExpr) == "Deny" {
					deny = true
				}
			}
			if deny {
				return // a Deny grants nothing
			}
			for _, it := range x.Items {
				switch keyName(t, it.KeyExpr) {
				case "Sid":
					s.sid = literal(t, it.ValueExpr)
				case "Action":
					for _, a := range it.ValueExpr.(*hclsyntax.TupleConsExpr).Exprs {
						s.actions = append(s.actions, literal(t, a))
					}
				case "Resource":
					if v, diags := it.ValueExpr.Value(nil); !diags.HasErrors() && v.AsString() == "*" {
						s.wildcard = true
					}
				}
			}
			out = append(out, s)
		}
	}
	walk(local(t, "modules/node/iam.tf", "policy_statements"))
	return out
}

func TestInstancePolicyGrantsWhatTheAgentCallsAndNoMore(t *testing.T) {
	t.Parallel()
	var needed []string
	for prefix, iface := range map[string]reflect.Type{"ec2": reflect.TypeFor[agent.EC2](), "autoscaling": reflect.TypeFor[agent.AutoScaling]()} {
		for i := range iface.NumMethod() {
			needed = append(needed, prefix+":"+iface.Method(i).Name)
		}
	}
	granted := map[string]bool{}
	for _, s := range statements(t) {
		for _, a := range s.actions {
			granted[a] = true
			if s.wildcard && !strings.Contains(a, ":Describe") {
				t.Errorf("statement %s grants %s on every resource; only Describe calls may be unscoped", s.sid, a)
			}
		}
	}
	for _, a := range needed {
		if !granted[a] {
			t.Errorf("the agent calls %s, which the instance policy does not grant", a)
		}
	}
	extra := []string{}
	for a := range granted {
		if !slices.Contains(needed, a) && !strings.HasPrefix(a, "s3:") && !strings.HasPrefix(a, "kms:") && a != "ssm:GetParameter" {
			extra = append(extra, a)
		}
	}
	if len(extra) > 0 {
		t.Errorf("the policy grants calls the agent never makes: %v", extra)
	}
}

func TestTerraformFilesAreCanonical(t *testing.T) {
	t.Parallel()
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".terraform" || d.Name() == ".git" || d.Name() == "internal") {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(path, ".tf") && !strings.HasSuffix(path, ".tftest.hcl") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if got := hclwrite.Format(src); string(got) != string(src) {
			t.Errorf("%s is not canonically formatted: run terraform fmt (or tofu fmt)", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestScriptsPassShellcheck(t *testing.T) {
	t.Parallel()
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Skip("shellcheck is not installed (.ci/run installs it)")
	}
	scripts, _ := filepath.Glob(filepath.Join(root, "examples", "*", "*.sh"))
	scripts = append(scripts, filepath.Join(root, ".ci", "run"))
	if len(scripts) < 3 {
		t.Fatalf("found only %v", scripts)
	}
	out, err := exec.Command(sc, append([]string{"-s", "bash"}, scripts...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("shellcheck: %v\n%s", err, out)
	}
}

// TestRoleNameAgrees evaluates modules/node's role name (its group's name
// and the region, shortened past IAM's 64 characters) against the Go side's
// cluster.RoleName, which the roll and recover use to revoke a replaced
// node's older sessions: a mismatch would revoke nothing.
func TestRoleNameAgrees(t *testing.T) {
	t.Parallel()
	for _, group := range []string{"kafka-prod-node-07", strings.Repeat("long-cluster-name-", 4) + "node-07"} {
		ctx := &hcl.EvalContext{Functions: tfeval.Functions(), Variables: map[string]cty.Value{
			"var": cty.ObjectVal(map[string]cty.Value{
				"name": cty.StringVal(group),
				"iam":  cty.ObjectVal(map[string]cty.Value{"region": cty.StringVal("eu-west-1")}),
			}),
		}}
		locals := map[string]cty.Value{}
		for _, name := range []string{"role_base", "role_name"} {
			ctx.Variables["local"] = cty.ObjectVal(locals)
			v, diags := local(t, "modules/node/iam.tf", name).Value(ctx)
			if diags.HasErrors() {
				t.Fatalf("local.%s: %s", name, diags.Error())
			}
			locals[name] = v
		}
		if got, want := locals["role_name"].AsString(), cluster.RoleName(group, "eu-west-1"); got != want {
			t.Errorf("role name of %s: HCL %q, Go %q", group, got, want)
		}
	}
}
