package tfmodule

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestImportRules checks the import rules of docs/architecture.md against
// the code: each internal package imports only what the table allows.
func TestImportRules(t *testing.T) {
	t.Parallel()
	allowed := map[string][]string{
		"cluster":     {},
		"clock":       {},
		"awsapi":      {"clock"},
		"inventory":   {"awsapi", "clock", "cluster", "diagnosis"},
		"diagnosis":   {"cluster", "termtext"},
		"termtext":    {},
		"evict":       {"awsapi", "clock"},
		"rollout":     {"awsapi", "clock", "cluster", "inventory"},
		"appcheck":    {"cluster"},
		"recovery":    {"cluster"},
		"lock":        {"awsapi", "clock", "termtext"},
		"plancheck":   {},
		"agent":       {"awsapi", "blockdev", "clock", "cluster", "termtext"},
		"blockdev":    {},
		"release":     {},
		"tfeval":      {},
		"userdata":    {"agent", "release", "tfeval"},
		"sim":         {"awsapi", "clock", "cluster"},
		"sim/simhttp": {"awsapi", "clock", "cluster", "sim"},
		"sim/simtest": {"sim"},
		"lab":         {"awsapi", "blockdev", "clock", "cluster", "inventory", "release", "rollout", "sim", "sim/simhttp", "tfeval"},
	}
	const prefix = "github.com/stateful-aws/stateful/internal/"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}:{{join .Imports " "}}`, "../...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ":")
		name := strings.TrimPrefix(pkg, prefix)
		allow, ok := allowed[name]
		if !ok {
			continue // cli (everything), test helpers, generators
		}
		seen++
		for _, imp := range strings.Fields(imports) {
			dep, internal := strings.CutPrefix(imp, prefix)
			if internal && !slices.Contains(allow, dep) {
				t.Errorf("%s imports %s, which docs/architecture.md does not allow", name, dep)
			}
		}
	}
	if seen != len(allowed) {
		t.Errorf("found %d of the %d packages of docs/architecture.md", seen, len(allowed))
	}
}
