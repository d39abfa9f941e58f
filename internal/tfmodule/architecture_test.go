package tfmodule

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// importRules reads the package table of docs/architecture.md: for each
// internal package, the internal packages it may import. The last column
// is "-" (none), a list of `names`, "everything below" (cli), or
// "(tests only)"; a parenthesis "(`sub`: `dep`, ...)" adds a sub-package
// allowed the row's list plus those (sim's `simhttp`). helpers are the
// rows whose packages only tests import.
func importRules(t *testing.T) (rules map[string][]string, helpers []string) {
	t.Helper()
	doc, err := os.ReadFile("../../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile("`([a-z/]+)`")
	sub := regexp.MustCompile("\\(`([a-z/]+)`: ([^)]*)\\)")
	rules = map[string][]string{}
	for _, line := range strings.Split(string(doc), "\n") {
		cells := strings.Split(line, " | ")
		if !strings.HasPrefix(line, "| `") || len(cells) < 3 {
			continue
		}
		pkg := name.FindStringSubmatch(cells[0])[1]
		deps := strings.TrimSuffix(strings.TrimSpace(cells[len(cells)-1]), " |")
		deps = strings.TrimSuffix(deps, "|")
		switch {
		case strings.Contains(deps, "tests only"):
			helpers = append(helpers, pkg)
			continue
		case strings.Contains(deps, "everything"), strings.HasPrefix(pkg, "cmd/"):
			continue
		}
		m := sub.FindStringSubmatch(deps)
		if m != nil {
			deps = strings.Replace(deps, m[0], "", 1)
		}
		rules[pkg] = []string{}
		for _, d := range name.FindAllStringSubmatch(deps, -1) {
			rules[pkg] = append(rules[pkg], d[1])
		}
		if m != nil {
			extra := slices.Clone(rules[pkg])
			for _, d := range name.FindAllStringSubmatch(m[2], -1) {
				extra = append(extra, d[1])
			}
			rules[pkg+"/"+m[1]] = extra
		}
	}
	return rules, helpers
}

// TestImportRules checks the import rules of docs/architecture.md against
// the code, reading the table from the document itself: each internal
// package imports only what its row allows, and every package the binary
// is built from has a row.
func TestImportRules(t *testing.T) {
	t.Parallel()
	allowed, helpers := importRules(t)
	if len(allowed) < 10 {
		t.Fatalf("read only %d rows from docs/architecture.md's package table: %v", len(allowed), allowed)
	}
	const prefix = "github.com/stateful-aws/stateful/internal/"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}:{{join .Imports " "}}`, "../...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ":")
		name := strings.TrimPrefix(pkg, prefix)
		allow, ok := allowed[name]
		if !ok {
			continue // cli (everything), test helpers, generators
		}
		seen[name] = true
		for _, imp := range strings.Fields(imports) {
			dep, internal := strings.CutPrefix(imp, prefix)
			if internal && !slices.Contains(allow, dep) {
				t.Errorf("%s imports %s, which docs/architecture.md does not allow", name, dep)
			}
		}
	}
	for name := range allowed {
		if !seen[name] {
			t.Errorf("docs/architecture.md has a row for %s, which is not a package", name)
		}
	}
	// Every package the full binary and the node binary link has a row.
	for _, tags := range []string{"", "stateful_node"} {
		out, err := exec.Command("go", "list", "-tags", tags, "-deps", "-f", "{{.ImportPath}}", "../../cmd/stateful").Output()
		if err != nil {
			t.Fatalf("go list -deps: %v", err)
		}
		for _, pkg := range strings.Fields(string(out)) {
			name, internal := strings.CutPrefix(pkg, prefix)
			if !internal || name == "cli" || strings.Contains(name, "/internal/") {
				continue
			}
			if _, ok := allowed[name]; !ok && !slices.Contains(helpers, name) {
				t.Errorf("the binary links %s, which docs/architecture.md's package table does not list", name)
			}
		}
	}
}
