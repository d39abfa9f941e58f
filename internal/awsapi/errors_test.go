package awsapi

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	api := func(code, msg string, fault smithy.ErrorFault) error {
		return fmt.Errorf("calling: %w", &smithy.GenericAPIError{Code: code, Message: msg, Fault: fault})
	}
	cases := []struct {
		err       error
		want      Kind
		transient bool
	}{
		{nil, KindNone, false},
		{errors.New("dial tcp: refused"), KindOther, false},
		{api("Throttling", "Rate exceeded", smithy.FaultClient), KindThrottling, true},
		{api("RequestLimitExceeded", "Request limit exceeded.", smithy.FaultServer), KindThrottling, true},
		{&types.ResourceContentionFault{Message: new("busy")}, KindServer, true},
		{api("InternalError", "x", smithy.FaultServer), KindServer, true},
		{api("SomethingNew", "x", smithy.FaultServer), KindServer, true},
		{&types.ScalingActivityInProgressFault{}, KindScalingActivityInProgress, true},
		{api("ValidationError", "No active Lifecycle Action found with instance ID i-0123456789abcdef0", smithy.FaultClient), KindNoActiveLifecycleAction, false},
		{api("ValidationError", "The number of group names that may be passed in is limited to 50.", smithy.FaultClient), KindValidation, false},
		{api("VolumeInUse", "vol-1 is already attached to an instance", smithy.FaultClient), KindVolumeInUse, false},
		{api("IncorrectState", "vol-1 is not 'available'.", smithy.FaultClient), KindIncorrectState, true},
		{api("InvalidNetworkInterface.InUse", "Interface: [eni-1] in use.", smithy.FaultClient), KindNetworkInterfaceInUse, false},
		{api("InvalidVolume.NotFound", "The volume 'vol-1' does not exist.", smithy.FaultClient), KindNotFound, false},
		{api("InvalidLaunchTemplateName.NotFoundException", "x", smithy.FaultClient), KindNotFound, false},
		{api("InvalidVolume.ZoneMismatch", "x", smithy.FaultClient), KindZoneMismatch, false},
		{api("InsufficientInstanceCapacity", "x", smithy.FaultServer), KindInsufficientCapacity, false},
		{api("UnauthorizedOperation", "x", smithy.FaultClient), KindAccessDenied, false},
	}
	for _, c := range cases {
		if got := Classify(c.err); got != c.want {
			t.Errorf("Classify(%v) = %v, want %v", c.err, got, c.want)
		}
		if got := Transient(c.err); got != c.transient {
			t.Errorf("Transient(%v) = %v, want %v", c.err, got, c.transient)
		}
	}
	if Code(api("VolumeInUse", "", smithy.FaultClient)) != "VolumeInUse" || Code(errors.New("x")) != "" {
		t.Error("Code does not return the API error code")
	}
}

func TestNetworkErrorsAreTheirOwnKind(t *testing.T) {
	t.Parallel()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, err := range []error{
		&smithyhttp.RequestSendError{Err: refused},
		fmt.Errorf("operation error Auto Scaling: CompleteLifecycleAction: %w", &smithyhttp.RequestSendError{Err: refused}),
		refused,
	} {
		if k := Classify(err); k != KindNetwork {
			t.Errorf("Classify(%v) = %v, want network", err, k)
		}
	}
}
