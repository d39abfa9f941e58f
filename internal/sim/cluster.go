package sim

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/stateful-aws/stateful/internal/awsapi"
	"github.com/stateful-aws/stateful/internal/cluster"
)

// ClusterSpec describes a cluster laid out the way the Terraform module lays
// it out: per node an ENI with a fixed IP, an encrypted data volume in the
// same AZ, a launch template whose network interface at device index 0 is
// that ENI, a group of exactly one in the AZ, and a launch hook from the
// group's creation. Every resource carries the cluster and node-id tags.
type ClusterSpec struct {
	Name  string
	Nodes int
	// AZs the nodes are spread over, round robin (default: the region's a, b, c).
	AZs []string
	// HookTimeout is the launch hook's heartbeat timeout in seconds (default 600).
	HookTimeout int32
	// UserData renders the base64 user data of a node (default: none).
	UserData func(n NodeSpec) string
	ImageID  string // default ami-0123456789abcdef0
	// VolumeSize in GiB (default 16).
	VolumeSize int32
}

// NodeSpec is one node of a provisioned cluster.
type NodeSpec struct {
	ID, IP, AZ, SubnetID    string
	ENI, Volume             string
	LaunchTemplateID, Group string
	LaunchHook              string
	LaunchTemplateName      string
}

// NodeIDs are zero-padded so that their string order is their numeric order.
func nodeID(n int) string { return fmt.Sprintf("%02d", n) }

// PlanNodes lays out n nodes over the AZs (round robin) with their ids,
// fixed IPs (from .10 of each AZ's /20: 10.0.0.10, 10.0.16.10, ...) and
// names, before anything exists.
func PlanNodes(clusterName string, n int, azs []string) []NodeSpec {
	nodes := make([]NodeSpec, n)
	for i := range n {
		k := i % len(azs)
		host := 10 + i/len(azs)
		id := nodeID(i)
		nodes[i] = NodeSpec{ID: id, AZ: azs[k], IP: netip.AddrFrom4([4]byte{10, 0, byte(16*k + host/256), byte(host % 256)}).String(),
			Group: cluster.GroupName(clusterName, id), LaunchHook: cluster.LaunchHookName(clusterName),
			LaunchTemplateName: cluster.LaunchTemplateName(clusterName, id)}
	}
	return nodes
}

// DefaultAZs are the AZs Provision spreads nodes over when none are given.
func DefaultAZs(region string) []string { return []string{region + "a", region + "b", region + "c"} }

// Provision creates the cluster through the two APIs (in-process engine, the
// HTTP simulator or any other AWS endpoint) and returns its nodes in node-id
// order. The groups start launching at once.
func Provision(ctx context.Context, as awsapi.AutoScaling, ec awsapi.EC2, region string, spec ClusterSpec) ([]NodeSpec, error) {
	if spec.Name == "" || spec.Nodes < 1 || spec.Nodes > 3000 {
		return nil, fmt.Errorf("cluster spec: name must be set and nodes between 1 and 3000, got %q and %d", spec.Name, spec.Nodes)
	}
	if len(spec.AZs) == 0 {
		spec.AZs = DefaultAZs(region)
	}
	if spec.HookTimeout == 0 {
		spec.HookTimeout = 600
	}
	if spec.ImageID == "" {
		spec.ImageID = "ami-0123456789abcdef0"
	}
	if spec.VolumeSize == 0 {
		spec.VolumeSize = 16
	}
	vpcOut, err := ec.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16"), TagSpecifications: tagSpec("vpc", spec.Name, "")})
	if err != nil {
		return nil, fmt.Errorf("creating VPC: %w", err)
	}
	subnets := map[string]string{}
	for k, az := range spec.AZs {
		out, err := ec.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpcOut.Vpc.VpcId, AvailabilityZone: aws.String(az),
			CidrBlock: aws.String(fmt.Sprintf("10.0.%d.0/20", 16*k)), TagSpecifications: tagSpec("subnet", spec.Name, "")})
		if err != nil {
			return nil, fmt.Errorf("creating subnet in %s: %w", az, err)
		}
		subnets[az] = *out.Subnet.SubnetId
	}
	nodes := PlanNodes(spec.Name, spec.Nodes, spec.AZs)
	for n := range nodes {
		node := nodes[n]
		node.SubnetID = subnets[node.AZ]
		eniOut, err := ec.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(node.SubnetID),
			PrivateIpAddress: aws.String(node.IP), Description: aws.String("stateful node " + node.Group),
			TagSpecifications: tagSpec("network-interface", spec.Name, node.ID)})
		if err != nil {
			return nil, fmt.Errorf("creating ENI of node %s: %w", node.ID, err)
		}
		node.ENI = *eniOut.NetworkInterface.NetworkInterfaceId
		volOut, err := ec.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String(node.AZ), Size: aws.Int32(spec.VolumeSize),
			VolumeType: ec2types.VolumeTypeGp3, Encrypted: aws.Bool(true), TagSpecifications: tagSpec("volume", spec.Name, node.ID)})
		if err != nil {
			return nil, fmt.Errorf("creating volume of node %s: %w", node.ID, err)
		}
		node.Volume = *volOut.VolumeId
		data := &ec2types.RequestLaunchTemplateData{ImageId: aws.String(spec.ImageID), InstanceType: ec2types.InstanceTypeT3Micro,
			NetworkInterfaces: []ec2types.LaunchTemplateInstanceNetworkInterfaceSpecificationRequest{{DeviceIndex: aws.Int32(0),
				NetworkInterfaceId: aws.String(node.ENI), DeleteOnTermination: aws.Bool(false)}},
			MetadataOptions: &ec2types.LaunchTemplateInstanceMetadataOptionsRequest{HttpTokens: ec2types.LaunchTemplateHttpTokensStateRequired,
				HttpPutResponseHopLimit: aws.Int32(1), HttpEndpoint: ec2types.LaunchTemplateInstanceMetadataEndpointStateEnabled},
			TagSpecifications: []ec2types.LaunchTemplateTagSpecificationRequest{
				{ResourceType: ec2types.ResourceTypeInstance, Tags: ec2NodeTags(spec.Name, node.ID)},
			}}
		if spec.UserData != nil {
			data.UserData = aws.String(spec.UserData(node))
		}
		ltOut, err := ec.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String(node.LaunchTemplateName), LaunchTemplateData: data,
			TagSpecifications: tagSpec("launch-template", spec.Name, node.ID)})
		if err != nil {
			return nil, fmt.Errorf("creating launch template of node %s: %w", node.ID, err)
		}
		node.LaunchTemplateID = *ltOut.LaunchTemplate.LaunchTemplateId
		_, err = as.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{AutoScalingGroupName: aws.String(node.Group),
			MinSize: aws.Int32(1), MaxSize: aws.Int32(1), DesiredCapacity: aws.Int32(1), AvailabilityZones: []string{node.AZ},
			HealthCheckType: aws.String("EC2"),
			LaunchTemplate:  &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(node.LaunchTemplateID), Version: aws.String("$Latest")},
			LifecycleHookSpecificationList: []astypes.LifecycleHookSpecification{{LifecycleHookName: aws.String(node.LaunchHook),
				LifecycleTransition: aws.String(HookLaunching), HeartbeatTimeout: aws.Int32(spec.HookTimeout), DefaultResult: aws.String("ABANDON")}},
			Tags: []astypes.Tag{
				{Key: aws.String(cluster.TagCluster), Value: aws.String(spec.Name), PropagateAtLaunch: aws.Bool(true)},
				{Key: aws.String(cluster.TagNodeID), Value: aws.String(node.ID), PropagateAtLaunch: aws.Bool(true)},
			}})
		if err != nil {
			return nil, fmt.Errorf("creating group of node %s: %w", node.ID, err)
		}
		nodes[n] = node
	}
	return nodes, nil
}

func ec2NodeTags(clusterName, node string) []ec2types.Tag {
	t := []ec2types.Tag{{Key: aws.String(cluster.TagCluster), Value: aws.String(clusterName)}}
	if node != "" {
		t = append(t, ec2types.Tag{Key: aws.String(cluster.TagNodeID), Value: aws.String(node)},
			ec2types.Tag{Key: aws.String("Name"), Value: aws.String(clusterName + "-" + node)})
	}
	return t
}

func tagSpec(resource, clusterName, node string) []ec2types.TagSpecification {
	return []ec2types.TagSpecification{{ResourceType: ec2types.ResourceType(resource), Tags: ec2NodeTags(clusterName, node)}}
}
