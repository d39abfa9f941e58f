package tfmodule

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stateful-aws/stateful/internal/evict"
)

// The IAM tests plan a cluster with the offline tofu, take every node's
// policies from the plan and ask a small evaluator of IAM's documented
// semantics (allow statements, actions and resources with wildcards,
// condition operators, policy variables; a condition key missing from the
// request fails its condition) what a request from one node may do.

// iamStatement is a statement of a policy document as IAM reads it.
type iamStatement struct {
	Sid         string
	Effect      string
	Action      any
	Resource    any
	NotResource any
	Condition   map[string]map[string]any
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
	case []string:
		return x
	}
	return nil
}

// glob matches IAM's * and ? wildcards; ${*}, ${?} and ${$} in a pattern
// are the literal characters.
func glob(pattern, s string, fold bool) bool {
	if fold {
		pattern, s = strings.ToLower(pattern), strings.ToLower(s)
	}
	// path.Match treats / specially and [ and \ as syntax: IAM does none.
	pattern = strings.NewReplacer("/", "\x00", "[", "\\[", "\\", "\\\\", "${*}", "\\*", "${?}", "\\?", "${$}", "$").Replace(pattern)
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
		key := v[i+2 : i+j]
		if key == "*" || key == "?" || key == "$" {
			return v, true // escapes, left to glob
		}
		val, ok := ctx[key]
		if !ok {
			return "", false
		}
		v = v[:i] + val + v[i+j+1:]
	}
}

// matches reports whether the statement applies to the request: action,
// resource (or NotResource) and every condition, with IAM's rules for a
// key missing from the request (it fails a condition, but passes a
// negated operator, and ...IfExists passes).
func (s iamStatement) matches(t *testing.T, r iamRequest) bool {
	t.Helper()
	if s.Effect != "Allow" && s.Effect != "Deny" {
		t.Fatalf("statement %s: effect %q", s.Sid, s.Effect)
	}
	if !slices.ContainsFunc(strs(s.Action), func(a string) bool { return glob(a, r.action, true) }) {
		return false
	}
	inResource := func(v any) bool {
		return slices.ContainsFunc(strs(v), func(p string) bool {
			p, ok := substitute(p, r.ctx)
			return ok && glob(p, r.resource, false)
		})
	}
	if s.NotResource != nil {
		if inResource(s.NotResource) {
			return false
		}
	} else if !inResource(s.Resource) {
		return false
	}
	for op, keys := range s.Condition {
		for key, want := range keys {
			got, ok := r.ctx[key]
			switch op {
			case "ForAllValues:StringEquals":
				// Every value of a multi-valued key (comma-separated
				// here) is one of the listed ones; no value at all
				// passes, as in IAM.
				for _, v := range strings.Split(got, ",") {
					if ok && !slices.Contains(strs(want), v) {
						return false
					}
				}
				continue
			case "Null":
				if fmt.Sprint(want) == "true" && ok || fmt.Sprint(want) == "false" && !ok {
					return false
				}
				continue
			case "BoolIfExists":
				if ok && got != fmt.Sprint(want) {
					return false
				}
				continue
			case "StringNotEquals":
				if !ok {
					continue // a negated operator passes on a missing key
				}
				for _, w := range strs(want) {
					if w, ok := substitute(w, r.ctx); ok && got == w {
						return false
					} else if !ok {
						return false // a missing policy variable matches nothing
					}
				}
				continue
			case "DateLessThan":
				if !ok {
					return false
				}
				g, err1 := time.Parse(time.RFC3339, got)
				w, err2 := time.Parse(time.RFC3339, fmt.Sprint(want))
				if err1 != nil || err2 != nil {
					t.Fatalf("statement %s: %s %s: dates %q, %q", s.Sid, op, key, got, want)
				}
				if !g.Before(w) {
					return false
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

// allowed evaluates the role's policies as IAM does: an explicit deny wins,
// else some allow must apply. It returns the allowing statement's Sid, or
// "".
func allowed(t *testing.T, policies []iamPolicy, r iamRequest) string {
	t.Helper()
	sid := ""
	for _, p := range policies {
		for _, s := range p.Statement {
			if !s.matches(t, r) {
				continue
			}
			if s.Effect == "Deny" {
				return ""
			}
			if sid == "" {
				sid = s.Sid
				if sid == "" {
					sid = "(unnamed)"
				}
			}
		}
	}
	return sid
}

// planValues plans a module block (its source written SOURCE) with the
// offline tofu and returns the planned resources' values by address. The
// node policies name each node's volume by its ID, known once the volume
// exists: the block is applied first (the offline provider fills in
// placeholders), each node's volume gets its own ID in the state
// (vol-kafkaNN), and the plan is then made against that state.
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
	run(t, work, tofu, "apply", "-auto-approve", "-input=false", "-no-color")
	setVolumeIDs(t, work, tofu)
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

// setVolumeIDs gives each node's volume in the state the ID vol-kafkaNN.
func setVolumeIDs(t *testing.T, work, tofu string) {
	t.Helper()
	var state map[string]any
	if err := json.Unmarshal(run(t, work, tofu, "state", "pull"), &state); err != nil {
		t.Fatal(err)
	}
	state["serial"] = state["serial"].(float64) + 1
	for _, r := range state["resources"].([]any) {
		r := r.(map[string]any)
		if r["type"] != "aws_ebs_volume" {
			continue
		}
		_, id, _ := strings.Cut(fmt.Sprint(r["module"]), `cluster_nodes["`)
		id, _, _ = strings.Cut(id, `"]`)
		for _, inst := range r["instances"].([]any) {
			inst.(map[string]any)["attributes"].(map[string]any)["id"] = "vol-kafka" + id
		}
	}
	b, err := json.Marshal(state)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "edited.tfstate"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, work, tofu, "state", "push", "edited.tfstate")
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
  kms_key_id         = "arn:aws:kms:us-east-1:111122223333:key/0b5f0a5c-1111-2222-3333-444455556666"
  nodes = [for i in range(%d) : { node_id = format("%%02d", i), node_ip = "10.0.${i}.10", node_subnet_id = "subnet-0aaaaaaaaaaaaaaa${i %% 3}" }]
  node_files = []
  node_secret_files = [for i in range(%d) : { node_id = format("%%02d", i), parameter = "/kafka/${format("%%02d", i)}/tls.key", destination = "/etc/kafka/tls.key" }]
  default_data_volume = { file_system_type = "xfs", mount_path = "/data", mount_path_owner_user = "u", mount_path_owner_group = "g", size_in_gibs = 16, type = "gp3" }
  roll = { enabled = false }
  %s
}
`

// iamConfig is a cluster of n nodes; extra adds module arguments.
func iamConfig(nodes int, extra ...string) string {
	sum := strings.Repeat("ab", 32)
	return fmt.Sprintf(iamBlock, sum, sum, nodes, nodes, strings.Join(extra, "\n  "))
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
			if !ok && addr != "aws_iam_role_policy.node" {
				continue // ssm_access is not session-manager
			}
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
		for addr, v := range values {
			if !strings.HasPrefix(addr, prefix+"aws_iam_role_policy_attachment.") {
				continue
			}
			doc, ok := managedPolicies[fmt.Sprint(v["policy_arn"])]
			if !ok {
				t.Fatalf("%s%s: managed policy %v is not modelled by this test", prefix, addr, v["policy_arn"])
			}
			out[id] = append(out[id], doc)
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

// managedPolicies are the AWS managed policies the module may attach, as
// far as they matter here: AmazonSSMManagedInstanceCore's reads of every
// parameter (its document, version 3, allows ssm:GetParameter and
// ssm:GetParameters on *).
var managedPolicies = map[string]iamPolicy{
	"arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore": {Statement: []iamStatement{{
		Sid: "AmazonSSMManagedInstanceCore", Effect: "Allow",
		Action:   []string{"ssm:DescribeAssociation", "ssm:GetDeployablePatchSnapshotForInstance", "ssm:GetDocument", "ssm:DescribeDocument", "ssm:GetManifest", "ssm:GetParameter", "ssm:GetParameters", "ssm:ListAssociations", "ssm:ListInstanceAssociations", "ssm:PutInventory", "ssm:PutComplianceItems", "ssm:PutConfigurePackageResult", "ssm:UpdateAssociationStatus", "ssm:UpdateInstanceAssociationStatus", "ssm:UpdateInstanceInformation", "ssmmessages:*", "ec2messages:*"},
		Resource: "*",
	}}},
}

// TestCompromisedNodeStaysContained plans a cluster with everything that
// widens a node's role (ssm_access = "managed", a customer key for the
// secret parameters, the original module's role kept, pinned S3 versions,
// credentials bound to the VPC) and checks each way out a compromised node
// had: every peer's or foreign parameter, read directly or decrypted under
// any key; a volume tagged with its node id by someone else; another
// version of a pinned object; credentials used outside the VPC; and the
// old instance's credentials after the node was replaced, with a caller
// that no longer exists and DetachVolume naming no instance.
func TestCompromisedNodeStaysContained(t *testing.T) {
	t.Parallel()
	tofu := tofuCommand(t)
	const n = 2
	values := planValues(t, tofu, iamConfig(n,
		`ssm_access = "managed"`,
		`keep_original_role = true`,
		`node_credentials_vpc_only = true`,
		`secret_files_kms_key_id = "arn:aws:kms:us-east-1:111122223333:key/1b5f0a5c-1111-2222-3333-444455556666"`,
	))
	policies, _ := nodePolicies(t, values, n)
	orig, ok := values["module.cluster.aws_iam_policy.original[0]"]
	if !ok {
		t.Fatal("no original policy in the plan with keep_original_role = true")
	}
	var op iamPolicy
	if err := json.Unmarshal([]byte(fmt.Sprint(orig["policy"])), &op); err != nil {
		t.Fatal(err)
	}
	original := []iamPolicy{op, managedPolicies["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"]}

	const region, account = "us-east-1", "aws_caller_identity-account_id"
	ec2 := "arn:aws:ec2:" + region + ":" + account
	param := func(id string) string {
		return "arn:aws:ssm:" + region + ":" + account + ":parameter/kafka/" + id + "/tls.key"
	}
	secretsKey := "arn:aws:kms:us-east-1:111122223333:key/1b5f0a5c-1111-2222-3333-444455556666"
	awsSSMKey := "arn:aws:kms:us-east-1:" + account + ":key/aws-ssm-managed"
	foreign := "arn:aws:ssm:" + region + ":" + account + ":parameter/prod/db-password"
	// A call from the node's own instance, inside its VPC and from its address.
	from := func(caller string, ctx map[string]string) map[string]string {
		out := map[string]string{
			"ec2:SourceInstanceARN": ec2 + ":instance/" + caller, "aws:ec2InstanceSourceVPC": "vpc-1", "aws:SourceVpc": "vpc-1",
			"aws:ec2InstanceSourcePrivateIPv4": "10.0.0.10", "aws:VpcSourceIp": "10.0.0.10", "aws:TokenIssueTime": "2026-01-01T12:00:00Z",
		}
		for k, v := range ctx {
			out[k] = v
		}
		return out
	}
	decrypt := func(key, parameter string) iamRequest {
		return iamRequest{"kms:Decrypt", key, map[string]string{"kms:ViaService": "ssm." + region + ".amazonaws.com", "kms:EncryptionContext:PARAMETER_ARN": parameter}}
	}
	for i := range n {
		id, peer := fmt.Sprintf("%02d", i), fmt.Sprintf("%02d", (i+1)%n)
		caller := "i-kafka" + id
		ask := func(r iamRequest) string { r.ctx = from(caller, r.ctx); return allowed(t, policies[id], r) }
		volTags := map[string]string{"aws:ResourceTag/stateful:cluster": "kafka", "aws:ResourceTag/stateful:node-id": id}

		// What the node needs still works, with managed attached.
		for _, r := range []iamRequest{
			{"ssm:GetParameter", param(id), nil},
			decrypt(secretsKey, param(id)),
			{"ec2:AttachVolume", ec2 + ":volume/vol-kafka" + id, volTags},
			{"ssm:UpdateInstanceInformation", "*", nil},
		} {
			if ask(r) == "" {
				t.Errorf("node %s may not %s %s: it could not come up", id, r.action, r.resource)
			}
		}
		// Nothing else, whatever managed allows.
		for _, r := range []iamRequest{
			{"ssm:GetParameter", param(peer), nil},
			{"ssm:GetParameters", param(peer), nil},
			{"ssm:GetParameter", foreign, nil},
			{"ssm:GetParametersByPath", "arn:aws:ssm:" + region + ":" + account + ":parameter/kafka", nil},
			decrypt(secretsKey, param(peer)),
			decrypt(awsSSMKey, param(peer)),
			decrypt(awsSSMKey, foreign),
			// A volume someone else tagged with this node's id.
			{"ec2:AttachVolume", ec2 + ":volume/vol-forged", volTags},
			{"ec2:DetachVolume", ec2 + ":volume/vol-forged", volTags},
		} {
			if sid := ask(r); sid != "" {
				t.Errorf("node %s's statement %s allows %s on %s", id, sid, r.action, r.resource)
			}
		}
		// Credentials copied off the instance, used from elsewhere.
		for _, ctx := range []map[string]string{
			{"aws:SourceVpc": "vpc-attacker"},
			{"aws:VpcSourceIp": "10.9.9.9"},
		} {
			full := from(caller, ctx)
			if sid := allowed(t, policies[id], iamRequest{"ssm:GetParameter", param(id), full}); sid != "" {
				t.Errorf("node %s's credentials work outside its VPC or address (%v): statement %s", id, ctx, sid)
			}
		}

		// The node is replaced: the roll (or recover --replace) adds the
		// revocation policy with the replacement's launch as its cutoff.
		var revoke iamPolicy
		if err := json.Unmarshal([]byte(evict.Document(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))), &revoke); err != nil {
			t.Fatal(err)
		}
		after := append(slices.Clone(policies[id]), revoke)
		old := from("i-kafka"+id+"-old", nil) // an instance that no longer exists
		for _, r := range []iamRequest{
			// No InstanceId: only the volume is authorized.
			{"ec2:DetachVolume", ec2 + ":volume/vol-kafka" + id, volTags},
			{"autoscaling:CompleteLifecycleAction", "arn:aws:autoscaling:" + region + ":" + account + ":autoScalingGroup:5e3b1c1e-0000-4000-8000-000000000000:autoScalingGroupName/kafka-node-" + id, map[string]string{"autoscaling:ResourceTag/stateful:cluster": "kafka", "autoscaling:ResourceTag/stateful:node-id": id}},
			{"ssm:GetParameter", param(id), nil},
		} {
			ctx := maps.Clone(old)
			maps.Copy(ctx, r.ctx)
			if allowed(t, policies[id], iamRequest{r.action, r.resource, ctx}) == "" {
				t.Errorf("node %s: the model does not let the old session %s before the revocation; the check below is vacuous", id, r.action)
			}
			if sid := allowed(t, after, iamRequest{r.action, r.resource, ctx}); sid != "" {
				t.Errorf("node %s: after the replacement, the old instance's session may still %s on %s (statement %s)", id, r.action, r.resource, sid)
			}
			fresh := maps.Clone(ctx)
			fresh["aws:TokenIssueTime"], fresh["ec2:SourceInstanceARN"] = "2026-01-02T00:00:05Z", ec2+":instance/"+caller
			if allowed(t, after, iamRequest{r.action, r.resource, fresh}) == "" {
				t.Errorf("node %s: after the replacement, the replacement's own session may not %s", id, r.action)
			}
		}

		// The original role reads no parameter and decrypts no value
		// outside this cluster's secret files.
		for _, r := range []iamRequest{{"ssm:GetParameter", foreign, nil}, decrypt(awsSSMKey, foreign), decrypt(secretsKey, foreign)} {
			if sid := allowed(t, original, iamRequest{r.action, r.resource, from("i-original", r.ctx)}); sid != "" {
				t.Errorf("the original role's statement %s allows %s on %s", sid, r.action, r.resource)
			}
		}
	}
}

// TestPinnedS3Version: with a version pinned, the node reads that version
// of the object and no other, and * or ? in the key names no other object.
func TestPinnedS3Version(t *testing.T) {
	t.Parallel()
	tofu := tofuCommand(t)
	block := strings.Replace(iamConfig(1), `node_config_script_s3     = { sha256 = "`, `node_config_script_s3     = { version_id = "v1", sha256 = "`, 1)
	block = strings.Replace(block, `s3://scripts-bucket/node.sh`, `s3://scripts-bucket/node*.sh`, 1)
	policies, _ := nodePolicies(t, planValues(t, tofu, block), 1)
	obj := "arn:aws:s3:::scripts-bucket/node*.sh"
	if allowed(t, policies["00"], iamRequest{"s3:GetObjectVersion", obj, map[string]string{"s3:VersionId": "v1"}}) == "" {
		t.Error("the pinned version cannot be read")
	}
	for _, r := range []iamRequest{
		{"s3:GetObjectVersion", obj, map[string]string{"s3:VersionId": "v2"}},
		{"s3:GetObject", obj, nil},
		{"s3:GetObjectVersion", "arn:aws:s3:::scripts-bucket/node-evil.sh", map[string]string{"s3:VersionId": "v1"}},
	} {
		if sid := allowed(t, policies["00"], r); sid != "" {
			t.Errorf("statement %s allows %s on %s %v", sid, r.action, r.resource, r.ctx)
		}
	}
}
