package sim

import (
	"fmt"

	"github.com/aws/smithy-go"
)

// APIError is an error as AWS returns it: a code, a message and the HTTP
// status the wire protocol carries. It satisfies smithy.APIError, so code
// that classifies real SDK errors classifies these the same way.
type APIError struct {
	Code    string
	Message string
	Status  int
}

func (e *APIError) Error() string {
	return fmt.Sprintf("api error %s: %s", e.Code, e.Message)
}
func (e *APIError) ErrorCode() string    { return e.Code }
func (e *APIError) ErrorMessage() string { return e.Message }
func (e *APIError) ErrorFault() smithy.ErrorFault {
	if e.Status >= 500 {
		return smithy.FaultServer
	}
	return smithy.FaultClient
}

// statusOf is the HTTP status AWS sends with a code; 400 when not listed.
var statusOf = map[string]int{
	"RequestLimitExceeded":         503,
	"ResourceContention":           500,
	"ServiceLinkedRoleFailure":     500,
	"InternalError":                500,
	"InternalFailure":              500,
	"ServiceUnavailable":           503,
	"Unavailable":                  503,
	"AuthFailure":                  401,
	"UnauthorizedOperation":        403,
	"InsufficientInstanceCapacity": 500,
	"NoSuchEntity":                 404,
	"LimitExceeded":                409,
}

func apiErr(code, format string, args ...any) *APIError {
	status, ok := statusOf[code]
	if !ok {
		status = 400
	}
	return &APIError{Code: code, Message: fmt.Sprintf(format, args...), Status: status}
}

func validation(format string, args ...any) *APIError {
	return apiErr("ValidationError", format, args...)
}
