package sim

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// EC2 states of a stopped instance (codes as EC2's: 64 and 80).
const (
	ec2Stopping = "stopping"
	ec2Stopped  = "stopped"
)

func init() {
	stateCodes[ec2Stopping], stateCodes[ec2Stopped] = 64, 80
}

// StopInstances stops running instances: stopping, then stopped after
// Timings.ShutdownDuration (AWS gives no figure; the shutdown of a
// terminate is the nearest). A stopped instance keeps its ENI and volumes.
// A group member stopped this way stays InService in its group until the
// group's next health check, which finds it stopped, marks it Unhealthy
// and replaces it (AWS-FACTS §1.6).
func (a *EC2API) StopInstances(ctx context.Context, in *ec2.StopInstancesInput, _ ...func(*ec2.Options)) (*ec2.StopInstancesOutput, error) {
	return run(ctx, a.e, ServiceEC2, "StopInstances", in, func(in *ec2.StopInstancesInput) (*ec2.StopInstancesOutput, error) {
		e := a.e
		if len(in.InstanceIds) == 0 {
			return nil, apiErr("MissingParameter", "The request must contain the parameter InstanceId")
		}
		for _, id := range in.InstanceIds {
			i := e.w.instances[id]
			if i == nil {
				return nil, apiErr("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
			}
			if i.State != ec2Running && i.State != ec2Stopping && i.State != ec2Stopped {
				return nil, apiErr("IncorrectInstanceState", "This instance '%s' is not in a state from which it can be stopped.", id)
			}
		}
		out := &ec2.StopInstancesOutput{}
		for _, id := range in.InstanceIds {
			i := e.w.instances[id]
			prev := i.State
			if i.State == ec2Running {
				i.State = ec2Stopping
				i.StateReason = "User initiated"
				e.notify(Change{Instance: id, State: ec2Stopping})
				e.after(e.cfg.Timings.ShutdownDuration, func() {
					if i := e.w.instances[id]; i != nil && i.State == ec2Stopping {
						i.State = ec2Stopped
						e.notify(Change{Instance: id, State: ec2Stopped})
					}
				})
				e.scheduleHealthCheck(e.w.groups[i.Group])
			}
			out.StoppingInstances = append(out.StoppingInstances, ec2types.InstanceStateChange{InstanceId: aws.String(id),
				PreviousState: &ec2types.InstanceState{Code: aws.Int32(stateCodes[prev]), Name: ec2types.InstanceStateName(prev)},
				CurrentState:  &ec2types.InstanceState{Code: aws.Int32(stateCodes[i.State]), Name: ec2types.InstanceStateName(i.State)}})
		}
		return out, nil
	})
}
