package simhttp_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/stateful-aws/stateful/internal/sim/simhttp"
)

// hugeKey is a parameter name of nearly 1 MB (the most a request body may
// carry) in single-letter segments: before the caps the decoder hashed each
// of its 500k dotted prefixes (23 s of CPU).
func hugeKey() string { return strings.Repeat("a.", (1<<20-100)/2) }

func TestRequestsOverTheCapsAreRefusedWithAWSErrors(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t)
	lim := simhttp.DefaultLimits()
	deep := "Filter" + strings.Repeat(".1", lim.MaxDepth+1)
	many := make([]string, lim.MaxKeys+1)
	for i := range many {
		many[i] = "K." + strconv.Itoa(i) + "=v"
	}
	for _, c := range []struct {
		name, body, code, message string
	}{
		{"1 MB key, Auto Scaling", "Action=DescribeAutoScalingGroups&Version=2011-01-01&" + hugeKey() + "=1", "ValidationError", "bytes long; at most 512 are allowed."},
		{"1 MB key, EC2", "Action=DescribeVolumes&Version=2016-11-15&" + hugeKey() + "=1", "InvalidParameterValue", "at most 512 are allowed"},
		{"too deep", "Action=DescribeInstances&Version=2016-11-15&" + deep + "=x", "InvalidParameterValue", "nested 17 deep; at most 16 levels"},
		{"too many", "Action=DescribeAutoScalingGroups&Version=2011-01-01&" + strings.Join(many, "&"), "ValidationError", "parameters; at most 5000 are allowed"},
	} {
		rec := post(h, c.body)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "<Code>"+c.code+"</Code>") || !strings.Contains(rec.Body.String(), c.message) {
			t.Errorf("%s: %d %s", c.name, rec.Code, rec.Body.String())
		}
	}
	// Within the caps, the same kind of request is served.
	if rec := post(h, "Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=tag:stateful:cluster&Filter.1.Value.1=t"); rec.Code != http.StatusOK {
		t.Errorf("a request within the caps: %d %s", rec.Code, rec.Body.String())
	}
}

func post(h http.Handler, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "http://sim/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// overCaps says whether a body, as the handler parses it, is over the caps.
func overCaps(body string) bool {
	form, err := url.ParseQuery(body)
	if err != nil {
		return false
	}
	lim := simhttp.DefaultLimits()
	if len(form) > lim.MaxKeys {
		return true
	}
	for k := range form {
		if len(k) > lim.MaxKeyLen || strings.Count(k, ".") > lim.MaxDepth {
			return true
		}
	}
	return false
}

// BenchmarkHugeKey: a request with a 1 MB parameter name, refused by the
// caps (the figure in the README).
func BenchmarkHugeKey(b *testing.B) {
	h := newTestHandler(b)
	body := "Action=DescribeAutoScalingGroups&Version=2011-01-01&" + hugeKey() + "=1"
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if rec := post(h, body); rec.Code != http.StatusBadRequest {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
