package cli

import (
	"context"
	"regexp"

	"github.com/spf13/pflag"

	"github.com/stateful-aws/stateful/internal/awsapi"
)

// registerAccount adds the flags that say whose credentials a command acts
// with: a role to assume and the account it must reach. The module's roll
// trigger sets both (STATEFUL_ROLE_ARN, STATEFUL_EXPECT_ACCOUNT), because
// local-exec never sees the provider block's own credentials.
func (f *awsFlags) registerAccount(fs *pflag.FlagSet) {
	fs.StringVar(&f.RoleARN, "role-arn", "", "assume this IAM role (with the credentials found as usual) for every call")
	fs.StringVar(&f.ExpectAccount, "expect-account", "", "refuse to do anything unless the credentials reach this 12-digit AWS account (STS GetCallerIdentity)")
}

// checkAccount refuses credentials that reach another account than
// --expect-account, before the command makes any other call.
func checkAccount(ctx context.Context, c awsapi.STS, f *awsFlags) error {
	if f.ExpectAccount == "" {
		return nil
	}
	if !accountID.MatchString(f.ExpectAccount) {
		return usageError("--expect-account %q is not an AWS account ID: give its 12 digits", f.ExpectAccount)
	}
	return awsapi.CheckAccount(ctx, c, f.ExpectAccount)
}

var accountID = regexp.MustCompile(`^[0-9]{12}$`)
