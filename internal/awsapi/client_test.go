package awsapi_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/sim"
	"github.com/stateful-aws/stateful/internal/sim/simhttp"
)

func simServer(t *testing.T) (*sim.Engine, string) {
	t.Helper()
	e, err := sim.New(sim.Config{Clock: clock.NewFake(time.Unix(1e9, 0)), Boot: sim.Hang()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Provision(context.Background(), e.AutoScaling(), e.EC2(), e.Region(), sim.ClusterSpec{Name: "c", Nodes: 2}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(simhttp.New(e, nil))
	t.Cleanup(srv.Close)
	return e, srv.URL
}

func groups(t *testing.T, c *awsapi.Clients) int {
	t.Helper()
	out, err := c.AutoScaling.DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.AutoScalingGroups)
}

func TestNewHonoursEndpointFlagAndVariables(t *testing.T) {
	_, url := simServer(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")

	c, err := awsapi.New(context.Background(), awsapi.Config{Region: "us-east-1", EndpointURL: url, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	if n := groups(t, c); n != 2 {
		t.Fatalf("through --endpoint-url: %d groups, want 2", n)
	}

	t.Setenv("AWS_ENDPOINT_URL_AUTO_SCALING", url)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_RETRY_MODE", "adaptive")
	c, err = awsapi.New(context.Background(), awsapi.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Region != "us-east-1" || groups(t, c) != 2 {
		t.Fatalf("through AWS_ENDPOINT_URL_AUTO_SCALING: region %q", c.Region)
	}

	if _, err := awsapi.New(context.Background(), awsapi.Config{Region: "us-east-1", RetryMode: "eager"}); err == nil {
		t.Fatal("retry mode eager accepted")
	}
}

func TestSDKRetriesThrottlingFromTheSimulator(t *testing.T) {
	e, url := simServer(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	c, err := awsapi.New(context.Background(), awsapi.Config{Region: "us-east-1", EndpointURL: url, MaxAttempts: 3, MaxBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e.AddFaults(sim.Fault{Operation: "DescribeAutoScalingGroups", Code: "Throttling", Message: "Rate exceeded", Count: 2})
	if n := groups(t, c); n != 2 {
		t.Fatalf("%d groups", n)
	}
	if got := e.CountCalls("DescribeAutoScalingGroups"); got != 3 {
		t.Fatalf("the SDK made %d calls, want 3 (two throttled, then success)", got)
	}
}

func TestBucketAllowsBurstThenRate(t *testing.T) {
	t.Parallel()
	clk := clock.NewStepping(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	b := &awsapi.Bucket{Clock: clk, Rate: 20, Burst: 100}
	start := clk.Now()
	for range 100 {
		if err := b.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if d := clk.Now().Sub(start); d != 0 {
		t.Fatalf("the burst of 100 waited %s, want 0", d)
	}
	for range 40 {
		_ = b.Wait(context.Background())
	}
	if d := clk.Now().Sub(start); d < 1999*time.Millisecond || d > 2001*time.Millisecond {
		t.Fatalf("40 calls past the burst at 20/s took %s, want 2s", d)
	}
	var none *awsapi.Bucket
	if err := none.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}
