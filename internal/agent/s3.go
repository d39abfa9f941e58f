package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// S3Object names an object that will run as root, with what pins it: its
// sha256 (required), the account that must own its bucket (S3 refuses the
// GET otherwise, so a deleted bucket's name re-created by someone else
// serves nothing) and optionally its version.
type S3Object struct {
	URL, SHA256, ExpectedBucketOwner, VersionID string
}

// maxS3Object bounds what is read of an object: node scripts are small.
const maxS3Object = 16 << 20

// S3Fetcher gets s3://bucket/key objects with a SigV4-signed GET, using the
// SDK's credentials (the instance role on EC2) and signer, so the agent
// needs no S3 client, and refuses an object whose sha256 is not the
// pinned one. STATEFUL_S3_ENDPOINT overrides the endpoint (tests).
func S3Fetcher(cfg aws.Config, now func() time.Time) func(context.Context, S3Object) ([]byte, error) {
	return func(ctx context.Context, o S3Object) ([]byte, error) {
		bucket, key, ok := strings.Cut(strings.TrimPrefix(o.URL, "s3://"), "/")
		if !ok || bucket == "" || key == "" {
			return nil, fmt.Errorf("%q is not s3://bucket/key", o.URL)
		}
		if o.SHA256 == "" || o.ExpectedBucketOwner == "" {
			return nil, fmt.Errorf("refusing to fetch %s without its sha256 and expected bucket owner: it runs as root", o.URL)
		}
		host := bucket + ".s3." + cfg.Region + ".amazonaws.com"
		endpoint := "https://" + host
		if e := os.Getenv("STATEFUL_S3_ENDPOINT"); e != "" {
			endpoint = e
		}
		target := endpoint + "/" + key
		if o.VersionID != "" {
			target += "?versionId=" + url.QueryEscape(o.VersionID)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return nil, fmt.Errorf("building the GET of %s: %w", o.URL, err)
		}
		req.Host = host
		creds, err := cfg.Credentials.Retrieve(ctx)
		if err != nil {
			return nil, fmt.Errorf("credentials for S3: %w", err)
		}
		sum := sha256.Sum256(nil)
		empty := hex.EncodeToString(sum[:])
		req.Header.Set("X-Amz-Content-Sha256", empty)
		req.Header.Set("X-Amz-Expected-Bucket-Owner", o.ExpectedBucketOwner)
		if err := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).SignHTTP(ctx, creds, req, empty, "s3", cfg.Region, now()); err != nil {
			return nil, fmt.Errorf("signing the GET of %s: %w", o.URL, err)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("GET %s: %w", o.URL, err)
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
			return nil, fmt.Errorf("GET %s: %s: %s", o.URL, res.Status, strings.TrimSpace(string(b)))
		}
		b, err := io.ReadAll(io.LimitReader(res.Body, maxS3Object+1))
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", o.URL, err)
		}
		if len(b) > maxS3Object {
			return nil, fmt.Errorf("%s is over %d bytes: refusing it", o.URL, maxS3Object)
		}
		got := sha256.Sum256(b)
		if h := hex.EncodeToString(got[:]); h != o.SHA256 {
			return nil, fmt.Errorf("%s has sha256 %s, not the pinned %s: refusing to run it", o.URL, h, o.SHA256)
		}
		return b, nil
	}
}
