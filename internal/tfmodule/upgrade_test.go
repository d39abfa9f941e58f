package tfmodule

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/stateful-aws/stateful/internal/plancheck"
	"github.com/stateful-aws/stateful/internal/proctest"
)

// The original module's last release, kept beside the repository.
const original = "../../../shared/seed/original-v0.8.0"

// A cluster built with the original module, as its users wrote it for
// v0.8.0: default_data_volume, node 01 with a 100 GiB node_data_disk,
// node files as objects.
const originalBlock = `
module "cluster" {
  source             = %q
  app_name           = "kafka"
  node_image         = "ami-0123456789abcdef0"
  node_key_name      = "my-keypair"
  instance_type      = "m6i.large"
  security_groups    = ["sg-0123456789abcdef0"]
  node_config_script = base64encode("configure_cluster_node() { :; }\nwait_for_healthy_cluster() { :; }\n")
  nodes = [
    { node_id = "00", node_ip = "10.0.1.10", node_subnet_id = "subnet-0aaaaaaaaaaaaaaaa" },
    { node_id = "01", node_ip = "10.0.2.10", node_subnet_id = "subnet-0bbbbbbbbbbbbbbbb", node_data_disk = { size_in_gibs = "100" } },
    { node_id = "02", node_ip = "10.0.3.10", node_subnet_id = "subnet-0cccccccccccccccc" },
  ]
  node_files = [for id in ["00", "01", "02"] : {
    node_id             = id
    node_files_toupload = [{ contents = base64encode("id=${id}\n"), destination = "/etc/kafka/node.properties" }]
  }]
  default_data_volume = {
    file_system_type       = "xfs"
    mount_path             = "/data"
    mount_path_owner_user  = "kafka"
    mount_path_owner_group = "kafka"
    size_in_gibs           = 16
    type                   = "gp3"
    mount_params           = ["noatime"]
  }
}
`

// The seed README's usage example (the module's older interface:
// data_volume, bare base64 node files), with its placeholders filled in.
const readmeBlock = `
module "cluster" {
  source        = %q
  app_name      = "kafka"
  node_image    = "ami-0123456789abcdef0"
  node_key_name = "my-keypair"
  nodes = [
    { node_ip = "10.0.1.10", node_id = "00", node_subnet_id = "subnet-0aaaaaaaaaaaaaaaa" },
    { node_ip = "10.0.2.10", node_id = "01", node_subnet_id = "subnet-0bbbbbbbbbbbbbbbb" },
    { node_ip = "10.0.3.10", node_id = "02", node_subnet_id = "subnet-0cccccccccccccccc" },
  ]
  node_files = [
    { node_id = "00", node_files_toupload = [base64encode("id=00\n")] },
    { node_id = "01", node_files_toupload = [base64encode("id=01\n")] },
    { node_id = "02", node_files_toupload = [base64encode("id=02\n")] },
  ]
  node_config_script = base64encode("configure_cluster_node() { :; }\nwait_for_healthy_cluster() { :; }\n")
  security_groups    = ["sg-0123456789abcdef0"]
  instance_type      = "m6i.large"
  data_volume = {
    file_system_type       = "xfs"
    mount_path             = "/data"
    mount_path_owner_user  = "kafka"
    mount_path_owner_group = "kafka"
    size_in_gibs           = 16
    type                   = "gp3"
    mount_params           = ["noatime"]
  }
}
`

// TestUpgradeFromTheOriginalReplacesNothing applies the original module
// (v0.8.0) with the offline tofu, points the same module block at this
// module and plans: nothing of a node is deleted or replaced, no volume
// shrinks, node 01 keeps its 100 GiB, and plan-check accepts the plan.
// The older README's block (data_volume), applied to a cluster built with
// v0.8.0's equivalent, must plan the same way.
func TestUpgradeFromTheOriginalReplacesNothing(t *testing.T) {
	t.Parallel()
	tofu := tofuCommand(t)
	for _, c := range []struct {
		name, before, after string
		sizes               map[string]float64
	}{
		{"v0.8.0 block", originalBlock, originalBlock, map[string]float64{"00": 16, "01": 100, "02": 16}},
		{"older README block", strings.Replace(originalBlock, `node_data_disk = { size_in_gibs = "100" } `, "", 1), readmeBlock, map[string]float64{"00": 16, "01": 16, "02": 16}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			orig := filepath.Join(dir, "original")
			copyOriginal(t, orig)
			work := filepath.Join(dir, "config")
			if err := os.Mkdir(work, 0o755); err != nil {
				t.Fatal(err)
			}
			write := func(block, source string) {
				if err := os.WriteFile(filepath.Join(work, "main.tf"), fmt.Appendf(nil, block, source), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			write(c.before, "../original")
			run(t, work, tofu, "init", "-input=false", "-no-color")
			run(t, work, tofu, "apply", "-auto-approve", "-input=false", "-no-color")

			repo, err := filepath.Abs(root)
			if err != nil {
				t.Fatal(err)
			}
			rel, err := filepath.Rel(work, repo)
			if err != nil {
				t.Fatal(err)
			}
			write(c.after, rel)
			run(t, work, tofu, "init", "-input=false", "-no-color")
			run(t, work, tofu, "plan", "-input=false", "-no-color", "-out", "plan.bin")
			plan, err := plancheck.Parse(bytes.NewReader(run(t, work, tofu, "show", "-json", "plan.bin")))
			if err != nil {
				t.Fatal(err)
			}

			if f := plancheck.Check(plan, plancheck.Allow{}); len(f) > 0 {
				t.Errorf("plan-check refuses the upgrade: %+v", f)
			}
			kept := []string{"aws_autoscaling_group", "aws_launch_template", "aws_ebs_volume", "aws_network_interface",
				"aws_iam_role", "aws_iam_instance_profile", "aws_iam_policy", "aws_iam_role_policy_attachment"}
			seen, newIAM := map[string]int{}, map[string]int{}
			summary := map[string]int{}
			for _, rc := range plan.ResourceChanges {
				summary[fmt.Sprintf("%s %s", strings.Join(rc.Change.Actions, "+"), rc.Type)]++
				if slices.Contains(rc.Change.Actions, "delete") && rc.Type != "terraform_data" {
					t.Errorf("%s: %v, want no delete or replacement on upgrade", rc.Address, rc.Change.Actions)
				}
				if !slices.Contains(kept, rc.Type) {
					continue
				}
				// Each node's own role and profile are new: the original
				// had one shared role, which is kept (below) for the
				// instances it launched until they are rolled.
				if strings.HasPrefix(rc.Type, "aws_iam_") && strings.Contains(rc.Address, "cluster_nodes[") {
					newIAM[rc.Type]++
					if !slices.Equal(rc.Change.Actions, []string{"create"}) {
						t.Errorf("%s: %v, want a node's own IAM created", rc.Address, rc.Change.Actions)
					}
					continue
				}
				seen[rc.Type]++
				if slices.Contains(rc.Change.Actions, "create") {
					t.Errorf("%s is created: the upgrade should have found it in the original's state", rc.Address)
				}
				if rc.Type == "aws_ebs_volume" {
					_, id, _ := strings.Cut(rc.Address, `cluster_nodes["`)
					id, _, _ = strings.Cut(id, `"]`)
					if a := rc.Change.After; a == nil || a.Size == nil || *a.Size != c.sizes[id] {
						t.Errorf("node %s's volume after the upgrade: %+v, want %g GiB", id, a, c.sizes[id])
					}
				}
			}
			t.Logf("the upgrade plan: %v", summary)
			// Per node: its own role, profile, policy and Session Manager policy.
			if want := map[string]int{"aws_iam_role": 3, "aws_iam_instance_profile": 3}; newIAM["aws_iam_role"] != want["aws_iam_role"] || newIAM["aws_iam_instance_profile"] != want["aws_iam_instance_profile"] {
				t.Errorf("new per-node IAM %v, want %v", newIAM, want)
			}
			// Three nodes' group, template, volume and ENI; the original's
			// role, profile, policy and two attachments, kept.
			for typ, n := range map[string]int{"aws_autoscaling_group": 3, "aws_launch_template": 3, "aws_ebs_volume": 3,
				"aws_network_interface": 3, "aws_iam_role": 1, "aws_iam_instance_profile": 1, "aws_iam_policy": 1, "aws_iam_role_policy_attachment": 2} {
				if seen[typ] != n {
					t.Errorf("%d %s in the plan, want %d (kept from the original's state)", seen[typ], typ, n)
				}
			}
		})
	}
}

// tofuCommand is OpenTofu for the upgrade test (proctest.Tofu: the PATH's
// or the offline one of ../shared/tools, already built). Without it the
// test fails: make test always has it.
func tofuCommand(t *testing.T) string {
	t.Helper()
	return proctest.Tofu(t, "../..")
}

func run(t *testing.T, dir, bin string, args ...string) []byte {
	t.Helper()
	cmd := proctest.Command(t, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TF_IN_AUTOMATION=1", "TF_PLUGIN_CACHE_DIR=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		err = cmd.Explain("tofu "+args[0], err)
		t.Fatalf("tofu %s in %s: %v\n%s\n%s", strings.Join(args, " "), dir, err, out, stderr.Bytes())
	}
	return out
}

// copyOriginal copies the original module without its roll trigger: a
// null_resource, whose provider cannot be installed offline and which
// holds no AWS state.
func copyOriginal(t *testing.T, to string) {
	t.Helper()
	err := filepath.WalkDir(original, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(original, path)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if rel == "main.tf" || rel == "versions.tf" {
			f, diags := hclwrite.ParseConfig(src, rel, hcl.InitialPos)
			if diags.HasErrors() {
				return diags
			}
			for _, b := range f.Body().Blocks() {
				if b.Type() == "resource" && slices.Equal(b.Labels(), []string{"null_resource", "roll_instances"}) {
					f.Body().RemoveBlock(b)
				}
				if b.Type() == "terraform" {
					for _, rp := range b.Body().Blocks() {
						if rp.Type() == "required_providers" {
							rp.Body().RemoveAttribute("null")
						}
					}
				}
			}
			src = f.Bytes()
		}
		return os.WriteFile(dst, src, 0o644)
	})
	if err != nil {
		t.Fatalf("copying the original module: %v", err)
	}
}

// TestDestroyTerminatesBeforeDeletingTheVolume applies the module offline,
// plans its destruction and reads the destroy graph: each node's volume is
// deleted only after its group (and so the instance that mounts the
// volume) is gone. Nothing else orders the two: the agent finds the
// volume by its tags.
func TestDestroyTerminatesBeforeDeletingTheVolume(t *testing.T) {
	t.Parallel()
	tofu := tofuCommand(t)
	work := t.TempDir()
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
  node_files = []
  default_data_volume = { file_system_type = "xfs", mount_path = "/data", mount_path_owner_user = "u", mount_path_owner_group = "g", size_in_gibs = 16, type = "gp3" }
  roll = { enabled = false }
}
`, rel)
	if err := os.WriteFile(filepath.Join(work, "main.tf"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, work, tofu, "init", "-input=false", "-no-color")
	run(t, work, tofu, "apply", "-auto-approve", "-input=false", "-no-color")
	run(t, work, tofu, "plan", "-destroy", "-input=false", "-no-color", "-out", "destroy.bin")
	graph := string(run(t, work, tofu, "graph", "-plan=destroy.bin"))
	for _, id := range []string{"00", "01"} {
		node := `[root] module.cluster.module.cluster_nodes[\"` + id + `\"]`
		// In the DOT graph, "A" -> "B" means A waits for B.
		edge := fmt.Sprintf(`"%s.aws_ebs_volume.node_data (destroy)" -> "%s.aws_autoscaling_group.node (destroy)"`, node, node)
		if !strings.Contains(graph, edge) {
			t.Errorf("node %s: the volume's deletion does not wait for the group's; want the edge %s in:\n%s", id, edge, graph)
		}
	}
}
