package awsapi

import (
	"errors"
	"net"
	"strings"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Kind is what an AWS error means to our code.
type Kind int

const (
	KindNone Kind = iota
	// KindOther is an error we have no special handling for.
	KindOther
	// KindThrottling: Throttling (Auto Scaling), RequestLimitExceeded (EC2)
	// and the other throttle codes: back off and retry.
	KindThrottling
	// KindServer: 5xx, ResourceContention, InternalError: retry.
	KindServer
	// KindScalingActivityInProgress: the group is busy; retry later.
	KindScalingActivityInProgress
	// KindNotFound: an ID that does not exist (InvalidVolume.NotFound, ...).
	KindNotFound
	// KindNoActiveLifecycleAction: the ValidationError "No active Lifecycle
	// Action found ...": the action was completed or timed out already.
	KindNoActiveLifecycleAction
	// KindVolumeInUse: the volume is attached to an instance.
	KindVolumeInUse
	// KindIncorrectState: IncorrectState / IncorrectInstanceState: the
	// volume or instance is between states; retry later.
	KindIncorrectState
	// KindNetworkInterfaceInUse: InvalidNetworkInterface.InUse.
	KindNetworkInterfaceInUse
	// KindZoneMismatch: InvalidVolume.ZoneMismatch.
	KindZoneMismatch
	// KindInsufficientCapacity: InsufficientInstanceCapacity and kin.
	KindInsufficientCapacity
	// KindValidation: any other ValidationError or invalid parameter.
	KindValidation
	// KindAccessDenied: credentials or permissions.
	KindAccessDenied
	// KindNetwork: the request never got an answer (connection refused or
	// reset, a timeout, DNS), after the SDK's own retries.
	KindNetwork
)

var kindNames = map[Kind]string{
	KindNone: "none", KindOther: "other", KindNetwork: "network", KindThrottling: "throttling", KindServer: "server",
	KindScalingActivityInProgress: "scaling-activity-in-progress", KindNotFound: "not-found",
	KindNoActiveLifecycleAction: "no-active-lifecycle-action", KindVolumeInUse: "volume-in-use",
	KindIncorrectState: "incorrect-state", KindNetworkInterfaceInUse: "network-interface-in-use",
	KindZoneMismatch: "zone-mismatch", KindInsufficientCapacity: "insufficient-capacity",
	KindValidation: "validation", KindAccessDenied: "access-denied",
}

func (k Kind) String() string { return kindNames[k] }

// throttleCodes are the codes the SDK's standard retryer treats as throttling.
var throttleCodes = map[string]bool{
	"Throttling": true, "ThrottlingException": true, "ThrottledException": true,
	"RequestThrottledException": true, "TooManyRequestsException": true,
	"ProvisionedThroughputExceededException": true, "TransactionInProgressException": true,
	"RequestLimitExceeded": true, "BandwidthLimitExceeded": true, "LimitExceededException": true,
	"RequestThrottled": true, "SlowDown": true, "PriorRequestNotComplete": true,
	"EC2ThrottledException": true,
}

var codeKinds = map[string]Kind{
	"ResourceContention":                KindServer,
	"InternalError":                     KindServer,
	"InternalFailure":                   KindServer,
	"ServiceUnavailable":                KindServer,
	"Unavailable":                       KindServer,
	"ServiceLinkedRoleFailure":          KindServer,
	"ScalingActivityInProgress":         KindScalingActivityInProgress,
	"VolumeInUse":                       KindVolumeInUse,
	"IncorrectState":                    KindIncorrectState,
	"IncorrectInstanceState":            KindIncorrectState,
	"InvalidNetworkInterface.InUse":     KindNetworkInterfaceInUse,
	"InvalidVolume.ZoneMismatch":        KindZoneMismatch,
	"InsufficientInstanceCapacity":      KindInsufficientCapacity,
	"InsufficientCapacity":              KindInsufficientCapacity,
	"InsufficientFreeAddressesInSubnet": KindInsufficientCapacity,
	"AuthFailure":                       KindAccessDenied,
	"UnauthorizedOperation":             KindAccessDenied,
	"AccessDenied":                      KindAccessDenied,
	"AccessDeniedException":             KindAccessDenied,
	"InvalidClientTokenId":              KindAccessDenied,
	"SignatureDoesNotMatch":             KindAccessDenied,
	"ExpiredToken":                      KindAccessDenied,
	"InvalidParameterValue":             KindValidation,
	"InvalidParameterCombination":       KindValidation,
	"MissingParameter":                  KindValidation,
}

// Classify says what err means; KindNone for nil. It looks only at the API
// error code (and, for ValidationError, at the one message AWS gives no code
// of its own), never at the wrapped text.
func Classify(err error) Kind {
	if err == nil {
		return KindNone
	}
	var api smithy.APIError
	if !errors.As(err, &api) {
		var send *smithyhttp.RequestSendError
		var nerr net.Error
		if errors.As(err, &send) || errors.As(err, &nerr) {
			return KindNetwork
		}
		return KindOther
	}
	code := api.ErrorCode()
	switch {
	case throttleCodes[code]:
		return KindThrottling
	case code == "ValidationError":
		if strings.HasPrefix(api.ErrorMessage(), "No active Lifecycle Action found") {
			return KindNoActiveLifecycleAction
		}
		return KindValidation
	case strings.HasSuffix(code, ".NotFound") || strings.HasSuffix(code, "NotFoundException"):
		return KindNotFound
	}
	if k, ok := codeKinds[code]; ok {
		return k
	}
	if api.ErrorFault() == smithy.FaultServer {
		return KindServer
	}
	return KindOther
}

// Code returns the AWS error code of err, or "".
func Code(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

// Transient reports whether retrying the same call later may succeed.
func Transient(err error) bool {
	switch Classify(err) {
	case KindThrottling, KindServer, KindScalingActivityInProgress, KindIncorrectState:
		return true
	}
	return false
}
