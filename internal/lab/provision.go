package lab

import (
	"context"
	"encoding/base64"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/cluster"
	"github.com/stateful-aws/stateful/internal/sim"
)

type clusterSpec struct {
	Nodes []sim.NodeSpec
}

// provision applies the evaluated cluster to the simulator as Terraform
// applies the module: per node an ENI with its IP, a volume in its zone
// (with a loop device behind it), a launch template carrying the module's
// user data, a group of one with the launch hook from its creation, and
// the drain hook when the module has one. The lab's own stand-ins replace
// images, instance types and security groups.
func (l *Lab) provision(ctx context.Context) error {
	c := l.spec
	as, ec := l.Engine.AutoScaling(), l.Engine.EC2()
	vpc, err := ec.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String(c.VPC.String()), TagSpecifications: tags("vpc", c.Name, "")})
	if err != nil {
		return fmt.Errorf("creating the lab's VPC: %w", err)
	}
	subnetIDs := map[string]string{}
	for _, s := range c.Subnets {
		out, err := ec.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, AvailabilityZone: aws.String(s.AZ),
			CidrBlock: aws.String(s.CIDR.String()), TagSpecifications: tags("subnet", c.Name, "")})
		if err != nil {
			return fmt.Errorf("creating the lab's subnet for %s: %w", s.ID, err)
		}
		subnetIDs[s.ID] = *out.Subnet.SubnetId
	}
	for _, n := range c.Nodes {
		spec := sim.NodeSpec{ID: n.ID, IP: n.IP, AZ: n.AZ, SubnetID: subnetIDs[n.Subnet], Group: n.Group, LaunchHook: n.LaunchHook, LaunchTemplateName: n.Group}
		eni, err := ec.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(spec.SubnetID),
			PrivateIpAddress: aws.String(n.IP), Groups: []string{labGroup}, Description: aws.String("stateful node " + n.Group),
			TagSpecifications: tags("network-interface", c.Name, n.ID)})
		if err != nil {
			return fmt.Errorf("creating the ENI of node %s: %w", n.ID, err)
		}
		spec.ENI = *eni.NetworkInterface.NetworkInterfaceId
		vol, err := ec.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String(n.AZ), Size: aws.Int32(n.VolumeGiB),
			VolumeType: ec2types.VolumeType(n.VolumeType), Encrypted: aws.Bool(true), TagSpecifications: tags("volume", c.Name, n.ID)})
		if err != nil {
			return fmt.Errorf("creating the volume of node %s: %w", n.ID, err)
		}
		spec.Volume = *vol.VolumeId
		if _, err := l.newVolume(ctx, spec.Volume); err != nil {
			return fmt.Errorf("the loop device of volume %s: %w", spec.Volume, err)
		}
		lt, err := ec.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String(n.Group),
			TagSpecifications: tags("launch-template", c.Name, n.ID),
			LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(labImage), InstanceType: ec2types.InstanceType(labInstance),
				NetworkInterfaces: []ec2types.LaunchTemplateInstanceNetworkInterfaceSpecificationRequest{{DeviceIndex: aws.Int32(0),
					NetworkInterfaceId: aws.String(spec.ENI), DeleteOnTermination: aws.Bool(false)}},
				MetadataOptions: &ec2types.LaunchTemplateInstanceMetadataOptionsRequest{HttpTokens: ec2types.LaunchTemplateHttpTokensStateRequired,
					HttpPutResponseHopLimit: aws.Int32(1), HttpEndpoint: ec2types.LaunchTemplateInstanceMetadataEndpointStateEnabled},
				TagSpecifications: []ec2types.LaunchTemplateTagSpecificationRequest{{ResourceType: ec2types.ResourceTypeInstance, Tags: ec2Tags(c.Name, n.ID)}},
				UserData:          aws.String(base64.StdEncoding.EncodeToString([]byte(n.UserData)))}})
		if err != nil {
			return fmt.Errorf("creating the launch template of node %s: %w", n.ID, err)
		}
		spec.LaunchTemplateID = *lt.LaunchTemplate.LaunchTemplateId
		if _, err := as.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{AutoScalingGroupName: aws.String(n.Group),
			MinSize: aws.Int32(1), MaxSize: aws.Int32(1), DesiredCapacity: aws.Int32(1), AvailabilityZones: []string{n.AZ}, HealthCheckType: aws.String("EC2"),
			LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(spec.LaunchTemplateID), Version: aws.String("$Latest")},
			LifecycleHookSpecificationList: []astypes.LifecycleHookSpecification{{LifecycleHookName: aws.String(n.LaunchHook),
				LifecycleTransition: aws.String(sim.HookLaunching), HeartbeatTimeout: aws.Int32(n.HookTimeout), DefaultResult: aws.String("ABANDON")}},
			Tags: []astypes.Tag{
				{Key: aws.String(cluster.TagCluster), Value: aws.String(c.Name), PropagateAtLaunch: aws.Bool(true)},
				{Key: aws.String(cluster.TagNodeID), Value: aws.String(n.ID), PropagateAtLaunch: aws.Bool(true)},
			}}); err != nil {
			return fmt.Errorf("creating the group of node %s: %w", n.ID, err)
		}
		if n.DrainHook != "" {
			if _, err := as.PutLifecycleHook(ctx, &autoscaling.PutLifecycleHookInput{AutoScalingGroupName: aws.String(n.Group),
				LifecycleHookName: aws.String(n.DrainHook), LifecycleTransition: aws.String(sim.HookTerminating),
				HeartbeatTimeout: aws.Int32(n.DrainTimeout), DefaultResult: aws.String("CONTINUE")}); err != nil {
				return fmt.Errorf("creating the drain hook of node %s: %w", n.ID, err)
			}
		}
		l.cluster.Nodes = append(l.cluster.Nodes, spec)
	}
	return nil
}

func ec2Tags(clusterName, node string) []ec2types.Tag {
	t := []ec2types.Tag{{Key: aws.String(cluster.TagCluster), Value: aws.String(clusterName)}}
	if node != "" {
		t = append(t, ec2types.Tag{Key: aws.String(cluster.TagNodeID), Value: aws.String(node)},
			ec2types.Tag{Key: aws.String("Name"), Value: aws.String(clusterName + "-" + node)})
	}
	return t
}

func tags(resource, clusterName, node string) []ec2types.TagSpecification {
	return []ec2types.TagSpecification{{ResourceType: ec2types.ResourceType(resource), Tags: ec2Tags(clusterName, node)}}
}

// Nodes are the lab cluster's nodes.
func (l *Lab) Nodes() []sim.NodeSpec { return l.cluster.Nodes }

// Cluster is what the lab runs, as evaluated from its configuration.
func (l *Lab) Cluster() *Cluster { return l.spec }

// ConfigVersions makes a new version of every node's launch template with
// the user data the configuration renders now (after a change to its node
// script, files or variables), as terraform apply would; templates maps
// node IDs to launch-template IDs.
func ConfigVersions(ctx context.Context, ec awsapi.EC2, src Source, templates map[string]string) error {
	c, err := Evaluate(src, BaseURL())
	if err != nil {
		return err
	}
	for _, n := range c.Nodes {
		id, ok := templates[n.ID]
		if !ok {
			return fmt.Errorf("node %s of %s is not in the running lab: the lab rolls the nodes it has; start a new lab for a new layout", n.ID, src.Dir)
		}
		if _, err := ec.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{LaunchTemplateId: aws.String(id),
			SourceVersion: aws.String("$Latest"), VersionDescription: aws.String("stateful lab roll --config " + src.Dir),
			LaunchTemplateData: &ec2types.RequestLaunchTemplateData{UserData: aws.String(base64.StdEncoding.EncodeToString([]byte(n.UserData)))}}); err != nil {
			return fmt.Errorf("making node %s's launch-template version: %w", n.ID, err)
		}
	}
	return nil
}
