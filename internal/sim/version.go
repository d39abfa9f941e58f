package sim

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/stateful-aws/stateful/internal/awsapi"
)

// NewImage is the image NewVersions gives every node.
const NewImage = "ami-0000000000000000b"

// NewVersions makes a new version of every node's launch template from its
// latest, with a new image, as a Terraform change of node_image would: the
// one helper the lab (its demo and `stateful lab roll`) and the tests use
// to give a roll something to do.
func NewVersions(ctx context.Context, ec awsapi.EC2, nodes []NodeSpec, description string) error {
	for _, n := range nodes {
		if _, err := ec.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{LaunchTemplateId: aws.String(n.LaunchTemplateID),
			SourceVersion: aws.String("$Latest"), VersionDescription: aws.String(description),
			LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(NewImage)}}); err != nil {
			return fmt.Errorf("making a new launch-template version for node %s: %w", n.ID, err)
		}
	}
	return nil
}
