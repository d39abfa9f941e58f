package cli

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/stateful-aws/stateful/internal/lock"
)

// flakySSM fails every Parameter Store call with a connection error once
// down says so: AWS lost, for the lock as for the rest.
type flakySSM struct {
	lock.API
	down func() bool
}

func (f flakySSM) GetParameter(ctx context.Context, in *ssm.GetParameterInput, o ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	if f.down() {
		return nil, errConnectionReset
	}
	return f.API.GetParameter(ctx, in, o...)
}

func (f flakySSM) PutParameter(ctx context.Context, in *ssm.PutParameterInput, o ...func(*ssm.Options)) (*ssm.PutParameterOutput, error) {
	if f.down() {
		return nil, errConnectionReset
	}
	return f.API.PutParameter(ctx, in, o...)
}

func (f flakySSM) DeleteParameter(ctx context.Context, in *ssm.DeleteParameterInput, o ...func(*ssm.Options)) (*ssm.DeleteParameterOutput, error) {
	if f.down() {
		return nil, errConnectionReset
	}
	return f.API.DeleteParameter(ctx, in, o...)
}
