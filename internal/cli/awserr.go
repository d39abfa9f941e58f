package cli

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go"

	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/inventory"
)

// translate turns an AWS or network error into one sentence per kind:
// not found, access denied (with the action and resource), throttled,
// endpoint unreachable, no credentials (with where the SDK looked). The
// SDK's chain follows only with --verbose. Exit codes are kept; errors
// that are not AWS's pass unchanged.
func translate(err error, f *awsFlags) error {
	if err == nil {
		return nil
	}
	sentence := awsSentence(err, f)
	if sentence == "" {
		return err
	}
	if f.Verbose {
		sentence += " (" + err.Error() + ")"
	}
	code := ExitError
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	return &exitError{code: code, err: &translated{msg: sentence, err: err}}
}

// translated is an error said in one sentence that keeps its cause for
// errors.As.
type translated struct {
	msg string
	err error
}

func (t *translated) Error() string { return t.msg }
func (t *translated) Unwrap() error { return t.err }

// awsSentence is the sentence for err, "" when it is not an AWS or
// network error.
func awsSentence(err error, f *awsFlags) string {
	var tr *translated
	if errors.As(err, &tr) {
		return ""
	}
	var nf *inventory.NotFoundError
	if errors.As(err, &nf) {
		if len(nf.Names) > 0 {
			return fmt.Sprintf("there is no Auto Scaling group named %s in %s: check --asg, --region and --profile", strings.Join(nf.Names, ", "), where(f))
		}
		return fmt.Sprintf("there is no %s in %s: check --cluster (the module's app_name), --region and --profile", nf.What, where(f))
	}
	var ce *awsapi.CredentialsError
	if errors.As(err, &ce) {
		return "no AWS credentials: " + credentialSources(f) + "; set one of them (or pass --profile)"
	}
	action := actionOf(err)
	switch awsapi.Classify(err) {
	case awsapi.KindAccessDenied:
		var api smithy.APIError
		errors.As(err, &api)
		msg := strings.TrimSpace(api.ErrorMessage())
		if strings.HasPrefix(msg, "Credential should be scoped to a valid region") {
			// A signature for another region than the endpoint's: the
			// credentials are fine, --region is not.
			return fmt.Sprintf("the endpoint %s does not serve region %s (%s: %s): check --region (or AWS_REGION)", endpointName(f), f.Region, api.ErrorCode(), msg)
		}
		s := fmt.Sprintf("AWS denied %s to these credentials (%s", action, api.ErrorCode())
		if msg != "" {
			s += ": " + msg
		}
		s += ")"
		if _, res, ok := strings.Cut(msg, "on resource: "); ok {
			s += fmt.Sprintf(": the identity needs %s on %s", action, strings.Fields(res)[0])
		} else {
			s += fmt.Sprintf(": the identity needs %s on the cluster's resources", action)
		}
		return s
	case awsapi.KindThrottling:
		return fmt.Sprintf("AWS kept throttling %s (%s) past the SDK's retries: wait a minute and run the command again (AWS_MAX_ATTEMPTS allows more retries)", action, awsapi.Code(err))
	case awsapi.KindNetwork:
		endpoint := f.EndpointURL
		var ue *url.Error
		if errors.As(err, &ue) {
			if u, perr := url.Parse(ue.URL); perr == nil {
				endpoint = u.Scheme + "://" + u.Host
			}
		}
		if endpoint == "" {
			endpoint = "AWS"
		}
		return fmt.Sprintf("cannot reach %s for %s: %s (after the SDK's retries); check --endpoint-url, the network and any proxy", endpoint, action, rootCause(err))
	case awsapi.KindNotFound:
		var api smithy.APIError
		errors.As(err, &api)
		return fmt.Sprintf("%s names something that does not exist (%s: %s): it may have been deleted meanwhile; run the command again", action, api.ErrorCode(), api.ErrorMessage())
	}
	return ""
}

// actionOf names the IAM action of the failed call ("autoscaling:X").
func actionOf(err error) string {
	var op *smithy.OperationError
	if !errors.As(err, &op) {
		return "a call"
	}
	svc := strings.ToLower(strings.ReplaceAll(op.ServiceID, " ", ""))
	return svc + ":" + op.OperationName
}

// rootCause is the innermost error's text: "connection refused", "no such
// host".
func rootCause(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			s := err.Error()
			if i := strings.LastIndex(s, ": "); i >= 0 {
				s = s[i+2:]
			}
			return s
		}
		err = next
	}
}

func where(f *awsFlags) string {
	region := f.Region
	if region == "" {
		region = os.Getenv("AWS_REGION")
	}
	s := "region " + region
	if region == "" {
		s = "the default region"
	}
	if f.EndpointURL != "" {
		s += " at " + f.EndpointURL
	}
	return s
}

// credentialSources says where the SDK's default chain looked.
func credentialSources(f *awsFlags) string {
	profile := f.Profile
	if profile == "" {
		profile = os.Getenv("AWS_PROFILE")
	}
	if profile == "" {
		profile = "default"
	}
	creds, cfg := config.DefaultSharedCredentialsFilename(), config.DefaultSharedConfigFilename()
	if v := os.Getenv("AWS_SHARED_CREDENTIALS_FILE"); v != "" {
		creds = v
	}
	if v := os.Getenv("AWS_CONFIG_FILE"); v != "" {
		cfg = v
	}
	imds := ", and in the EC2 instance metadata service"
	if strings.EqualFold(os.Getenv("AWS_EC2_METADATA_DISABLED"), "true") {
		imds = " (the EC2 instance metadata service is off: AWS_EC2_METADATA_DISABLED)"
	}
	return fmt.Sprintf("the AWS SDK looked in the environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), in %s and %s (profile %s), for web identity and container credentials%s", creds, cfg, profile, imds)
}

// endpointName is --endpoint-url, or AWS's own endpoints.
func endpointName(f *awsFlags) string {
	if f.EndpointURL != "" {
		return f.EndpointURL
	}
	return "of AWS"
}
