package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// S3Fetcher gets s3://bucket/key objects with a SigV4-signed GET, using the
// SDK's credentials (the instance role on EC2) and signer, so the agent
// needs no S3 client. STATEFUL_S3_ENDPOINT overrides the endpoint (tests).
func S3Fetcher(cfg aws.Config, now func() time.Time) func(context.Context, string) ([]byte, error) {
	return func(ctx context.Context, url string) ([]byte, error) {
		bucket, key, ok := strings.Cut(strings.TrimPrefix(url, "s3://"), "/")
		if !ok || bucket == "" || key == "" {
			return nil, fmt.Errorf("%q is not s3://bucket/key", url)
		}
		host := bucket + ".s3." + cfg.Region + ".amazonaws.com"
		endpoint := "https://" + host
		if e := os.Getenv("STATEFUL_S3_ENDPOINT"); e != "" {
			endpoint = e
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/"+key, nil)
		if err != nil {
			return nil, err
		}
		req.Host = host
		creds, err := cfg.Credentials.Retrieve(ctx)
		if err != nil {
			return nil, fmt.Errorf("credentials for S3: %w", err)
		}
		sum := sha256.Sum256(nil)
		empty := hex.EncodeToString(sum[:])
		req.Header.Set("X-Amz-Content-Sha256", empty)
		if err := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).SignHTTP(ctx, creds, req, empty, "s3", cfg.Region, now()); err != nil {
			return nil, err
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("GET %s: %w", url, err)
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
			return nil, fmt.Errorf("GET %s: %s: %s", url, res.Status, strings.TrimSpace(string(b)))
		}
		return io.ReadAll(io.LimitReader(res.Body, 16<<20))
	}
}
