package tfmodule

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The IAM tests plan a cluster with the offline tofu, take every node's
// policies from the plan and ask a small evaluator of IAM's documented
// semantics (allow statements, actions and resources with wildcards,
// condition operators, policy variables; a condition key missing from the
// request fails its condition) what a request from one node may do.

// iamStatement is a statement of a policy document as IAM reads it.
type iamStatement struct {
	Sid       string
	Effect    string
	Action    any
	Resource  any
	Condition map[string]map[string]any
}

type iamPolicy struct {
	Statement []iamStatement
}

// iamRequest is one call on one resource, with its request context.
type iamRequest struct {
	action, resource string
	ctx              map[string]string
}

func strs(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	return nil
}

// glob matches IAM's * and ? wildcards.
func glob(pattern, s string, fold bool) bool {
	if fold {
		pattern, s = strings.ToLower(pattern), strings.ToLower(s)
	}
	// path.Match treats / specially and [ as a class: IAM does neither.
	pattern = strings.NewReplacer("/", "\x00", "[", "\\[").Replace(pattern)
	ok, err := path.Match(pattern, strings.ReplaceAll(s, "/", "\x00"))
	return err == nil && ok
}

// substitute replaces ${key} policy variables from the request context;
// false when one is missing (IAM then fails the comparison).
func substitute(v string, ctx map[string]string) (string, bool) {
	for {
		i := strings.Index(v, "${")
		if i < 0 {
			return v, true
		}
		j := strings.Index(v[i:], "}")
		if j < 0 {
			return v, true
		}
		val, ok := ctx[v[i+2:i+j]]
		if !ok {
			return "", false
		}
		v = v[:i] + val + v[i+j+1:]
	}
}

func (s iamStatement) allows(t *testing.T, r iamRequest) bool {
	t.Helper()
	if s.Effect != "Allow" {
		t.Fatalf("statement %s: effect %q; these policies only allow", s.Sid, s.Effect)
	}
	if !slices.ContainsFunc(strs(s.Action), func(a string) bool { return glob(a, r.action, true) }) {
		return false
	}
	if !slices.ContainsFunc(strs(s.Resource), func(p string) bool {
		p, ok := substitute(p, r.ctx)
		return ok && glob(p, r.resource, false)
	}) {
		return false
	}
	for op, keys := range s.Condition {
		for key, want := range keys {
			got, ok := r.ctx[key]
			if op == "ForAllValues:StringEquals" {
				// Every value of a multi-valued key (comma-separated
				// here) is one of the listed ones; no value at all
				// passes, as in IAM.
				for _, v := range strings.Split(got, ",") {
					if ok && !slices.Contains(strs(want), v) {
						return false
					}
				}
				continue
			}
			if !ok {
				return false
			}
			match := false
			for _, w := range strs(want) {
				w, ok := substitute(w, r.ctx)
				if !ok {
					continue
				}
				switch op {
				case "StringEquals", "Bool":
					match = match || got == w
				case "StringLike", "ArnEquals", "ArnLike":
					match = match || glob(w, got, false)
				default:
					t.Fatalf("statement %s: condition operator %s is not modelled by this test", s.Sid, op)
				}
			}
			if !match {
				return false
			}
		}
	}
	return true
}

func allowed(t *testing.T, policies []iamPolicy, r iamRequest) string {
	t.Helper()
	for _, p := range policies {
		for _, s := range p.Statement {
			if s.allows(t, r) {
				return s.Sid
			}
		}
	}
	return ""
}

// planValues plans a module block (its source written SOURCE) with the offline tofu and returns the
// planned resources' values by address.
func planValues(t *testing.T, tofu, block string) map[string]map[string]any {
	t.Helper()
	work := t.TempDir()
	repo, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(work, repo)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "main.tf"), []byte(strings.Replace(block, "SOURCE", rel, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, work, tofu, "init", "-input=false", "-no-color")
	run(t, work, tofu, "plan", "-input=false", "-no-color", "-out", "plan.bin")
	var plan struct {
		PlannedValues struct {
			RootModule planModule `json:"root_module"`
		} `json:"planned_values"`
	}
	if err := json.Unmarshal(run(t, work, tofu, "show", "-json", "plan.bin"), &plan); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	plan.PlannedValues.RootModule.collect(out)
	return out
}

type planModule struct {
	Resources []struct {
		Address string         `json:"address"`
		Values  map[string]any `json:"values"`
	} `json:"resources"`
	ChildModules []planModule `json:"child_modules"`
}

func (m planModule) collect(into map[string]map[string]any) {
	for _, r := range m.Resources {
		into[r.Address] = r.Values
	}
	for _, c := range m.ChildModules {
		c.collect(into)
	}
}

const iamBlock = `
module "cluster" {
  source             = "SOURCE"
  app_name           = "kafka"
  node_image         = "ami-0123456789abcdef0"
  instance_type      = "m6i.large"
  security_groups    = ["sg-0123456789abcdef0"]
  node_config_script = base64encode("configure_cluster_node() { :; }\n")
  node_config_script_s3_url = "s3://scripts-bucket/node.sh"
  node_config_script_s3     = { sha256 = "%s", expected_bucket_owner = "111122223333" }
  agent              = { s3_uri = "s3://agent-bucket/stateful", sha256 = "%s", expected_bucket_owner = "111122223333" }
  kms_key_id         = "0b5f0a5c-1111-2222-3333-444455556666"
  nodes = [for i in range(%d) : { node_id = format("%%02d", i), node_ip = "10.0.${i}.10", node_subnet_id = "subnet-0aaaaaaaaaaaaaaa${i %% 3}" }]
  node_files = []
  node_secret_files = [for i in range(%d) : { node_id = format("%%02d", i), parameter = "/kafka/${format("%%02d", i)}/tls.key", destination = "/etc/kafka/tls.key" }]
  default_data_volume = { file_system_type = "xfs", mount_path = "/data", mount_path_owner_user = "u", mount_path_owner_group = "g", size_in_gibs = 16, type = "gp3" }
  roll = { enabled = false }
}
`

func iamConfig(nodes int) string {
	sum := strings.Repeat("ab", 32)
	return fmt.Sprintf(iamBlock, sum, sum, nodes, nodes)
}

// nodePolicies returns, per node id, every policy document its role gets
// from the module.
func nodePolicies(t *testing.T, values map[string]map[string]any, nodes int) (map[string][]iamPolicy, map[string]int) {
	t.Helper()
	out, sizes := map[string][]iamPolicy{}, map[string]int{}
	for i := range nodes {
		id := fmt.Sprintf("%02d", i)
		prefix := fmt.Sprintf(`module.cluster.module.cluster_nodes["%s"].`, id)
		for _, addr := range []string{"aws_iam_role_policy.node", "aws_iam_role_policy.session_manager[0]"} {
			v, ok := values[prefix+addr]
			if !ok {
				t.Fatalf("no %s%s in the plan", prefix, addr)
			}
			doc, ok := v["policy"].(string)
			if !ok {
				t.Fatalf("%s%s: the policy is not known at plan time: %v", prefix, addr, v["policy"])
			}
			var p iamPolicy
			if err := json.Unmarshal([]byte(doc), &p); err != nil {
				t.Fatalf("%s%s: %v", prefix, addr, err)
			}
			out[id] = append(out[id], p)
			sizes[id] += len(doc)
		}
		for addr := range values {
			if strings.HasPrefix(addr, prefix+"aws_iam_role_policy_attachment.") {
				t.Errorf("%s%s: a managed policy attached by default (ssm_access = session-manager attaches none)", prefix, addr)
			}
		}
	}
	return out, sizes
}

// TestNoNodePolicyReachesAnotherNode: from each node's instance, every
// action any node's policy grants (and the SSM parameter reads) is tried on
// every other node's volume, instance, group (its hooks) and parameter, on
// another cluster's node of the same id, on the node's own root volume and
// on another instance of the same node: all denied. The node's own calls
// are allowed (the evaluator is not vacuous). The policy's size does not
// depend on the node count.
func TestNoNodePolicyReachesAnotherNode(t *testing.T) {
	t.Parallel()
	tofu := tofuCommand(t)
	const n = 3
	policies, sizes := nodePolicies(t, planValues(t, tofu, iamConfig(n)), n)

	// The values the placeholder subnet and caller identity give the plan.
	const region, account = "us-east-1", "aws_caller_identity-account_id"
	ec2 := "arn:aws:ec2:" + region + ":" + account
	type resource struct {
		what, arn string
		ctx       map[string]string
	}
	nodeResources := func(cluster, id string) []resource {
		tags := func(prefix, nodeID string) map[string]string {
			return map[string]string{prefix + "ResourceTag/stateful:cluster": cluster, prefix + "ResourceTag/stateful:node-id": nodeID}
		}
		inst := tags("aws:", id)
		inst["ec2:InstanceID"] = "i-" + cluster + id
		return []resource{
			{"volume", ec2 + ":volume/vol-" + cluster + id, tags("aws:", id)},
			{"root volume", ec2 + ":volume/vol-root-" + cluster + id, tags("aws:", id+"-root")},
			{"instance", ec2 + ":instance/i-" + cluster + id, inst},
			{"group", "arn:aws:autoscaling:" + region + ":" + account + ":autoScalingGroup:5e3b1c1e-0000-4000-8000-000000000000:autoScalingGroupName/" + cluster + "-node-" + id, tags("autoscaling:", id)},
			{"parameter", "arn:aws:ssm:" + region + ":" + account + ":parameter/" + cluster + "/" + id + "/tls.key", map[string]string{}},
		}
	}
	// Every action any node may take, and the reads of parameters and keys
	// a compromised node would try.
	actions := []string{"ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath", "ssm:GetParameterHistory", "kms:Decrypt", "kms:CreateGrant"}
	for _, ps := range policies {
		for _, p := range ps {
			for _, s := range p.Statement {
				for _, a := range strs(s.Action) {
					// Session Manager's calls name no resource: they act
					// on the calling instance's own session.
					if strings.HasPrefix(a, "ssmmessages:") || a == "ssm:UpdateInstanceInformation" {
						continue
					}
					if !strings.Contains(a, ":Describe") && !slices.Contains(actions, a) {
						actions = append(actions, a)
					}
				}
			}
		}
	}
	withTagKeys := func(ctx map[string]string, keys string) map[string]string {
		out := map[string]string{"aws:TagKeys": keys}
		for k, v := range ctx {
			out[k] = v
		}
		return out
	}
	withCaller := func(ctx map[string]string, caller string) map[string]string {
		out := map[string]string{"ec2:SourceInstanceARN": ec2 + ":instance/" + caller}
		for k, v := range ctx {
			out[k] = v
		}
		return out
	}

	// A compromised node tagging its own instance with another key (the
	// node-id tag it is scoped by, say) is refused too.
	for i := range n {
		id := fmt.Sprintf("%02d", i)
		own := nodeResources("kafka", id)[2]
		if sid := allowed(t, policies[id], iamRequest{"ec2:CreateTags", own.arn, withCaller(withTagKeys(own.ctx, "stateful:node-id"), "i-kafka"+id)}); sid != "" {
			t.Errorf("node %s's statement %s lets it retag its own instance's node id", id, sid)
		}
	}
	for i := range n {
		id := fmt.Sprintf("%02d", i)
		caller := "i-kafka" + id
		own := nodeResources("kafka", id)
		// The node's own calls go through.
		for _, c := range []iamRequest{
			{"ec2:AttachVolume", own[0].arn, withCaller(own[0].ctx, caller)},
			{"ec2:AttachVolume", own[2].arn, withCaller(own[2].ctx, caller)},
			{"ec2:DetachVolume", own[0].arn, withCaller(own[0].ctx, caller)},
			{"ec2:DetachVolume", own[2].arn, withCaller(own[2].ctx, caller)},
			{"autoscaling:CompleteLifecycleAction", own[3].arn, withCaller(own[3].ctx, caller)},
			{"autoscaling:RecordLifecycleActionHeartbeat", own[3].arn, withCaller(own[3].ctx, caller)},
			{"ssm:GetParameter", own[4].arn, withCaller(nil, caller)},
			{"ec2:CreateTags", own[2].arn, withCaller(withTagKeys(own[2].ctx, "stateful:bootstrap-failure"), caller)},
			{"ec2:CreateTags", own[2].arn, withCaller(withTagKeys(own[2].ctx, "stateful:bootstrap-failure-class"), caller)},
			{"ec2:CreateTags", own[2].arn, withCaller(withTagKeys(own[2].ctx, "stateful:ready"), caller)},
			{"ssmmessages:OpenDataChannel", "*", withCaller(nil, caller)},
		} {
			if allowed(t, policies[id], c) == "" {
				t.Errorf("node %s may not %s on its own %s: the node could not come up", id, c.action, c.resource)
			}
		}
		// Nothing reaches anything else.
		var others []resource
		for j := range n {
			if j != i {
				others = append(others, nodeResources("kafka", fmt.Sprintf("%02d", j))...)
			}
		}
		others = append(others, nodeResources("other", id)...)
		others = append(others, own[1]) // its own root volume
		sibling := own[2]
		sibling.arn, sibling.ctx = ec2+":instance/i-kafka"+id+"-old", map[string]string{"aws:ResourceTag/stateful:cluster": "kafka", "aws:ResourceTag/stateful:node-id": id, "ec2:InstanceID": "i-kafka" + id + "-old"}
		others = append(others, sibling,
			resource{"any parameter", "arn:aws:ssm:" + region + ":" + account + ":parameter/prod/db-password", map[string]string{}})
		for _, r := range others {
			for _, a := range actions {
				if sid := allowed(t, policies[id], iamRequest{a, r.arn, withCaller(r.ctx, caller)}); sid != "" {
					t.Errorf("node %s's statement %s allows %s on %s %s", id, sid, a, r.what, r.arn)
				}
			}
		}
	}

	// The same node's policy in a cluster four times the size.
	_, bigger := nodePolicies(t, planValues(t, tofu, iamConfig(4*n)), 4*n)
	if bigger["00"] != sizes["00"] {
		t.Errorf("node 00's policies are %d bytes with %d nodes and %d with %d: their size must not depend on the node count", sizes["00"], n, bigger["00"], 4*n)
	}
}
