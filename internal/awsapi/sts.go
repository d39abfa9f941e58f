package awsapi

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// STS is the part of the STS API the product uses: which account the
// credentials reach, so that a command refuses to act in another account
// than the one it was meant for (the roll trigger passes the module's).
type STS interface {
	GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// roleSessionName names the sessions assumed for Config.RoleARN in
// CloudTrail.
const roleSessionName = "stateful"

// assumeRole replaces cfg's credentials with the role's, assumed with
// cfg's own (the runner's) through STS and renewed before they expire.
func assumeRole(cfg *aws.Config, roleARN, endpointURL string) {
	client := sts.NewFromConfig(*cfg, stsEndpoint(endpointURL))
	cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(client, roleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = roleSessionName
	}))
}

func stsEndpoint(endpointURL string) func(*sts.Options) {
	return func(o *sts.Options) {
		if endpointURL != "" {
			o.BaseEndpoint = aws.String(endpointURL)
		}
	}
}

// AccountError is credentials that reach another account than expected.
type AccountError struct{ Want, Got, ARN string }

func (e *AccountError) Error() string {
	return fmt.Sprintf("the AWS credentials are %s in account %s, not the expected account %s: refusing to touch anything (check the profile, role or environment the command runs with)", e.ARN, e.Got, e.Want)
}

// CheckAccount asks STS which account the credentials reach and returns an
// *AccountError unless it is want.
func CheckAccount(ctx context.Context, c STS, want string) error {
	out, err := c.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return fmt.Errorf("asking STS which account the credentials reach (GetCallerIdentity): %w", err)
	}
	if got := aws.ToString(out.Account); got != want {
		return &AccountError{Want: want, Got: got, ARN: aws.ToString(out.Arn)}
	}
	return nil
}
