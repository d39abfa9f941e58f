package simhttp_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/sim"
	"github.com/stateful-aws/stateful/internal/sim/simhttp"
)

// TestSSMParametersThroughTheSDK: the real SDK's SSM client against the
// HTTP face: a SecureString comes back decrypted only WithDecryption, by
// name or ARN; an unknown name is ParameterNotFound.
func TestSSMParametersThroughTheSDK(t *testing.T) {
	t.Parallel()
	e, err := sim.New(sim.Config{Clock: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(simhttp.New(e, nil))
	defer srv.Close()
	c := ssm.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""), RetryMaxAttempts: 1},
		func(o *ssm.Options) { o.BaseEndpoint = aws.String(srv.URL) })
	ctx := context.Background()
	const secret = "-----BEGIN PRIVATE KEY-----\nMIIEv...\n"
	if _, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/kafka/00/tls.key"), Value: aws.String(secret), Type: ssmtypes.ParameterTypeSecureString}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"/kafka/00/tls.key", "arn:aws:ssm:us-east-1:123456789012:parameter/kafka/00/tls.key"} {
		out, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
		if err != nil || aws.ToString(out.Parameter.Value) != secret || out.Parameter.Type != ssmtypes.ParameterTypeSecureString || out.Parameter.Version != 1 {
			t.Fatalf("GetParameter %s: %+v, %v", name, out, err)
		}
	}
	out, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/kafka/00/tls.key")})
	if err != nil || strings.Contains(aws.ToString(out.Parameter.Value), "PRIVATE") {
		t.Fatalf("without decryption: %+v, %v; want the ciphertext", out, err)
	}
	_, err = c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/kafka/01/tls.key"), WithDecryption: aws.Bool(true)})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "ParameterNotFound" {
		t.Fatalf("an unknown parameter: %v", err)
	}
}
