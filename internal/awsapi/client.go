package awsapi

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/logging"
)

// Config says how to reach AWS. Empty fields fall back to the SDK's usual
// sources: AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_EC2,
// AWS_ENDPOINT_URL_AUTO_SCALING, AWS_MAX_ATTEMPTS, AWS_RETRY_MODE, the shared
// config files and, on an instance, IMDS.
type Config struct {
	Region  string
	Profile string
	// EndpointURL, when set, sends both services to this URL (for example
	// `stateful sim serve`), overriding the AWS_ENDPOINT_URL* variables.
	EndpointURL string
	// MaxAttempts bounds the SDK's own retries of throttling and 5xx errors
	// (0: the SDK default of 3, or AWS_MAX_ATTEMPTS).
	MaxAttempts int
	// MaxBackoff caps the delay between those retries (0: 20s).
	MaxBackoff time.Duration
	// RetryMode is "standard" (default) or "adaptive" (client-side rate
	// limiting on top of standard); "" reads AWS_RETRY_MODE.
	RetryMode string
	// Credentials, when set, replace the SDK's credential chain (the lab
	// and tests use static ones, so nothing asks a metadata service).
	Credentials aws.CredentialsProvider
	// RoleARN, when set, is assumed with the credentials above (sts.go).
	RoleARN string
	// SDKLog receives the SDK's own log (its warnings, such as a response
	// body it could not discard or an IMDSv1 fallback, and its retries);
	// nil discards it, so the commands' stderr carries only their own words.
	SDKLog io.Writer
}

// CredentialsError is a call that found no usable credentials: the SDK's
// chain (or the given provider) failed to produce any.
type CredentialsError struct{ Err error }

func (e *CredentialsError) Error() string { return "retrieving AWS credentials: " + e.Err.Error() }
func (e *CredentialsError) Unwrap() error { return e.Err }

// typedCredentials marks a credential failure with CredentialsError, which
// the SDK's own wrapping keeps reachable through errors.As.
type typedCredentials struct{ p aws.CredentialsProvider }

func (t typedCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := t.p.Retrieve(ctx)
	if err != nil {
		return c, &CredentialsError{Err: err}
	}
	return c, nil
}

// Clients are the real SDK clients behind the interfaces.
type Clients struct {
	AutoScaling AutoScaling
	EC2         EC2
	// SSM is Parameter Store, where the cluster's lock and failure mark
	// live (internal/lock).
	SSM *ssm.Client
	// IAM revokes a replaced node's older sessions (internal/evict).
	IAM    IAM
	STS    STS
	Region string
}

// New builds the clients. It never contacts AWS.
func New(ctx context.Context, c Config) (*Clients, error) {
	mode := c.RetryMode
	if mode == "" {
		mode = os.Getenv("AWS_RETRY_MODE")
	}
	if mode != "" && mode != "standard" && mode != "adaptive" {
		return nil, fmt.Errorf("retry mode %q is not valid: use standard or adaptive", mode)
	}
	standard := func(o *retry.StandardOptions) {
		if c.MaxAttempts > 0 {
			o.MaxAttempts = c.MaxAttempts
		}
		if c.MaxBackoff > 0 {
			o.MaxBackoff = c.MaxBackoff
		}
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			if mode == "adaptive" {
				return retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
					o.StandardOptions = append(o.StandardOptions, standard)
				})
			}
			return retry.NewStandard(standard)
		}),
	}
	if c.Region != "" {
		opts = append(opts, config.WithRegion(c.Region))
	}
	if c.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(c.Profile))
	}
	if c.Credentials != nil {
		opts = append(opts, config.WithCredentialsProvider(c.Credentials))
	}
	if c.SDKLog != nil {
		opts = append(opts, config.WithLogger(logging.NewStandardLogger(c.SDKLog)), config.WithClientLogMode(aws.LogRetries))
	} else {
		opts = append(opts, config.WithLogger(logging.Nop{}))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Credentials != nil {
		cfg.Credentials = aws.NewCredentialsCache(typedCredentials{p: cfg.Credentials})
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("no AWS region: pass --region or set AWS_REGION")
	}
	if c.RoleARN != "" {
		assumeRole(&cfg, c.RoleARN, c.EndpointURL)
	}
	asg := autoscaling.NewFromConfig(cfg, func(o *autoscaling.Options) {
		if c.EndpointURL != "" {
			o.BaseEndpoint = aws.String(c.EndpointURL)
		}
	})
	ec := ec2.NewFromConfig(cfg, func(o *ec2.Options) {
		if c.EndpointURL != "" {
			o.BaseEndpoint = aws.String(c.EndpointURL)
		}
	})
	sm := ssm.NewFromConfig(cfg, func(o *ssm.Options) {
		if c.EndpointURL != "" {
			o.BaseEndpoint = aws.String(c.EndpointURL)
		}
	})
	// IAM is global; the simulator (EndpointURL) answers it too.
	im := iam.NewFromConfig(cfg, func(o *iam.Options) {
		if c.EndpointURL != "" {
			o.BaseEndpoint = aws.String(c.EndpointURL)
		}
	})
	return &Clients{AutoScaling: asg, EC2: ec, SSM: sm, IAM: im, STS: sts.NewFromConfig(cfg, stsEndpoint(c.EndpointURL)), Region: cfg.Region}, nil
}
