package simhttp_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"

	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/sim"
	"github.com/stateful-aws/stateful/internal/sim/simhttp"
)

// headerTransport names the instance on every request, as a caller outside
// the instance's own address must.
type headerTransport struct{ id string }

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(simhttp.InstanceHeader, h.id)
	return http.DefaultTransport.RoundTrip(r)
}

// readyCluster is an engine on a fake clock with a provisioned cluster whose
// instances are InService, served over HTTP.
func readyCluster(t *testing.T, nodes int, boot sim.BootFunc) (*sim.Engine, *clock.Fake, []sim.NodeSpec, *httptest.Server) {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	e, err := sim.New(sim.Config{Clock: clk, Seed: 7, Timings: sim.DefaultTimings(), Boot: boot})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := sim.Provision(context.Background(), e.AutoScaling(), e.EC2(), e.Region(), sim.ClusterSpec{Name: "t", Nodes: nodes})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	srv := httptest.NewServer(simhttp.New(e, nil))
	t.Cleanup(srv.Close)
	return e, clk, ns, srv
}

func instanceOf(t *testing.T, e *sim.Engine, n sim.NodeSpec) string {
	t.Helper()
	id, ok := e.InstanceByIP(n.IP)
	if !ok {
		t.Fatalf("no instance holds %s", n.IP)
	}
	return id
}

func TestIMDSThroughTheSDKClient(t *testing.T) {
	t.Parallel()
	e, _, nodes, srv := readyCluster(t, 1, sim.ContinueAfter(time.Second))
	id := instanceOf(t, e, nodes[0])
	client := imds.New(imds.Options{Endpoint: srv.URL, HTTPClient: &http.Client{Transport: headerTransport{id}}})
	want := map[string]string{
		"instance-id":                        id,
		"local-ipv4":                         nodes[0].IP,
		"placement/region":                   "us-east-1",
		"placement/availability-zone":        nodes[0].AZ,
		"autoscaling/target-lifecycle-state": "InService",
	}
	for path, v := range want {
		out, err := client.GetMetadata(context.Background(), &imds.GetMetadataInput{Path: path})
		if err != nil {
			t.Fatalf("GetMetadata(%s): %v", path, err)
		}
		b, _ := io.ReadAll(out.Content)
		if string(b) != v {
			t.Errorf("GetMetadata(%s) = %q, want %q", path, b, v)
		}
	}
	region, err := client.GetRegion(context.Background(), &imds.GetRegionInput{})
	if err != nil || region.Region != "us-east-1" {
		t.Errorf("GetRegion = %v, %v; want us-east-1 (from the identity document)", region, err)
	}
	if _, err := client.GetMetadata(context.Background(), &imds.GetMetadataInput{Path: "no/such/item"}); err == nil {
		t.Error("a missing item did not fail")
	}
}

func TestIMDSv2Protocol(t *testing.T) {
	t.Parallel()
	e, clk, nodes, srv := readyCluster(t, 1, sim.ContinueAfter(time.Second))
	id := instanceOf(t, e, nodes[0])
	do := func(method, path string, hdr map[string]string) (int, string, http.Header) {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		req.Header.Set(simhttp.InstanceHeader, id)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b), res.Header
	}
	if code, _, _ := do("PUT", "/latest/api/token", nil); code != 400 {
		t.Errorf("token PUT without TTL: %d, want 400", code)
	}
	if code, _, _ := do("PUT", "/latest/api/token", map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "21601"}); code != 400 {
		t.Errorf("token PUT with TTL 21601: %d, want 400", code)
	}
	if code, _, _ := do("PUT", "/latest/api/token", map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "60", "X-Forwarded-For": "1.2.3.4"}); code != 403 {
		t.Errorf("token PUT with X-Forwarded-For: %d, want 403", code)
	}
	code, tok, hdr := do("PUT", "/latest/api/token", map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "60"})
	if code != 200 || tok == "" || hdr.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds") != "60" {
		t.Fatalf("token PUT: %d %q, TTL header %q", code, tok, hdr.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds"))
	}
	if code, _, _ := do("GET", "/latest/meta-data/instance-id", nil); code != 401 {
		t.Errorf("GET without token: %d, want 401", code)
	}
	if code, body, _ := do("GET", "/latest/meta-data/instance-id", map[string]string{"X-aws-ec2-metadata-token": tok}); code != 200 || body != id {
		t.Errorf("GET with token: %d %q", code, body)
	}
	if code, _, _ := do("GET", "/latest/meta-data/nothing-here", map[string]string{"X-aws-ec2-metadata-token": tok}); code != 404 {
		t.Errorf("GET of a missing item: %d, want 404", code)
	}
	clk.Advance(61 * time.Second)
	if code, _, _ := do("GET", "/latest/meta-data/instance-id", map[string]string{"X-aws-ec2-metadata-token": tok}); code != 401 {
		t.Errorf("GET with an expired token: %d, want 401", code)
	}
}

func TestErrorShapes(t *testing.T) {
	t.Parallel()
	_, _, _, srv := readyCluster(t, 1, sim.ContinueAfter(time.Second))
	cases := []struct {
		body, wantCode, wantShape string
		status                    int
	}{
		{"Action=LaunchRockets&Version=2011-01-01", "InvalidAction", "<ErrorResponse", 400},
		{"Action=FlyAway&Version=2016-11-15", "InvalidAction", "<Response><Errors>", 400},
		{"Action=DescribeVolumes", "InvalidAction", "<Response><Errors>", 400},
		{"Version=2011-01-01", "MissingAction", "<ErrorResponse", 400},
		{"Action=DescribeAutoScalingGroups&Version=2011-01-01&MaxRecords=lots", "ValidationError", "<Type>Sender</Type>", 400},
		{"Action=DescribeVolumes&Version=2016-11-15&MaxResults=x", "InvalidParameterValue", "<RequestID>", 400},
		{"Action=DescribeVolumes&Version=2016-11-15&VolumeId.1=vol-1", "InvalidVolume.NotFound", "<RequestID>", 400},
		{"%zz", "MalformedQueryString", "<Response><Errors>", 400},
	}
	for _, c := range cases {
		res, err := http.Post(srv.URL, "application/x-www-form-urlencoded", strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != c.status || !strings.Contains(string(b), "<Code>"+c.wantCode+"</Code>") || !strings.Contains(string(b), c.wantShape) {
			t.Errorf("%s: status %d body %s; want %d with code %s and %s", c.body, res.StatusCode, b, c.status, c.wantCode, c.wantShape)
		}
	}
}

func TestIMDSKnowsTheInstanceByItsSourceAddress(t *testing.T) {
	t.Parallel()
	e, _, nodes, _ := readyCluster(t, 2, sim.ContinueAfter(time.Second))
	h := simhttp.New(e, nil)
	call := func(method, path, from string, hdr map[string]string) (int, string) {
		req := httptest.NewRequest(method, "http://169.254.169.254"+path, nil)
		req.RemoteAddr = from + ":41234"
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	for i, n := range nodes {
		code, tok := call("PUT", "/latest/api/token", n.IP, map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "60"})
		if code != 200 {
			t.Fatalf("token from %s: %d", n.IP, code)
		}
		if code, ip := call("GET", "/latest/meta-data/local-ipv4", n.IP, map[string]string{"X-aws-ec2-metadata-token": tok}); code != 200 || ip != n.IP {
			t.Errorf("local-ipv4 asked from %s: %d %q", n.IP, code, ip)
		}
		other := nodes[1-i].IP
		if code, _ := call("GET", "/latest/meta-data/instance-id", other, map[string]string{"X-aws-ec2-metadata-token": tok}); code != 401 {
			t.Errorf("a token used from another instance's address: %d, want 401", code)
		}
	}
	if code, _ := call("PUT", "/latest/api/token", "10.9.9.9", map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "60"}); code != 403 {
		t.Errorf("a token asked from an address no instance holds: %d, want 403", code)
	}
}
