package lab

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stateful-aws/stateful/internal/proctest"
)

// awsCLIs finds both AWS CLIs: Debian's v2 at /usr/bin/aws and the v1 that
// pip puts first on the PATH (internal/sim/simhttp's CLI tests use the same).
func awsCLIs(t *testing.T) map[string]string {
	t.Helper()
	clis := map[string]string{}
	if _, err := os.Stat("/usr/bin/aws"); err == nil {
		clis["v2"] = "/usr/bin/aws"
	}
	if p, err := exec.LookPath("aws"); err == nil && p != "/usr/bin/aws" {
		if out, err := exec.Command(p, "--version").CombinedOutput(); err == nil && strings.HasPrefix(string(out), "aws-cli/1.") {
			clis["v1"] = p
		}
	}
	if len(clis) == 0 {
		t.Skip("no AWS CLI is installed (apt-get install awscli; .ci/run does)")
	}
	return clis
}

// Issue 25 item 8: both AWS CLIs' signatures are accepted by the lab's
// host endpoint with the lab's credentials, and refused with another
// secret.
func TestHostEndpointAcceptsBothAWSCLIs(t *testing.T) {
	t.Parallel()
	secret, err := newSecret()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(requireSignature(secret, time.Now, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		if strings.Contains(r.Header.Get("Authorization"), "/autoscaling/") {
			_, _ = w.Write([]byte(`<DescribeAutoScalingGroupsResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><DescribeAutoScalingGroupsResult><AutoScalingGroups/></DescribeAutoScalingGroupsResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></DescribeAutoScalingGroupsResponse>`))
			return
		}
		_, _ = w.Write([]byte(`<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>1</requestId><reservationSet/></DescribeInstancesResponse>`))
	})))
	t.Cleanup(srv.Close) // after the parallel subtests
	for version, bin := range awsCLIs(t) {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			home := t.TempDir()
			run := func(sk string, args ...string) (string, error) {
				cmd := proctest.Command(t, bin, append([]string{"--endpoint-url", srv.URL, "--output", "json"}, args...)...)
				cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "AWS_ACCESS_KEY_ID=" + AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + sk,
					"AWS_DEFAULT_REGION=us-east-1", "AWS_PAGER=", "AWS_CONFIG_FILE=" + home + "/none", "AWS_SHARED_CREDENTIALS_FILE=" + home + "/none", "AWS_MAX_ATTEMPTS=1"}
				out, err := cmd.CombinedOutput("aws " + strings.Join(args, " "))
				return string(out), err
			}
			for _, args := range [][]string{
				{"autoscaling", "describe-auto-scaling-groups"},
				{"autoscaling", "describe-auto-scaling-groups", "--auto-scaling-group-names", "a b", "c/d~é"},
				{"ec2", "describe-instances", "--filters", "Name=tag:stateful:cluster,Values=demo"},
			} {
				if out, err := run(secret, args...); err != nil {
					t.Errorf("%s %v with the lab's secret: %v\n%s", version, args, err, out)
				}
			}
			if out, err := run(strings.Repeat("0", 64), "ec2", "describe-instances"); err == nil || !strings.Contains(out, "AuthFailure") {
				t.Errorf("%s with another secret: %v\n%s", version, err, out)
			}
		})
	}
}
