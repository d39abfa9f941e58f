package awsapi

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// SSM is the part of Systems Manager the product uses: the node agent
// reads its secret files from Parameter Store (SecureString, decrypted).
type SSM interface {
	GetParameter(context.Context, *ssm.GetParameterInput, ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}
