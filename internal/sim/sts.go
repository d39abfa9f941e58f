package sim

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// STSView answers the STS call the commands make before anything else
// (--expect-account): which account the caller's credentials reach. The
// simulator has one account (Config.Account) and one caller in it.
type STSView struct{ e *Engine }

// STS returns the engine's STS view.
func (e *Engine) STS() STSView { return STSView{e: e} }

// CallerARN is the identity every simulated caller has.
func (e *Engine) CallerARN() string { return "arn:aws:iam::" + e.cfg.Account + ":user/stateful-sim" }

// GetCallerIdentity answers as STS does: the account, the caller's ARN and
// its unique ID. It needs no permission, so it never fails on a policy.
func (v STSView) GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	return &sts.GetCallerIdentityOutput{
		Account: aws.String(v.e.cfg.Account),
		Arn:     aws.String(v.e.CallerARN()),
		UserId:  aws.String("AIDASTATEFULSIMULATOR"),
	}, nil
}
