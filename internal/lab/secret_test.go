package lab

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
)

// The host endpoint serves a request signed with the lab's secret (by the
// real SDK) and refuses one unsigned, one signed with another secret or
// access key, and one signed too long ago, with AWS's AuthFailure.
func TestHostEndpointNeedsTheLabsSecret(t *testing.T) {
	t.Parallel()
	secret, err := newSecret()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now() // the SDK signs with the wall clock
	served := 0
	srv := httptest.NewServer(requireSignature(secret, func() time.Time { return now }, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served++
		w.Header().Set("Content-Type", "text/xml")
		_, _ = w.Write([]byte(`<DescribeAutoScalingGroupsResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><DescribeAutoScalingGroupsResult><AutoScalingGroups/></DescribeAutoScalingGroupsResult></DescribeAutoScalingGroupsResponse>`))
	})))
	defer srv.Close()
	call := func(ak, sk string) error {
		c := autoscaling.New(autoscaling.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
			Credentials: credentials.NewStaticCredentialsProvider(ak, sk, "")})
		_, err := c.DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{})
		return err
	}
	if err := call(AccessKeyID, secret); err != nil || served != 1 {
		t.Fatalf("signed with the lab's secret: %v (served %d)", err, served)
	}
	for name, err := range map[string]error{
		"another secret":     call(AccessKeyID, strings.Repeat("0", 64)),
		"another access key": call("lab", secret),
	} {
		if err == nil || !strings.Contains(err.Error(), "AuthFailure") {
			t.Errorf("%s: %v, want AuthFailure", name, err)
		}
	}
	res, err := http.Post(srv.URL, "application/x-www-form-urlencoded", strings.NewReader("Action=TerminateInstanceInAutoScalingGroup&Version=2011-01-01&InstanceId=i-1&ShouldDecrementDesiredCapacity=false"))
	if err != nil || res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unsigned: %v %v", res, err)
	}
	res.Body.Close()
	now = now.Add(20 * time.Minute) // a captured request replayed later
	if err := call(AccessKeyID, secret); err != nil {
		// The SDK signed at the wall clock, 20 minutes behind the lab's.
		if !strings.Contains(err.Error(), "AuthFailure") {
			t.Errorf("a stale signature: %v", err)
		}
	} else {
		t.Error("a request signed 20 minutes before the lab's clock was served")
	}
	if served != 1 {
		t.Fatalf("served %d requests, want only the signed one", served)
	}
}

// lab down acts on the state file: a file anyone but root could have
// written, or one whose fields are not what lab up writes, is refused.
func TestStateFileIsPrivateAndChecked(t *testing.T) {
	t.Parallel()
	work := filepath.Join(t.TempDir(), "lab")
	l := &Lab{cfg: Config{WorkDir: work}, id: "stl0a1b", Endpoint: "http://127.0.0.1:41234", secret: strings.Repeat("ab", 32), spec: &Cluster{Name: "etcd"}}
	if err := l.SaveState(); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{work: 0o700, statePath(work): 0o600} {
		if st, err := os.Stat(path); err != nil || st.Mode().Perm() != want {
			t.Fatalf("%s: %v %v, want %o", path, st.Mode(), err, want)
		}
	}
	s, err := LoadState(work)
	if err != nil || s.ID != "stl0a1b" || s.Secret != l.secret || s.PID != os.Getpid() {
		t.Fatalf("LoadState: %+v, %v", s, err)
	}
	good, _ := os.ReadFile(statePath(work))
	tamper := func(from, to string) error {
		t.Helper()
		if err := os.WriteFile(statePath(work), []byte(strings.Replace(string(good), from, to, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadState(work)
		return err
	}
	for _, c := range [][2]string{
		{`"id": "stl0a1b"`, `"id": "../../etc"`},
		{`"endpoint": "http://127.0.0.1:41234"`, `"endpoint": "http://10.1.2.3:80"`},
		{`"cluster": "etcd"`, `"cluster": "etcd; rm -rf /"`},
		{`"secret": "`, `"secret": "x`},
		{`"pid": `, `"pid": -`},
		{`"cluster"`, `"extra": 1, "cluster"`},
	} {
		if err := tamper(c[0], c[1]); err == nil || !strings.Contains(err.Error(), "lab's state") {
			t.Errorf("%s accepted: %v", c[1], err)
		}
	}
	// A state file others may read, or a work directory others may write.
	if err := os.WriteFile(statePath(work), good, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(statePath(work), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadState(work); err == nil {
		t.Error("a 0644 state file was trusted")
	}
	if err := os.Chmod(statePath(work), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(work, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadState(work); err == nil {
		t.Error("a state file in a world-writable directory was trusted")
	}
	if err := os.Chmod(work, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := tamper(`"pid": `+itoa(os.Getpid()), `"pid": 1`); err == nil { // init is never signalled
		t.Error("pid 1 accepted")
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// countingBody records how much of a body was read.
type countingBody struct{ n, size int }

func (b *countingBody) Read(p []byte) (int, error) {
	if b.n >= b.size {
		return 0, io.EOF
	}
	k := min(len(p), b.size-b.n)
	b.n += k
	return k, nil
}

func (b *countingBody) Close() error { return nil }

// The host endpoint reads no byte of a body whose headers cannot carry the
// lab's signature, and refuses a declared body larger than any request of
// the simulator before reading it.
func TestHostEndpointChecksTheSignatureBeforeTheBody(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	h := requireSignature("secret", func() time.Time { return now }, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("served")
	}))
	signedHeaders := func(r *http.Request) {
		r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+AccessKeyID+"/20260101/us-east-1/autoscaling/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")
		r.Header.Set("X-Amz-Date", now.Format("20060102T150405Z"))
	}
	for _, c := range []struct {
		name   string
		size   int
		header func(*http.Request)
		read   bool
	}{
		{"unsigned", 8 << 20, func(*http.Request) {}, false},
		{"another key", 8 << 20, func(r *http.Request) {
			signedHeaders(r)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), AccessKeyID, "AKIAOTHER", 1))
		}, false},
		{"stale date", 8 << 20, func(r *http.Request) { signedHeaders(r); r.Header.Set("X-Amz-Date", "20250101T000000Z") }, false},
		{"declared too large", 8 << 20, signedHeaders, false},
		{"wrong signature", 100, signedHeaders, true},
	} {
		body := &countingBody{size: c.size}
		r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/", body)
		r.ContentLength = int64(c.size)
		c.header(r)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", c.name, w.Code)
		}
		if !c.read && body.n != 0 {
			t.Errorf("%s: %d bytes of the body were read before the signature was refused", c.name, body.n)
		}
	}
}

// The host listener holds at most its cap of connections open; a closed
// one frees its slot.
func TestHostListenerCapsConnections(t *testing.T) {
	t.Parallel()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := limitListener(raw, 2)
	defer ln.Close()
	var conns []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	for range 2 {
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	accepted := make(chan net.Conn)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	select {
	case <-accepted:
		t.Fatal("a third connection was accepted while two were open")
	default:
	}
	conns[0].Close()
	c := <-accepted
	c.Close()
	conns[1].Close()
}
