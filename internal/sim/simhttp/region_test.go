package simhttp_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/stateful-aws/stateful/internal/proctest"
)

// Issue 25 item 9: the simulator answers only for its region; a request
// signed for another gets AWS's own error, through the SDK and both CLIs.
func TestTheSimulatorAnswersOnlyForItsRegion(t *testing.T) {
	t.Parallel()
	_, _, _, srv := readyCluster(t, 1, nil)
	creds := credentials.NewStaticCredentialsProvider("test", "test", "")
	ctx := context.Background()
	for _, region := range []string{"us-east-1", "eu-west-1"} {
		as := autoscaling.New(autoscaling.Options{Region: region, BaseEndpoint: aws.String(srv.URL), Credentials: creds, RetryMaxAttempts: 1})
		ec := ec2.New(ec2.Options{Region: region, BaseEndpoint: aws.String(srv.URL), Credentials: creds, RetryMaxAttempts: 1})
		sm := ssm.New(ssm.Options{Region: region, BaseEndpoint: aws.String(srv.URL), Credentials: creds, RetryMaxAttempts: 1})
		_, asErr := as.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
		_, ecErr := ec.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
		_, smErr := sm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/none")})
		if region == "us-east-1" {
			var api smithy.APIError
			if asErr != nil || ecErr != nil || (errors.As(smErr, &api) && api.ErrorCode() != "ParameterNotFound") {
				t.Fatalf("its own region: %v / %v / %v", asErr, ecErr, smErr)
			}
			continue
		}
		for name, c := range map[string]struct {
			err       error
			code, msg string
			status    int
		}{
			"Auto Scaling": {asErr, "SignatureDoesNotMatch", "Credential should be scoped to a valid region, not 'eu-west-1'. ", http.StatusForbidden},
			"EC2":          {ecErr, "SignatureDoesNotMatch", "Credential should be scoped to a valid region, not 'eu-west-1'. ", http.StatusForbidden},
			"SSM":          {smErr, "InvalidSignatureException", "Credential should be scoped to a valid region. ", http.StatusBadRequest},
		} {
			var api smithy.APIError
			var resp *smithyhttp.ResponseError
			if !errors.As(c.err, &api) || api.ErrorCode() != c.code || api.ErrorMessage() != c.msg || !errors.As(c.err, &resp) || resp.HTTPStatusCode() != c.status {
				t.Errorf("%s signed for eu-west-1: %v, want %d %s %q", name, c.err, c.status, c.code, c.msg)
			}
		}
	}
	for version, bin := range awsCLIs(t) {
		home := t.TempDir()
		cmd := proctest.Command(t, bin, "--endpoint-url", srv.URL, "--region", "eu-west-1", "ec2", "describe-instances")
		cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
			"AWS_PAGER=", "AWS_CONFIG_FILE=" + home + "/none", "AWS_SHARED_CREDENTIALS_FILE=" + home + "/none", "AWS_MAX_ATTEMPTS=1"}
		out, err := cmd.CombinedOutput("aws ec2 describe-instances")
		if err == nil || !strings.Contains(string(out), "(SignatureDoesNotMatch)") || !strings.Contains(string(out), "Credential should be scoped to a valid region, not 'eu-west-1'.") {
			t.Errorf("CLI %s with --region eu-west-1: %v\n%s", version, err, out)
		}
	}
}
