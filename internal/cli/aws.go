package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/inventory"
	"github.com/stateful-aws/stateful/internal/lock"
)

// deps are what commands reach the outside world through; tests replace
// them.
type deps struct {
	clients func(ctx context.Context, f *awsFlags) (awsapi.AutoScaling, awsapi.EC2, error)
	// params reaches Parameter Store: the cluster's lock and failure mark.
	params func(ctx context.Context, f *awsFlags) (lock.API, error)
	// iam revokes a replaced node's older sessions (evict.go), in the
	// region it returns (the node roles' names carry it); nil: none.
	iam   func(ctx context.Context, f *awsFlags) (awsapi.IAM, string, error)
	clock clock.Clock
	// terminal reports whether a stream is an interactive terminal.
	terminal func(any) bool
}

func defaultDeps() deps {
	return deps{
		clients: func(ctx context.Context, f *awsFlags) (awsapi.AutoScaling, awsapi.EC2, error) {
			c, err := f.awsClients(ctx)
			if err != nil {
				return nil, nil, err
			}
			return c.AutoScaling, c.EC2, nil
		},
		params: func(ctx context.Context, f *awsFlags) (lock.API, error) {
			c, err := f.awsClients(ctx)
			if err != nil {
				return nil, err
			}
			return c.SSM, nil
		},
		iam: func(ctx context.Context, f *awsFlags) (awsapi.IAM, string, error) {
			c, err := f.awsClients(ctx)
			if err != nil {
				return nil, "", err
			}
			return c.IAM, c.Region, nil
		},
		clock: clock.Real{},
		terminal: func(s any) bool {
			f, ok := s.(*os.File)
			return ok && term.IsTerminal(int(f.Fd()))
		},
	}
}

// awsClients builds the command's AWS clients once, with its region,
// profile, endpoint and role, and checks the account they reach before
// any other call: the lock, the roll and the revocation act as one caller
// in one account.
func (f *awsFlags) awsClients(ctx context.Context) (*awsapi.Clients, error) {
	if f.built != nil {
		return f.built, nil
	}
	cfg := awsapi.Config{Region: f.Region, Profile: f.Profile, EndpointURL: f.EndpointURL, RoleARN: f.RoleARN}
	if f.Verbose {
		cfg.SDKLog = f.stderr
		if cfg.SDKLog == nil {
			cfg.SDKLog = os.Stderr
		}
	}
	c, err := awsapi.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := checkAccount(ctx, c.STS, f); err != nil {
		return nil, err
	}
	f.built = c
	return c, nil
}

// parameters is the Parameter Store client.
func (d deps) parameters(ctx context.Context, f *awsFlags) (lock.API, error) {
	if d.params == nil || f == nil {
		return nil, errors.New("internal error: this command has no Parameter Store client")
	}
	return d.params(ctx, f)
}

// awsFlags are the flags every AWS-facing command shares.
type awsFlags struct {
	Cluster     string
	ASGs        []string
	Region      string
	Profile     string
	EndpointURL string
	// RoleARN and ExpectAccount: account.go.
	RoleARN       string
	ExpectAccount string
	Output        string
	Verbose       bool
	// wideOK: the command has a wide table (--output wide).
	wideOK bool
	// stderr receives the SDK's log under --verbose (the command's stderr).
	stderr io.Writer
	// built: the clients awsClients made for this command.
	built *awsapi.Clients
}

func (f *awsFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.Cluster, "cluster", "", "the cluster, by the module's "+`"stateful:cluster"`+" tag (its app_name)")
	fs.StringSliceVar(&f.ASGs, "asg", nil, "the cluster's Auto Scaling groups by name, instead of --cluster (repeatable)")
	fs.StringVar(&f.Region, "region", "", "AWS region (default: AWS_REGION or the profile's)")
	fs.StringVar(&f.Profile, "profile", "", "AWS shared-config profile")
	fs.StringVar(&f.EndpointURL, "endpoint-url", "", "send Auto Scaling, EC2 and Parameter Store calls to this URL (for example stateful sim serve)")
	fs.StringVarP(&f.Output, "output", "o", "text", "output format: text or json (status: also wide)")
	fs.BoolVar(&f.Verbose, "verbose", false, "let the AWS SDK log its warnings and retries on stderr")
	f.registerAccount(fs)
}

func (f *awsFlags) validate() error {
	if err := f.selector().Validate(); err != nil {
		return usageError("%v", err)
	}
	switch {
	case f.Output == "wide" && f.wideOK:
	case f.Output != "text" && f.Output != "json":
		if f.wideOK {
			return usageError("--output must be text, wide or json, got %q", f.Output)
		}
		return usageError("--output must be text or json, got %q", f.Output)
	}
	if f.EndpointURL != "" {
		u, err := url.Parse(f.EndpointURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usageError("--endpoint-url must be an http:// or https:// URL with a host (for example http://127.0.0.1:4566), got %q", f.EndpointURL)
		}
	}
	return nil
}

func (f *awsFlags) selector() inventory.Selector {
	return inventory.Selector{Cluster: f.Cluster, Groups: f.ASGs}
}

// again renders the flags that select the same cluster, for commands the
// user is told to run.
func (f *awsFlags) again() string {
	var b strings.Builder
	if f.Cluster != "" {
		fmt.Fprintf(&b, " --cluster %s", shellQuote(f.Cluster))
	}
	for _, g := range f.ASGs {
		fmt.Fprintf(&b, " --asg %s", shellQuote(g))
	}
	if f.Region != "" {
		fmt.Fprintf(&b, " --region %s", shellQuote(f.Region))
	}
	if f.Profile != "" {
		fmt.Fprintf(&b, " --profile %s", shellQuote(f.Profile))
	}
	if f.EndpointURL != "" {
		fmt.Fprintf(&b, " --endpoint-url %s", shellQuote(f.EndpointURL))
	}
	return b.String()
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@,+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func (d deps) inventory(ctx context.Context, f *awsFlags) (awsapi.AutoScaling, awsapi.EC2, *inventory.Inventory, error) {
	as, ec, err := d.clients(ctx, f)
	if err != nil {
		return nil, nil, nil, err
	}
	inv, err := inventory.New(inventory.Config{AutoScaling: as, EC2: ec, Clock: d.clock,
		Limiter: &awsapi.Limiter{Clock: d.clock, Every: apiSpacing}})
	return as, ec, inv, err
}

// apiSpacing keeps every command at or under 20 calls a second.
const apiSpacing = 50 * time.Millisecond
