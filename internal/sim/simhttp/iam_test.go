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
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"

	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/cluster"
	"github.com/stateful-aws/stateful/internal/sim"
	"github.com/stateful-aws/stateful/internal/sim/simhttp"
)

// TestPutRolePolicyThroughTheSDK: the real SDK's IAM client writes a node
// role's inline policy over the HTTP face; another role is NoSuchEntity,
// a document that is not JSON MalformedPolicyDocument, as IAM answers.
func TestPutRolePolicyThroughTheSDK(t *testing.T) {
	t.Parallel()
	e, ctx := startSim(t)
	nodes, err := sim.Provision(ctx, e.AutoScaling(), e.EC2(), e.Region(), sim.ClusterSpec{Name: "demo", Nodes: 1, HookTimeout: 300})
	if err != nil {
		t.Fatal(err)
	}
	role := cluster.RoleName(nodes[0].Group, e.Region())
	srv := httptest.NewServer(simhttp.New(e, nil))
	defer srv.Close()
	c := iam.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""), RetryMaxAttempts: 1},
		func(o *iam.Options) { o.BaseEndpoint = aws.String(srv.URL) })
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["*"],"Resource":["*"],"Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-01-01T00:00:00Z"}}}]}`
	if _, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String("AWSRevokeOlderSessions"), PolicyDocument: aws.String(doc)}); err != nil {
		t.Fatal(err)
	}
	if got, ok := e.RolePolicy(role, "AWSRevokeOlderSessions"); !ok || got != doc {
		t.Fatalf("the role's policy: %q %v", got, ok)
	}
	for want, in := range map[string]*iam.PutRolePolicyInput{
		"NoSuchEntity":            {RoleName: aws.String("someone-else"), PolicyName: aws.String("p"), PolicyDocument: aws.String(doc)},
		"MalformedPolicyDocument": {RoleName: aws.String(role), PolicyName: aws.String("p"), PolicyDocument: aws.String("{")},
	} {
		_, err := c.PutRolePolicy(ctx, in)
		var api smithy.APIError
		if !errors.As(err, &api) || api.ErrorCode() != want {
			t.Errorf("want %s: %v", want, err)
		}
	}
	if _, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String("p"), PolicyDocument: aws.String(`{"x":"` + strings.Repeat("a", 10300) + `"}`)}); err == nil {
		t.Error("a policy past the role's 10,240 characters was accepted")
	}
}

func startSim(t *testing.T) (*sim.Engine, context.Context) {
	t.Helper()
	e, err := sim.New(sim.Config{Clock: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))})
	if err != nil {
		t.Fatal(err)
	}
	return e, context.Background()
}
