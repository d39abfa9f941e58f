package cli

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/stateful-aws/stateful/internal/lock"
)

// operatorSSM is the Parameter Store client the commands of the system
// property test use (the lock, the failure mark): over the command's own
// link, so its writes' answers may be lost and it dies with a hard kill.
type operatorSSM struct {
	lock.API
	o *operatorLink
}

func (c operatorSSM) GetParameter(ctx context.Context, in *ssm.GetParameterInput, opt ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	return relay(c.o, ctx, in, func(ctx context.Context, in *ssm.GetParameterInput) (*ssm.GetParameterOutput, error) {
		return c.API.GetParameter(ctx, in, opt...)
	}, false)
}

func (c operatorSSM) PutParameter(ctx context.Context, in *ssm.PutParameterInput, opt ...func(*ssm.Options)) (*ssm.PutParameterOutput, error) {
	return relay(c.o, ctx, in, func(ctx context.Context, in *ssm.PutParameterInput) (*ssm.PutParameterOutput, error) {
		return c.API.PutParameter(ctx, in, opt...)
	}, true)
}

func (c operatorSSM) DeleteParameter(ctx context.Context, in *ssm.DeleteParameterInput, opt ...func(*ssm.Options)) (*ssm.DeleteParameterOutput, error) {
	return relay(c.o, ctx, in, func(ctx context.Context, in *ssm.DeleteParameterInput) (*ssm.DeleteParameterOutput, error) {
		return c.API.DeleteParameter(ctx, in, opt...)
	}, true)
}
