package agent

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/stateful-aws/stateful/internal/clock"
)

func TestS3FetcherSignsTheGet(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	creds := aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "SECRET", SessionToken: "TOKEN"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		check, _ := http.NewRequest(http.MethodGet, "https://"+r.Host+r.URL.Path, nil)
		check.Header.Set("X-Amz-Content-Sha256", r.Header.Get("X-Amz-Content-Sha256"))
		_ = v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).SignHTTP(context.Background(), creds, check,
			r.Header.Get("X-Amz-Content-Sha256"), "s3", "eu-west-1", now)
		if r.Host != "scripts.s3.eu-west-1.amazonaws.com" || r.URL.Path != "/nodes/node.sh" || check.Header.Get("Authorization") != r.Header.Get("Authorization") {
			http.Error(w, "SignatureDoesNotMatch", http.StatusForbidden)
			return
		}
		_, _ = w.Write([]byte("configure_cluster_node() { :; }"))
	}))
	defer srv.Close()
	t.Setenv("STATEFUL_S3_ENDPOINT", srv.URL)
	fetch := S3Fetcher(aws.Config{Region: "eu-west-1", Credentials: credentials.StaticCredentialsProvider{Value: creds}}, func() time.Time { return now })
	b, err := fetch(context.Background(), "s3://scripts/nodes/node.sh")
	if err != nil || string(b) != "configure_cluster_node() { :; }" {
		t.Fatalf("fetch: %q, %v", b, err)
	}
	if _, err := fetch(context.Background(), "s3://scripts/missing.sh"); err == nil {
		t.Fatal("a refused GET returned no error")
	}
	if _, err := fetch(context.Background(), "s3://no-key"); err == nil {
		t.Fatal("a URL without a key was accepted")
	}
}

func TestScriptComesFromS3FirstWithInlineFallback(t *testing.T) {
	t.Parallel()
	cfg := &Config{Script: Script{InlineBase64: b64("inline"), S3URL: "s3://b/k"}}
	a := &Agent{cfg: cfg, log: discard(), d: Deps{Clock: clock.Real{}, FetchS3: func(context.Context, string) ([]byte, error) { return []byte("from s3"), nil }}}
	if b, err := a.script(context.Background()); err != nil || string(b) != "from s3" {
		t.Fatalf("with S3 up: %q %v", b, err)
	}
	a.d.FetchS3 = func(context.Context, string) ([]byte, error) { return nil, errors.New("403 Forbidden") }
	if b, err := a.script(context.Background()); err != nil || string(b) != "inline" {
		t.Fatalf("with S3 down: %q %v", b, err)
	}
	cfg.Script.InlineBase64 = ""
	if _, err := a.script(context.Background()); err == nil {
		t.Fatal("no S3 and no inline copy: no error")
	}
}
