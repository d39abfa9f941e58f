package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/inventory"
)

// Each kind of AWS error is one sentence naming what to do; the SDK's
// chain appears only with --verbose.
func TestAWSErrorsAreOneSentencePerKind(t *testing.T) {
	t.Parallel()
	op := func(svc, name string, err error) error {
		return &smithy.OperationError{ServiceID: svc, OperationName: name, Err: err}
	}
	f := &awsFlags{Cluster: "demo", Region: "eu-west-1", EndpointURL: "http://127.0.0.1:9"}
	cases := []struct {
		err  error
		want []string
	}{
		{&inventory.NotFoundError{What: "Auto Scaling group tagged stateful:cluster=demox"},
			[]string{"there is no Auto Scaling group tagged stateful:cluster=demox in region eu-west-1 at http://127.0.0.1:9: check --cluster"}},
		{&inventory.NotFoundError{What: "Auto Scaling group named a, b", Names: []string{"a", "b"}},
			[]string{"there is no Auto Scaling group named a, b in region eu-west-1", "check --asg"}},
		{op("Auto Scaling", "TerminateInstanceInAutoScalingGroup", &smithy.GenericAPIError{Code: "AccessDenied",
			Message: "User: arn:aws:iam::1:user/ops is not authorized to perform: autoscaling:TerminateInstanceInAutoScalingGroup on resource: arn:aws:autoscaling:eu-west-1:1:autoScalingGroup:x:autoScalingGroupName/demo-node-01 because no identity-based policy allows it"}),
			[]string{"AWS denied autoscaling:TerminateInstanceInAutoScalingGroup to these credentials (AccessDenied:", "the identity needs autoscaling:TerminateInstanceInAutoScalingGroup on arn:aws:autoscaling:eu-west-1:1:autoScalingGroup:x:autoScalingGroupName/demo-node-01"}},
		{op("EC2", "DescribeVolumes", &smithy.GenericAPIError{Code: "UnauthorizedOperation", Message: "You are not authorized to perform this operation."}),
			[]string{"AWS denied ec2:DescribeVolumes to these credentials (UnauthorizedOperation", "the identity needs ec2:DescribeVolumes on the cluster's resources"}},
		{op("Auto Scaling", "DescribeAutoScalingGroups", &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded"}),
			[]string{"AWS kept throttling autoscaling:DescribeAutoScalingGroups (Throttling) past the SDK's retries: wait a minute"}},
		{op("EC2", "DescribeInstances", &smithyhttp.RequestSendError{Err: errors.New("dial tcp: lookup ec2.eu-west-1.amazonaws.com: no such host")}),
			[]string{"cannot reach http://127.0.0.1:9 for ec2:DescribeInstances: no such host"}},
		{op("EC2", "DescribeVolumes", &smithy.GenericAPIError{Code: "InvalidVolume.NotFound", Message: "The volume 'vol-1' does not exist."}),
			[]string{"ec2:DescribeVolumes names something that does not exist (InvalidVolume.NotFound: The volume 'vol-1' does not exist.)"}},
		{op("Auto Scaling", "DescribeAutoScalingGroups", &smithy.GenericAPIError{Code: "SignatureDoesNotMatch", Message: "Credential should be scoped to a valid region, not 'eu-west-1'. "}),
			[]string{"the endpoint http://127.0.0.1:9 does not serve region eu-west-1 (SignatureDoesNotMatch: Credential should be scoped to a valid region, not 'eu-west-1'.): check --region"}},
		{op("Auto Scaling", "DescribeAutoScalingGroups", &awsapi.CredentialsError{Err: errors.New("no EC2 IMDS role found")}),
			[]string{"no AWS credentials: the AWS SDK looked in the environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)", "(profile "}},
	}
	for _, c := range cases {
		got := translate(c.err, f)
		msg := got.Error()
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%v\n  became %q\n  lacks %q", c.err, msg, w)
			}
		}
		if strings.Contains(msg, "\n") || strings.Contains(msg, "operation error") || strings.Contains(msg, "https response error") {
			t.Errorf("not one sentence, or the SDK's chain leaks: %q", msg)
		}
		var ee *exitError
		if !errors.As(got, &ee) || ee.code != ExitError || !errors.Is(got, c.err) {
			t.Errorf("%q: exit code or cause lost", msg)
		}
		verbose := *f
		verbose.Verbose = true
		if v := translate(c.err, &verbose).Error(); !strings.Contains(v, c.err.Error()) {
			t.Errorf("--verbose should add the SDK's chain: %q", v)
		}
	}
	if err := translate(usageError("bad"), f); err.Error() != "bad" {
		t.Errorf("non-AWS errors pass unchanged: %q", err)
	}
}

// Through the real SDK: a misspelt cluster, an unreachable endpoint, no
// credentials and a bad URL each end with their one sentence and nothing
// else on stderr (no SDK warnings, no IMDS chatter).
func TestAWSErrorsThroughTheSDK(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ACCESS_KEY_ID", "a")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "b")
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int)
	go func() {
		done <- Execute(ctx, []string{"sim", "serve", "--nodes", "1", "--boot-time", "10ms"}, IO{In: strings.NewReader(""), Out: pw, Err: io.Discard})
		pw.Close()
	}()
	defer func() {
		cancel()
		<-done
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	url := strings.TrimSpace(line)
	run := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := Execute(context.Background(), args, IO{In: strings.NewReader(""), Out: &out, Err: &errb})
		return code, errb.String()
	}
	oneLine := func(name string, code, want int, errOut, phrase string) {
		t.Helper()
		if code != want || !strings.Contains(errOut, phrase) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%s: exit %d (want %d), stderr:\n%s(want one line with %q)", name, code, want, errOut, phrase)
		}
	}
	code, errOut := run("status", "--cluster", "simm", "--endpoint-url", url)
	oneLine("misspelt cluster", code, ExitError, errOut, "there is no Auto Scaling group tagged stateful:cluster=simm in region us-east-1")
	code, errOut = run("status", "--cluster", "sim", "--endpoint-url", "not-a-url")
	oneLine("bad URL", code, ExitUsage, errOut, "--endpoint-url must be an http:// or https:// URL")
	code, errOut = run("status", "--cluster", "sim", "--endpoint-url", "http://127.0.0.1:1")
	oneLine("unreachable", code, ExitError, errOut, "cannot reach http://127.0.0.1:1 for autoscaling:DescribeAutoScalingGroups: connection refused")
	// A whole roll through the real SDK (its suspend and resume answers
	// have no body to read): nothing of the SDK's reaches stderr.
	eventually(t, func() bool {
		code, _ := run("status", "--cluster", "sim", "--endpoint-url", url)
		return code == ExitOK
	}) // booted on v1
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")}
	ec := ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = aws.String(url) })
	lts, err := ec.DescribeLaunchTemplates(context.Background(), &ec2.DescribeLaunchTemplatesInput{})
	if err != nil || len(lts.LaunchTemplates) != 1 {
		t.Fatalf("launch templates: %v", err)
	}
	if _, err := ec.CreateLaunchTemplateVersion(context.Background(), &ec2.CreateLaunchTemplateVersionInput{LaunchTemplateId: lts.LaunchTemplates[0].LaunchTemplateId,
		SourceVersion: aws.String("1"), LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String("ami-0fedcba9876543210")}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool {
		code, _ := run("status", "--cluster", "sim", "--endpoint-url", url)
		return code == ExitOutdated
	})
	if code, errOut := run("roll", "--cluster", "sim", "--endpoint-url", url, "--poll", "100ms", "--allow-quorum-loss"); code != ExitOK || errOut != "" {
		t.Fatalf("roll through the SDK: exit %d, stderr %q", code, errOut)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	code, errOut = run("recover", "00", "--cluster", "sim", "--endpoint-url", url)
	oneLine("no credentials", code, ExitError, errOut, "no AWS credentials: the AWS SDK looked in the environment")
	code, errOut = run("status", "--cluster", "sim", "--endpoint-url", url, "--verbose")
	if code != ExitError || !strings.Contains(errOut, "no AWS credentials") || !strings.Contains(errOut, "operation error Auto Scaling: DescribeAutoScalingGroups") {
		t.Errorf("--verbose should add the SDK's chain: exit %d\n%s", code, errOut)
	}
}
