// Package evict ends the sessions of a node's role issued before its
// replacement, the way AWS documents revoking a role's sessions: an inline
// policy that denies everything to credentials whose aws:TokenIssueTime is
// earlier than a cutoff. Credentials copied off a compromised instance then
// stop working once the node is replaced (by the roll or by recover
// --replace), while the replacement's own credentials, issued after its
// launch, keep working.
package evict

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/stateful-aws/stateful/internal/awsapi"
)

// PolicyName is the inline policy's name, the one the IAM console's
// "Revoke active sessions" writes.
const PolicyName = "AWSRevokeOlderSessions"

// IAM is the one IAM call this package makes.
type IAM = awsapi.IAM

// Document is the revocation policy for a cutoff: every action is denied
// to sessions issued before it.
func Document(before time.Time) string {
	doc := map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Effect":    "Deny",
			"Action":    []string{"*"},
			"Resource":  []string{"*"},
			"Condition": map[string]any{"DateLessThan": map[string]string{"aws:TokenIssueTime": before.UTC().Format(time.RFC3339)}},
		}},
	}
	b, _ := json.Marshal(doc)
	return string(b)
}

// Cutoff decides when sessions stop being trusted after a replacement:
// the replacement's launch (AWS's clock: its credentials are issued after
// it), or the moment the old instance was seen gone if that came first. The
// old instance's credentials were all issued before it was gone; only
// those it refreshed after the replacement's launch, while it still
// drained, outlive the cutoff.
func Cutoff(replacementLaunch, oldGone time.Time) time.Time {
	if oldGone.IsZero() || replacementLaunch.Before(oldGone) {
		return replacementLaunch
	}
	return oldGone
}

// Revoke writes the revocation policy on the role. A later cutoff
// replaces an earlier one (PutRolePolicy overwrites the policy of that
// name), which it always covers.
func Revoke(ctx context.Context, c IAM, role string, before time.Time) error {
	if c == nil {
		return fmt.Errorf("revoking the sessions of role %s: no IAM client", role)
	}
	_, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(PolicyName), PolicyDocument: aws.String(Document(before))})
	if err != nil {
		return fmt.Errorf("revoking the sessions of role %s issued before %s (iam:PutRolePolicy %s): %w", role, before.UTC().Format(time.RFC3339), PolicyName, err)
	}
	return nil
}
