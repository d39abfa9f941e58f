package tfmodule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stateful-aws/stateful/internal/plancheck"
	"github.com/stateful-aws/stateful/internal/proctest"
)

// pathConfig is a two-node cluster whose roll trigger runs `true`, with
// the given extra arguments.
func pathConfig(t *testing.T, work, extra string) {
	t.Helper()
	repo, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(work, repo)
	if err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`module "cluster" {
  source             = %q
  app_name           = "kafka"
  node_image         = "ami-0123456789abcdef0"
  instance_type      = "m6i.large"
  security_groups    = ["sg-0123456789abcdef0"]
  node_config_script = base64encode("configure_cluster_node() { :; }\n")
  nodes = [for i in range(2) : { node_id = "0${i}", node_ip = "10.0.${i}.10", node_subnet_id = "subnet-0aaaaaaaaaaaaaaa${i}" }]
  default_data_volume = { file_system_type = "xfs", mount_path = "/data", mount_path_owner_user = "u", mount_path_owner_group = "g", size_in_gibs = 16, type = "gp3" }
  node_files = []
  roll = { command = "true" }
%s
}
`, rel, extra)
	if err := os.WriteFile(filepath.Join(work, "main.tf"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTagEditMakesNoVersionAndNoRoll applies the module with the offline
// tofu, edits var.tags and plans: every launch template is planned exactly
// as in a plan without the edit (no argument of it changes, so AWS makes
// no new version), the roll trigger does not change, and the groups carry
// the new tags (propagated to instances at launch). The offline provider
// plans every template's tags_all, and so its latest_version, unknown
// after an apply (it leaves computed maps null), which is why the
// templates are compared with the unedited plan rather than with no-op.
func TestTagEditMakesNoVersionAndNoRoll(t *testing.T) {
	t.Parallel()
	tofu := tofuCommand(t)
	work := t.TempDir()
	pathConfig(t, work, `  tags = { Team = "streaming" }`)
	run(t, work, tofu, "init", "-input=false", "-no-color")
	run(t, work, tofu, "apply", "-auto-approve", "-input=false", "-no-color")
	planned := func() map[string]planChange {
		run(t, work, tofu, "plan", "-input=false", "-no-color", "-out", "plan.bin")
		var p struct {
			ResourceChanges []planChange `json:"resource_changes"`
		}
		if err := json.Unmarshal(run(t, work, tofu, "show", "-json", "plan.bin"), &p); err != nil {
			t.Fatal(err)
		}
		m := map[string]planChange{}
		for _, rc := range p.ResourceChanges {
			delete(rc.Change.After, "tags_all")
			m[rc.Address] = rc
		}
		return m
	}
	before := planned()
	pathConfig(t, work, `  tags = { Team = "platform", CostCenter = "42" }`)
	after := planned()
	templates, groups := 0, 0
	for addr, rc := range after {
		switch rc.Type {
		case "aws_launch_template":
			templates++
			if !reflect.DeepEqual(rc.Change.After, before[addr].Change.After) {
				t.Errorf("%s changes with a tag edit:\n%v\nwithout the edit:\n%v", addr, rc.Change.After, before[addr].Change.After)
			}
		case "terraform_data":
			if !slices.Equal(rc.Change.Actions, []string{"no-op"}) {
				t.Errorf("%s: %v after a tag edit, want no roll", addr, rc.Change.Actions)
			}
		case "aws_autoscaling_group":
			if fmt.Sprint(rc.Change.After["tag"]) == fmt.Sprint(before[addr].Change.After["tag"]) || !strings.Contains(fmt.Sprint(rc.Change.After["tag"]), "CostCenter") {
				t.Errorf("%s: tags %v, want the edit", addr, rc.Change.After["tag"])
			}
			groups++
		}
	}
	if templates != 2 || groups != 2 {
		t.Errorf("%d templates and %d groups in the plan, want 2 and 2", templates, groups)
	}
}

type planChange struct {
	Address string `json:"address"`
	Type    string `json:"type"`
	Change  struct {
		Actions []string       `json:"actions"`
		After   map[string]any `json:"after"`
	} `json:"change"`
}

// TestVolumeReplacementRefusedAtPlan: setting kms_key_id on an existing
// cluster would replace every data volume with a blank one; the plan
// fails naming the node and the key, until allow_data_volume_replacement
// says so. The key ID reaches the provider as an ARN (it accepts nothing
// else).
func TestVolumeReplacementRefusedAtPlan(t *testing.T) {
	t.Parallel()
	tofu := tofuCommand(t)
	work := t.TempDir()
	pathConfig(t, work, "")
	run(t, work, tofu, "init", "-input=false", "-no-color")
	run(t, work, tofu, "apply", "-auto-approve", "-input=false", "-no-color")
	const key = `  kms_key_id = "1234abcd-12ab-34cd-56ef-1234567890ab"`
	pathConfig(t, work, key)
	cmd := proctest.Command(t, tofu, "plan", "-input=false", "-no-color")
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "TF_IN_AUTOMATION=1", "TF_PLUGIN_CACHE_DIR=")
	out, err := cmd.CombinedOutput("tofu plan")
	flat := strings.Join(strings.Fields(string(out)), " ")
	if err == nil || !strings.Contains(flat, "would replace node 00's data volume with a blank one: its kms_key_arn changed") || !strings.Contains(flat, "allow_data_volume_replacement = true") {
		t.Fatalf("plan with a new key: %v, want the refusal:\n%s", err, out)
	}
	pathConfig(t, work, key+"\n  allow_data_volume_replacement = true")
	run(t, work, tofu, "plan", "-input=false", "-no-color", "-out", "plan.bin")
	plan, err := plancheck.Parse(bytes.NewReader(run(t, work, tofu, "show", "-json", "plan.bin")))
	if err != nil {
		t.Fatal(err)
	}
	replaced := 0
	for _, rc := range plan.ResourceChanges {
		if rc.Type == "aws_ebs_volume" && slices.Contains(rc.Change.Actions, "delete") {
			replaced++
		}
	}
	if replaced != 2 {
		t.Errorf("%d volumes replaced with the opt-in, want 2", replaced)
	}
}

// TestRemovedNodeDrainsBeforeItsHookGoes plans a node's removal with
// drain_on_termination and reads the plan's graph: the node's removal
// guard (whose destroy-time provisioner runs stateful remove-node) is
// destroyed before the node's drain hook, so the instance terminates
// through the hook while it still exists; nothing else of the cluster is
// touched.
func TestRemovedNodeDrainsBeforeItsHookGoes(t *testing.T) {
	t.Parallel()
	tofu := tofuCommand(t)
	work := t.TempDir()
	pathConfig(t, work, `  drain_on_termination = true`)
	run(t, work, tofu, "init", "-input=false", "-no-color")
	run(t, work, tofu, "apply", "-auto-approve", "-input=false", "-no-color")
	config, err := os.ReadFile(filepath.Join(work, "main.tf"))
	if err != nil {
		t.Fatal(err)
	}
	// Node 01 leaves the configuration.
	removed := strings.Replace(string(config), "range(2)", "range(1)", 1)
	if err := os.WriteFile(filepath.Join(work, "main.tf"), []byte(removed), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, work, tofu, "plan", "-input=false", "-no-color", "-out", "remove.bin")
	graph := string(run(t, work, tofu, "graph", "-plan=remove.bin"))
	node := `module.cluster.module.cluster_nodes[\"01\"]`
	edge := fmt.Sprintf(`"[root] %s.aws_autoscaling_lifecycle_hook.drain[0] (destroy)" -> "[root] module.cluster.terraform_data.node_removal[\"01\"] (destroy)"`, node)
	if !strings.Contains(graph, edge) {
		t.Errorf("the drain hook's deletion does not wait for the node's drain; want the edge %s in:\n%s", edge, graph)
	}
}
