package simhttp

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/stateful-aws/stateful/internal/sim"
)

// Limits cap what one query-protocol request may carry, so that a hostile
// request cannot cost more than a bounded amount of parsing: the decoder
// hashes every dotted prefix of every key, so its work grows with key
// count x key length x nesting depth. AWS documents no limits on parameter
// names or counts (only on whole requests), so these are the simulator's
// choice, set well above anything the SDKs send: the deepest key the
// product's calls use, LaunchTemplateData.NetworkInterface.1.PrivateIpAddresses.1.Primary,
// has 5 dots and 64 characters.
type Limits struct {
	MaxKeyLen int // bytes in one parameter name
	MaxKeys   int // parameters in one request
	MaxDepth  int // dots in one parameter name
}

// DefaultLimits are the caps a Handler starts with.
func DefaultLimits() Limits { return Limits{MaxKeyLen: 512, MaxKeys: 5000, MaxDepth: 16} }

// check refuses a form over the limits with the protocol's own
// malformed-parameter error (ValidationError for Auto Scaling,
// InvalidParameterValue for EC2), naming the cap.
func (l Limits) check(p *protocol, form url.Values) *sim.APIError {
	code := ec2Query.badParam
	if p != nil {
		code = p.badParam
	}
	if len(form) > l.MaxKeys {
		return &sim.APIError{Code: code, Message: fmt.Sprintf("The request has %d parameters; at most %d are allowed.", len(form), l.MaxKeys), Status: 400}
	}
	for k := range form {
		if len(k) > l.MaxKeyLen {
			return &sim.APIError{Code: code, Message: fmt.Sprintf("A parameter name is %d bytes long; at most %d are allowed.", len(k), l.MaxKeyLen), Status: 400}
		}
		if d := strings.Count(k, "."); d > l.MaxDepth {
			return &sim.APIError{Code: code, Message: fmt.Sprintf("The parameter %s is nested %d deep; at most %d levels are allowed.", k[:min(len(k), 64)], d, l.MaxDepth), Status: 400}
		}
	}
	return nil
}

// SetLimits changes the caps (tests, and callers that need other ones).
func (h *Handler) SetLimits(l Limits) { h.limits = l }
