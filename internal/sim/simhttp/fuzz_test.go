package simhttp_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/sim"
	"github.com/stateful-aws/stateful/internal/sim/simhttp"
)

// FuzzHandler sends arbitrary form bodies and paths: the handler must always
// answer with a status, never panic, and refuse every body over the caps
// (simhttp.Limits) before decoding it, so the decoder's work per request
// (it hashes every dotted prefix of every key) stays within keys x key
// length x depth of the caps whatever the input.
func FuzzHandler(f *testing.F) {
	seeds := []string{
		"Action=DescribeAutoScalingGroups&Version=2011-01-01&AutoScalingGroupNames.member.1=t-00",
		"Action=DescribeAutoScalingGroups&Version=2011-01-01&Filters.member.1.Name=tag:x&Filters.member.1.Values.member.1=y",
		"Action=CreateAutoScalingGroup&Version=2011-01-01&AutoScalingGroupName=g&MinSize=1&MaxSize=1&LaunchTemplate.LaunchTemplateName=t-00&AvailabilityZones.member.1=us-east-1a",
		"Action=TerminateInstanceInAutoScalingGroup&Version=2011-01-01&InstanceId=i-1&ShouldDecrementDesiredCapacity=maybe",
		"Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=tag:a&Filter.1.Value.1=b&MaxResults=5",
		"Action=CreateLaunchTemplateVersion&Version=2016-11-15&LaunchTemplateName=t-00&LaunchTemplateData.NetworkInterface.1.DeviceIndex=0&LaunchTemplateData.UserData=AA==",
		"Action=AttachVolume&Version=2016-11-15&VolumeId=vol-1&InstanceId=i-1&Device=/dev/sdf",
		"Action=CreateVolume&Version=2016-11-15&AvailabilityZone=us-east-1a&Size=99999999999",
		"Action=DescribeScalingActivities&Version=2011-01-01&NextToken=page-9999",
		"Action=DescribeAutoScalingGroups&Version=2011-01-01&AutoScalingGroupNames=",
	}
	for _, s := range seeds {
		f.Add(s, "/")
	}
	f.Add("Action=DescribeVolumes&Version=2016-11-15&"+strings.Repeat("a.", 300)+"=1", "/")
	f.Add("Action=DescribeInstances&Version=2016-11-15&Filter"+strings.Repeat(".1", 17)+"=x", "/")
	f.Add("", "/latest/meta-data/instance-id")
	f.Add("", "/latest/api/token")
	f.Fuzz(func(t *testing.T, body, path string) {
		// A fresh world each time keeps runs independent and quick.
		h := newTestHandler(t)
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		for _, method := range []string{"POST", "PUT"} {
			req := httptest.NewRequest(method, "http://sim"+sanitize(path), strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code < 200 || rec.Code > 599 {
				t.Fatalf("status %d", rec.Code)
			}
			if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable && strings.Contains(rec.Body.String(), "InternalError") {
				t.Fatalf("internal error for %q: %s", body, rec.Body.String())
			}
			if method == "POST" && path == "/" && overCaps(body) && (rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "allowed")) {
				t.Fatalf("a body over the caps was not refused by them: %d %s", rec.Code, rec.Body.String())
			}
		}
	})
}

func sanitize(p string) string {
	var b strings.Builder
	for _, r := range p {
		if r > ' ' && r < 127 && r != '#' && r != '?' && r != '%' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func newTestHandler(t testing.TB) http.Handler {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	e, err := sim.New(sim.Config{Clock: clk, Boot: sim.ContinueAfter(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Provision(context.Background(), e.AutoScaling(), e.EC2(), e.Region(), sim.ClusterSpec{Name: "t", Nodes: 1}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	return simhttp.New(e, nil)
}
