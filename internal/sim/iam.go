package sim

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/stateful-aws/stateful/internal/cluster"
)

// IAMAPI is the part of IAM the product calls: PutRolePolicy, with which
// the roll and recover --replace revoke a replaced node's older sessions.
// The roles are the ones the module creates, one per node group, named as
// modules/node/iam.tf names them (evict.RoleName, repeated here so that
// the simulator imports nothing of the product).
type IAMAPI struct{ e *Engine }

// IAM returns the engine's IAM API.
func (e *Engine) IAM() *IAMAPI { return &IAMAPI{e} }

var policyNamePattern = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)

// maxInlineRolePolicies is IAM's quota on a role's inline policies: their
// names and documents together, whitespace left out, in characters.
const maxInlineRolePolicies = 10240

// PutRolePolicy adds or replaces a role's inline policy, as IAM does: the
// role must exist (NoSuchEntity), the name match IAM's pattern and the
// document be JSON (MalformedPolicyDocument) within the role's quota
// (LimitExceeded).
func (a *IAMAPI) PutRolePolicy(ctx context.Context, in *iam.PutRolePolicyInput, _ ...func(*iam.Options)) (*iam.PutRolePolicyOutput, error) {
	return run(ctx, a.e, ServiceIAM, "PutRolePolicy", in, func(in *iam.PutRolePolicyInput) (*iam.PutRolePolicyOutput, error) {
		role, name, doc := aws.ToString(in.RoleName), aws.ToString(in.PolicyName), aws.ToString(in.PolicyDocument)
		if !policyNamePattern.MatchString(name) {
			return nil, apiErr("ValidationError", "The specified value for policyName is invalid.")
		}
		if !json.Valid([]byte(doc)) {
			return nil, apiErr("MalformedPolicyDocument", "Syntax errors in policy.")
		}
		if !a.e.roleExists(role) {
			return nil, apiErr("NoSuchEntity", "The role with name %s cannot be found.", role)
		}
		pol := a.e.rolePolicies[role]
		if pol == nil {
			pol = map[string]string{}
		}
		size := 0
		for n, d := range pol {
			if n != name {
				size += len(n) + len(strings.Join(strings.Fields(d), ""))
			}
		}
		if size+len(name)+len(strings.Join(strings.Fields(doc), "")) > maxInlineRolePolicies {
			return nil, apiErr("LimitExceeded", "Maximum policy size of 10240 bytes exceeded for role %s", role)
		}
		pol[name] = doc
		if a.e.rolePolicies == nil {
			a.e.rolePolicies = map[string]map[string]string{}
		}
		a.e.rolePolicies[role] = pol
		return &iam.PutRolePolicyOutput{}, nil
	})
}

// RolePolicy returns a role's inline policy document, for tests.
func (e *Engine) RolePolicy(role, name string) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d, ok := e.rolePolicies[role][name]
	return d, ok
}

// roleExists: every node group has its node's role.
func (e *Engine) roleExists(role string) bool {
	for name := range e.w.groups {
		if cluster.RoleName(name, e.cfg.Region) == role {
			return true
		}
	}
	return false
}
