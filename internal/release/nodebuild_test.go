package release

import (
	"os/exec"
	"strings"
	"testing"
)

// The release binaries run as root on every node: built with BuildTags
// they link neither the lab nor the simulator, nor the HCL and template
// libraries only those use, while the full build (make build) has them.
func TestReleaseBuildLeavesTheLabAndSimulatorOut(t *testing.T) {
	t.Parallel()
	deps := func(tags ...string) string {
		args := append([]string{"list", "-deps"}, tags...)
		out, err := exec.Command("go", append(args, "../../cmd/stateful")...).Output()
		if err != nil {
			t.Fatalf("go list: %v", err)
		}
		return string(out)
	}
	banned := []string{"/internal/lab\n", "/internal/sim\n", "/internal/sim/simhttp\n", "/internal/userdata\n", "github.com/hashicorp/hcl", "github.com/zclconf/go-cty"}
	node := deps("-tags", BuildTags)
	for _, b := range banned {
		if strings.Contains(node, b) {
			t.Errorf("the release build links %s", strings.TrimSpace(b))
		}
	}
	for _, need := range []string{"/internal/agent\n", "/internal/rollout\n", "/internal/plancheck\n"} {
		if !strings.Contains(node, need) {
			t.Errorf("the release build lacks %s", strings.TrimSpace(need))
		}
	}
	if full := deps(); !strings.Contains(full, "/internal/lab\n") || !strings.Contains(full, "github.com/hashicorp/hcl") {
		t.Error("the full build lost the lab")
	}
}
