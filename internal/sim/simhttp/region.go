package simhttp

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/stateful-aws/stateful/internal/sim"
)

// The simulator is one region, as an AWS endpoint is: a request signed for
// another region (a wrong --region beside --endpoint-url) gets the answer
// AWS gives a credential scope that names another region than the
// endpoint's. The query services (Auto Scaling; SQS and STS answer the
// same, as observed) say SignatureDoesNotMatch, HTTP 403, "Credential
// should be scoped to a valid region, not 'eu-west-1'. "; AWS documents no
// EC2-specific wording, so EC2 gets the same. JSON services (SSM) say
// InvalidSignatureException, HTTP 400. An unsigned request has no scope
// and is served, as before.

// scopeRegion is the region of r's SigV4 credential scope, "" when r is
// not signed.
func scopeRegion(r *http.Request) string {
	_, scope, ok := strings.Cut(r.Header.Get("Authorization"), "Credential=")
	if !ok {
		return ""
	}
	parts := strings.Split(strings.SplitN(scope, ",", 2)[0], "/")
	if len(parts) != 5 {
		return ""
	}
	return parts[2]
}

// wrongRegion is AWS's error for r signed for another region than
// region, nil when it is signed for region or not signed.
func wrongRegion(r *http.Request, region string, json bool) *sim.APIError {
	got := scopeRegion(r)
	if got == "" || got == region {
		return nil
	}
	if json {
		return &sim.APIError{Code: "InvalidSignatureException", Message: "Credential should be scoped to a valid region. ", Status: http.StatusBadRequest}
	}
	return &sim.APIError{Code: "SignatureDoesNotMatch", Message: fmt.Sprintf("Credential should be scoped to a valid region, not '%s'. ", got), Status: http.StatusForbidden}
}
