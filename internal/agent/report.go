package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/stateful-aws/stateful/internal/cluster"
	"github.com/stateful-aws/stateful/internal/termtext"
)

// report leaves the failure summary on the agent's own instance as the tag
// cluster.TagBootstrapFailure, one line within EC2's 256 characters: the
// agent's own summary, the step and its error, and never the node script's
// output (anyone who reads the account's tags, and CloudTrail, would see
// it; the script's lines stay in the instance's journal). The operator's
// commands read it, so a stuck or abandoned launch is explained without a
// shell on the node. It is best effort: a failure to tag is logged and the
// launch is still abandoned (or held) as configured.
func (a *Agent) report(ctx context.Context, step string, err error) {
	line := err.Error() // a *StepError already names its step
	var se *StepError
	if !errors.As(err, &se) {
		line = fmt.Sprintf("%s: %v", step, err)
	}
	line = termtext.Escape(strings.Join(strings.Fields(line), " "))
	if r := []rune(line); len(r) > 256 {
		line = string(r[:255]) + "…"
		for len(line) > 256 { // EC2 counts characters; keep bytes safe too
			r = []rune(line)
			line = string(r[:len(r)-2]) + "…"
		}
	}
	if _, terr := a.d.EC2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{a.instanceID},
		Tags: []ec2types.Tag{{Key: aws.String(cluster.TagBootstrapFailure), Value: aws.String(line)},
			{Key: aws.String(cluster.TagBootstrapFailureClass), Value: aws.String(FailureClass(err))}}}); terr != nil {
		a.log.Error("could not leave the failure summary on the instance", "tag", cluster.TagBootstrapFailure, "error", terr.Error())
	}
}
