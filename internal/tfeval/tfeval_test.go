package tfeval

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

func write(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func eval(t *testing.T, s *Scope, src string) (cty.Value, error) {
	t.Helper()
	expr, diags := hclsyntax.ParseExpression([]byte(src), "test.tf", hcl.Pos{Line: 1, Column: 1})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return s.Eval(expr, nil)
}

// TestFunctions checks Terraform's results of the functions module blocks
// use, including those the evaluator implements itself.
func TestFunctions(t *testing.T) {
	t.Parallel()
	dir := write(t, map[string]string{"main.tf": "", "f.txt": "hello\n", "t.tftpl": "%{ for n in names ~}\n${upper(n)}=${x}\n%{ endfor ~}"})
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewScope(m, dir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		`cidrhost("10.0.16.0/20", 10)`:                                     "10.0.16.10",
		`cidrhost("10.0.0.0/24", -1)`:                                      "10.0.0.255",
		`cidrhost("fd00::/64", 5)`:                                         "fd00::5",
		`cidrnetmask("10.0.0.0/20")`:                                       "255.255.240.0",
		`base64encode("a<b")`:                                              "YTxi",
		`base64decode("YTxi")`:                                             "a<b",
		`jsonencode({b = "<&>", a = [1, true]})`:                           `{"a":[1,true],"b":"\u003c\u0026\u003e"}`,
		`format("%02d", 7)`:                                                "07",
		`join(",", ["a", "b"])`:                                            "a,b",
		`tostring(length("héllo"))`:                                        "5",
		`tostring(length([1, 2]))`:                                         "2",
		`tostring(alltrue([true, true]))`:                                  "true",
		`tostring(anytrue([false]))`:                                       "false",
		`tostring(startswith("/data", "/"))`:                               "true",
		`replace("a-b-c", "/-+/", "_")`:                                    "a_b_c",
		`replace("a.b", ".", "_")`:                                         "a_b",
		`try(tonumber("x"), "fallback")`:                                   "fallback",
		`tostring(can(regex("^ami-", "ami-1")))`:                           "true",
		`merge({a = "1"}, {b = "2"})["b"]`:                                 "2",
		`lookup({a = "1"}, "z", "d")`:                                      "d",
		`file("` + dir + `/f.txt")`:                                        "hello\n",
		`filebase64("` + dir + `/f.txt")`:                                  "aGVsbG8K",
		`templatefile("` + dir + `/t.tftpl", {names = ["a", "b"], x = 1})`: "A=1\nB=1\n",
		`sha256("x")`:                                                      "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881",
		`one(["only"])`:                                                    "only",
		`coalesce("", "b")`:                                                "b",
		`trimsuffix("https://x/", "/")`:                                    "https://x",
	}
	for src, want := range cases {
		v, err := eval(t, s, src)
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		if v.Type() != cty.String || v.AsString() != want {
			t.Errorf("%s = %#v, want %q", src, v, want)
		}
	}
	if _, err := eval(t, s, `cidrhost("10.0.0.0/24", 256)`); err == nil || !strings.Contains(err.Error(), "has no host number 256") {
		t.Errorf("cidrhost past the prefix: %v", err)
	}
}

// TestVariablesAndLocals: optional attributes with defaults, the order of
// .tfvars and -var, validations, lazily evaluated locals and count'ed data.
func TestVariablesAndLocals(t *testing.T) {
	t.Parallel()
	dir := write(t, map[string]string{
		"main.tf": `
variable "v" {
  type = object({ a = string, b = optional(number, 7) })
}
variable "n" {
  type    = number
  default = 1
  validation {
    condition     = var.n < 10
    error_message = "n must be below 10."
  }
}
variable "s" {
  type    = string
  default = "x"
}
locals {
  doubled = var.v.b * 2
  zones   = [for d in data.thing.z : d.name]
  broken  = aws_instance.x.id
}
data "thing" "z" {
  count = var.n
  name  = "z${count.index}"
}
resource "aws_instance" "x" {}
`,
		"terraform.tfvars": `n = 2` + "\n" + `s = "from tfvars"`,
		"b.auto.tfvars":    `s = "from auto"`,
	})
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	in, err := Inputs(m, nil, []string{`v={ a = "A" }`, "s=from -var"})
	if err != nil {
		t.Fatal(err)
	}
	ds := DataSources{"thing": func(args map[string]cty.Value) (cty.Value, error) {
		return cty.ObjectVal(map[string]cty.Value{"name": args["name"]}), nil
	}}
	s, err := NewScope(m, dir, in, ds)
	if err != nil {
		t.Fatal(err)
	}
	for src, want := range map[string]string{
		`tostring(local.doubled)`: "14",
		`var.s`:                   "from -var",
		`join(",", local.zones)`:  "z0,z1",
		`tostring(var.n)`:         "2",
	} {
		v, err := eval(t, s, src)
		if err != nil || v.AsString() != want {
			t.Errorf("%s = %#v (%v), want %q", src, v, err, want)
		}
	}
	if _, err := eval(t, s, "local.broken"); err == nil || !strings.Contains(err.Error(), "main.tf:20: the lab cannot evaluate `aws_instance.x.id` in `aws_instance.x.id`: it refers to the resource aws_instance.x") {
		t.Errorf("a resource reference in a local: %v", err)
	}
	in["n"] = cty.NumberIntVal(12)
	if _, err := NewScope(m, dir, in, ds); err == nil || !strings.Contains(err.Error(), "main.tf:9: invalid value for variable n: n must be below 10.") {
		t.Errorf("a failed validation: %v", err)
	}
	delete(in, "v")
	if _, err := NewScope(m, dir, in, ds); err == nil || !strings.Contains(err.Error(), `variable "v" has no default and no value: give it with -var 'v=...'`) {
		t.Errorf("a missing variable: %v", err)
	}
	if _, err := Inputs(m, nil, []string{"v={ a = var.x }"}); err == nil || !strings.Contains(err.Error(), "-var v: the value must be a literal") {
		t.Errorf("a -var with a reference: %v", err)
	}
}

// TestRenderTemplateIsTerraforms: a template's directives and functions,
// and a variable it lacks named with its place.
func TestRenderTemplate(t *testing.T) {
	t.Parallel()
	out, err := RenderTemplate([]byte("%{ if x != \"\" ~}\nx=${jsonencode(x)}\n%{ endif ~}\n$${literal}"), "t.tftpl", map[string]cty.Value{"x": cty.StringVal("a&b")})
	if err != nil || out != "x=\"a\\u0026b\"\n${literal}" {
		t.Fatalf("%q, %v", out, err)
	}
	if _, err := RenderTemplate([]byte("${nope}"), "t.tftpl", map[string]cty.Value{}); err == nil || !strings.Contains(err.Error(), "t.tftpl:1: the template refers to nope") {
		t.Fatalf("missing variable: %v", err)
	}
}
