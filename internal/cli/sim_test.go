package cli

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/stateful-aws/stateful/internal/cluster"
)

func TestSimServeServesAReadyCluster(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan int)
	go func() {
		done <- Execute(ctx, []string{"sim", "serve", "--nodes", "2", "--boot-time", "10ms", "--cluster", "kafka"}, IO{In: strings.NewReader(""), Out: pw, Err: &stderr})
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the endpoint line: %v (stderr: %s)", err, stderr.String())
	}
	url := strings.TrimSpace(line)
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("first line %q is not a loopback URL", url)
	}
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")}
	as := autoscaling.NewFromConfig(cfg, func(o *autoscaling.Options) { o.BaseEndpoint = aws.String(url) })
	out, err := as.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.AutoScalingGroups) != 2 {
		t.Fatalf("%d groups, want 2", len(out.AutoScalingGroups))
	}
	for _, g := range out.AutoScalingGroups {
		tags := map[string]string{}
		for _, tg := range g.Tags {
			tags[*tg.Key] = *tg.Value
		}
		if tags[cluster.TagCluster] != "kafka" || tags[cluster.TagNodeID] == "" {
			t.Errorf("group %s tags %v", *g.AutoScalingGroupName, tags)
		}
		if len(g.Instances) != 1 || g.Instances[0].LifecycleState != "InService" {
			t.Errorf("group %s instances %+v, want one InService", *g.AutoScalingGroupName, g.Instances)
		}
	}
	cancel()
	if code := <-done; code != ExitOK {
		t.Fatalf("exit code %d after interrupt, want 0; stderr: %s", code, stderr.String())
	}
}

func TestSimServeRejectsBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"sim", "serve", "--nodes", "0"},
		{"sim", "serve", "--timings", "slow"},
		{"sim", "serve", "--boot-time", "-1s"},
		{"sim", "serve", "--nodes", "many"},
		{"sim", "serve", "extra"},
		{"simulate"},
		{"lab", "nope"},
		{"plan-check"},
		{"roll", "--bogus"},
	} {
		var out, errb bytes.Buffer
		code := Execute(context.Background(), args, IO{In: strings.NewReader(""), Out: &out, Err: &errb})
		if code != ExitUsage || out.Len() != 0 || strings.Count(strings.TrimSpace(errb.String()), "\n") != 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and one line on stderr", args, code, out.String(), errb.String())
		}
	}
}
