package simhttp_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/sim"
	"github.com/stateful-aws/stateful/internal/sim/simhttp"
)

// TestCallerIdentityThroughTheSDK: the real SDK's STS client against the
// HTTP face gets the simulator's account, and awsapi.CheckAccount (what
// --expect-account runs) accepts it and refuses any other, naming both.
func TestCallerIdentityThroughTheSDK(t *testing.T) {
	t.Parallel()
	e, err := sim.New(sim.Config{Clock: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), Account: "111122223333"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(simhttp.New(e, nil))
	defer srv.Close()
	c := sts.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""), RetryMaxAttempts: 1},
		func(o *sts.Options) { o.BaseEndpoint = aws.String(srv.URL) })
	ctx := context.Background()
	out, err := c.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(out.Account) != "111122223333" || aws.ToString(out.Arn) != "arn:aws:iam::111122223333:user/stateful-sim" {
		t.Fatalf("GetCallerIdentity: %+v, %v", out, err)
	}
	if err := awsapi.CheckAccount(ctx, c, "111122223333"); err != nil {
		t.Fatalf("the right account refused: %v", err)
	}
	err = awsapi.CheckAccount(ctx, c, "444455556666")
	var acct *awsapi.AccountError
	if !errors.As(err, &acct) || acct.Got != "111122223333" || acct.Want != "444455556666" {
		t.Fatalf("another account: %v, want an AccountError naming both", err)
	}
}
