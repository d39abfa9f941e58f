package tfmodule

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

var update = flag.Bool("update", false, "rewrite the generated inputs and outputs tables of the READMEs")

const (
	beginDocs = "<!-- BEGIN_TF_DOCS -->"
	endDocs   = "<!-- END_TF_DOCS -->"
)

// docs renders the inputs and outputs of the module in dir as Markdown.
func docs(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	src := func(file string) ([]byte, *hclsyntax.Body) {
		path := filepath.Join(root, dir, file)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, diags := hclsyntax.ParseConfig(data, path, hcl.Pos{Line: 1, Column: 1})
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		return data, f.Body.(*hclsyntax.Body)
	}
	text := func(data []byte, r hcl.Range) string {
		s := strings.Join(strings.Fields(string(r.SliceBytes(data))), " ")
		return "`" + strings.ReplaceAll(s, "|", `\|`) + "`"
	}
	cell := func(s string) string {
		return strings.ReplaceAll(strings.Join(strings.Fields(s), " "), "|", `\|`)
	}
	data, body := src("variables.tf")
	b.WriteString("### Inputs\n\n| Name | Description | Type | Default | Required |\n|------|-------------|------|---------|:--------:|\n")
	for _, blk := range body.Blocks {
		if blk.Type != "variable" {
			continue
		}
		desc, typ, def, req := "", "", "n/a", "yes"
		if a, ok := blk.Body.Attributes["description"]; ok {
			v, _ := a.Expr.Value(nil)
			desc = cell(v.AsString())
		}
		if a, ok := blk.Body.Attributes["type"]; ok {
			typ = text(data, a.Expr.Range())
		}
		if a, ok := blk.Body.Attributes["default"]; ok {
			def, req = text(data, a.Expr.Range()), "no"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", blk.Labels[0], desc, typ, def, req)
	}
	_, body = src("outputs.tf")
	b.WriteString("\n### Outputs\n\n| Name | Description |\n|------|-------------|\n")
	for _, blk := range body.Blocks {
		if blk.Type != "output" {
			continue
		}
		desc := ""
		if a, ok := blk.Body.Attributes["description"]; ok {
			v, _ := a.Expr.Value(nil)
			desc = cell(v.AsString())
		}
		fmt.Fprintf(&b, "| `%s` | %s |\n", blk.Labels[0], desc)
	}
	return b.String()
}

func TestREADMEsDocumentEveryInputAndOutput(t *testing.T) {
	t.Parallel()
	for _, dir := range []string{".", "modules/node"} {
		path := filepath.Join(root, dir, "README.md")
		readme, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		s := string(readme)
		i, j := strings.Index(s, beginDocs), strings.Index(s, endDocs)
		if i < 0 || j < i {
			t.Fatalf("%s lacks the %s ... %s markers", path, beginDocs, endDocs)
		}
		want := s[:i+len(beginDocs)] + "\n" + docs(t, dir) + s[j:]
		if *update {
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if want != s {
			t.Errorf("%s: the inputs/outputs table is out of date: run go test ./internal/tfmodule -update (make docs)", path)
		}
	}
}
