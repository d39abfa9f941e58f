package simhttp_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/proctest"
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

// TestSSMLockCallsThroughTheSDK: what internal/lock needs of Parameter
// Store, through the real SDK: a create-if-absent that refuses with
// ParameterAlreadyExists, versions that count every write, a version
// selector, and a delete after which the name starts over at version 1.
func TestSSMLockCallsThroughTheSDK(t *testing.T) {
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
	name := aws.String("/stateful/kafka/lock")
	put := func(v string, overwrite bool) (int64, error) {
		out, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: name, Value: aws.String(v), Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(overwrite)})
		if err != nil {
			return 0, err
		}
		return out.Version, nil
	}
	if v, err := put("a", false); v != 1 || err != nil {
		t.Fatalf("create: %d, %v", v, err)
	}
	var exists *ssmtypes.ParameterAlreadyExists
	if _, err := put("b", false); !errors.As(err, &exists) {
		t.Fatalf("a second create: %v; want *types.ParameterAlreadyExists", err)
	}
	if v, err := put("c", true); v != 2 || err != nil {
		t.Fatalf("overwrite: %d, %v", v, err)
	}
	out, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/stateful/kafka/lock:1")})
	if err != nil || aws.ToString(out.Parameter.Value) != "a" || out.Parameter.Version != 1 || aws.ToString(out.Parameter.Selector) != ":1" {
		t.Fatalf("version 1: %+v, %v", out, err)
	}
	var missing *ssmtypes.ParameterVersionNotFound
	if _, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/stateful/kafka/lock:3")}); !errors.As(err, &missing) {
		t.Fatalf("version 3: %v; want *types.ParameterVersionNotFound", err)
	}
	if _, err := c.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: name}); err != nil {
		t.Fatal(err)
	}
	var notFound *ssmtypes.ParameterNotFound
	if _, err := c.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: name}); !errors.As(err, &notFound) {
		t.Fatalf("a second delete: %v; want *types.ParameterNotFound", err)
	}
	if v, err := put("d", false); v != 1 || err != nil {
		t.Fatalf("created again: %d, %v; want version 1", v, err)
	}
}

// TestSSMLockCallsThroughTheAWSCLI: the same calls as an operator types
// them (the lock's and marks' parameters in docs/operations.md).
func TestSSMLockCallsThroughTheAWSCLI(t *testing.T) {
	t.Parallel()
	for version, bin := range awsCLIs(t) {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			e, err := sim.New(sim.Config{Clock: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(simhttp.New(e, nil))
			defer srv.Close()
			home := t.TempDir()
			run := func(args ...string) (map[string]any, string) {
				cmd := proctest.Command(t, bin, append([]string{"--endpoint-url", srv.URL, "--output", "json", "ssm"}, args...)...)
				cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
					"AWS_DEFAULT_REGION=us-east-1", "AWS_PAGER=", "AWS_CONFIG_FILE=" + home + "/none", "AWS_SHARED_CREDENTIALS_FILE=" + home + "/none"}
				var stderr strings.Builder
				cmd.Stderr = &stderr
				out, err := cmd.Output()
				m := map[string]any{}
				if err == nil && len(strings.TrimSpace(string(out))) > 0 {
					if err := json.Unmarshal(out, &m); err != nil {
						t.Fatalf("aws ssm %s: %v\n%s", strings.Join(args, " "), err, out)
					}
				}
				return m, stderr.String()
			}
			if m, e := run("put-parameter", "--name", "/stateful/c/lock", "--type", "String", "--value", "a"); m["Version"] != 1.0 {
				t.Fatalf("put-parameter: %v %s", m, e)
			}
			if _, e := run("put-parameter", "--name", "/stateful/c/lock", "--type", "String", "--value", "b"); !strings.Contains(e, "ParameterAlreadyExists") {
				t.Fatalf("a second put-parameter: %q", e)
			}
			if m, e := run("put-parameter", "--name", "/stateful/c/lock", "--type", "String", "--value", "c", "--overwrite"); m["Version"] != 2.0 {
				t.Fatalf("put-parameter --overwrite: %v %s", m, e)
			}
			if m, e := run("get-parameter", "--name", "/stateful/c/lock:1"); m["Parameter"] == nil || m["Parameter"].(map[string]any)["Value"] != "a" {
				t.Fatalf("get-parameter version 1: %v %s", m, e)
			}
			if _, e := run("delete-parameter", "--name", "/stateful/c/lock"); e != "" {
				t.Fatalf("delete-parameter: %s", e)
			}
			if _, e := run("get-parameter", "--name", "/stateful/c/lock"); !strings.Contains(e, "ParameterNotFound") {
				t.Fatalf("get-parameter after the delete: %q", e)
			}
		})
	}
}
