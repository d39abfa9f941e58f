package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/cluster"
)

// markReady tags the agent's own instance with cluster.TagReady (value:
// its instance ID) once the node serves with its data, before the launch
// hook is completed: the roll and status count an instance in service only
// with this mark, so a hook completed by anyone else (a person, a script)
// does not bring a node back without its data. Transient failures are
// retried for up to the command timeout; a refusal (the node policy not
// allowing the key) fails the bootstrap, since without the mark the node
// would never count as serving.
func (a *Agent) markReady(ctx context.Context) error {
	deadline := a.d.Clock.Now().Add(time.Duration(a.cfg.Timeouts.Command) * time.Second)
	wait := a.d.Poll
	for {
		_, err := a.d.EC2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{a.instanceID},
			Tags: []ec2types.Tag{{Key: aws.String(cluster.TagReady), Value: aws.String(a.instanceID)}}})
		if err == nil {
			return nil
		}
		retry := awsapi.Transient(err) || awsapi.Classify(err) == awsapi.KindNetwork
		if !retry || !a.d.Clock.Now().Before(deadline) {
			return fmt.Errorf("marking instance %s ready (tag %s): %w", a.instanceID, cluster.TagReady, err)
		}
		if err := clock.Sleep(ctx, a.d.Clock, wait); err != nil {
			return err
		}
		wait = min(2*wait, 10*time.Second)
	}
}
