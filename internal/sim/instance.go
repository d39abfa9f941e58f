package sim

import (
	"context"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

var stateCodes = map[string]int32{ec2Pending: 0, ec2Running: 16, ec2ShuttingDown: 32, ec2Terminated: 48}

func (e *Engine) instanceOut(w *world, i *instance) ec2types.Instance {
	out := ec2types.Instance{InstanceId: aws.String(i.ID), ImageId: aws.String(i.ImageID), InstanceType: ec2types.InstanceType(i.Type),
		State:      &ec2types.InstanceState{Code: aws.Int32(stateCodes[i.State]), Name: ec2types.InstanceStateName(i.State)},
		LaunchTime: aws.Time(i.LaunchTime), Placement: &ec2types.Placement{AvailabilityZone: aws.String(i.AZ), Tenancy: ec2types.TenancyDefault},
		Tags: ec2Tags(i.Tags), Architecture: ec2types.ArchitectureValuesX8664, RootDeviceType: ec2types.DeviceTypeEbs,
		RootDeviceName: aws.String("/dev/xvda"), VirtualizationType: ec2types.VirtualizationTypeHvm, Hypervisor: ec2types.HypervisorTypeXen,
		AmiLaunchIndex: aws.Int32(0), EbsOptimized: aws.Bool(false), StateTransitionReason: aws.String(""),
		Monitoring: &ec2types.Monitoring{State: ec2types.MonitoringStateDisabled}}
	if i.KeyName != "" {
		out.KeyName = aws.String(i.KeyName)
	}
	if i.State == ec2Terminated || i.State == ec2ShuttingDown {
		out.StateTransitionReason = aws.String(i.StateReason)
		out.StateReason = &ec2types.StateReason{Code: aws.String("Client.UserInitiatedShutdown"), Message: aws.String("Client.UserInitiatedShutdown: User initiated shutdown")}
	}
	if i.State != ec2Terminated {
		out.SubnetId, out.VpcId = aws.String(i.SubnetID), aws.String(i.VpcID)
		if i.IP != "" {
			out.PrivateIpAddress = aws.String(i.IP)
		}
		if n := w.enis[i.ENI]; n != nil && n.InstanceID == i.ID {
			out.NetworkInterfaces = []ec2types.InstanceNetworkInterface{{NetworkInterfaceId: aws.String(n.ID), SubnetId: aws.String(n.SubnetID),
				VpcId: aws.String(n.VpcID), PrivateIpAddress: aws.String(n.IP), MacAddress: aws.String(n.MAC), Status: ec2types.NetworkInterfaceStatusInUse,
				PrivateIpAddresses: []ec2types.InstancePrivateIpAddress{{PrivateIpAddress: aws.String(n.IP), Primary: aws.Bool(true)}},
				Attachment: &ec2types.InstanceNetworkInterfaceAttachment{AttachmentId: aws.String(n.AttachmentID), DeviceIndex: aws.Int32(0),
					Status: ec2types.AttachmentStatusAttached, AttachTime: aws.Time(n.AttachTime), DeleteOnTermination: aws.Bool(false)}}}
		}
		for _, v := range sortedValues(w.volumes) {
			if v.Att != nil && v.Att.InstanceID == i.ID {
				out.BlockDeviceMappings = append(out.BlockDeviceMappings, ec2types.InstanceBlockDeviceMapping{DeviceName: aws.String(v.Att.Device),
					Ebs: &ec2types.EbsInstanceBlockDevice{VolumeId: aws.String(v.ID), Status: ec2types.AttachmentStatus(v.Att.State),
						AttachTime: aws.Time(v.Att.AttachTime), DeleteOnTermination: aws.Bool(false)}})
			}
		}
	}
	out.MetadataOptions = &ec2types.InstanceMetadataOptionsResponse{HttpTokens: ec2types.HttpTokensStateRequired,
		HttpPutResponseHopLimit: aws.Int32(i.HopLimit), HttpEndpoint: ec2types.InstanceMetadataEndpointStateEnabled,
		State: ec2types.InstanceMetadataOptionsStateApplied}
	return out
}

func (a *EC2API) DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	return run(ctx, a.e, ServiceEC2, "DescribeInstances", in, func(in *ec2.DescribeInstancesInput) (*ec2.DescribeInstancesOutput, error) {
		e := a.e
		w := e.readWorld()
		size, err := pageSize(in.InstanceIds, in.MaxResults, 5, 1000)
		if err != nil {
			return nil, err
		}
		for _, id := range in.InstanceIds {
			if w.instances[id] == nil {
				return nil, apiErr("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
			}
		}
		fs := ec2Filters(in.Filters)
		var out []ec2types.Reservation
		for _, id := range w.order {
			i := w.instances[id]
			if len(in.InstanceIds) > 0 && !slices.Contains(in.InstanceIds, id) {
				continue
			}
			ok, ferr := fs.match(func(name string) ([]string, bool) {
				switch name {
				case "instance-id":
					return []string{i.ID}, true
				case "instance-state-name":
					return []string{i.State}, true
				case "availability-zone":
					return []string{i.AZ}, true
				case "private-ip-address":
					return []string{i.IP}, true
				case "network-interface.network-interface-id":
					return []string{i.ENI}, true
				case "subnet-id":
					return []string{i.SubnetID}, true
				}
				return tagFilter(name, i.Tags)
			})
			if ferr != nil {
				return nil, ferr
			}
			if ok {
				out = append(out, ec2types.Reservation{ReservationId: aws.String("r-" + i.ID[2:]), OwnerId: aws.String(e.cfg.Account),
					Instances: []ec2types.Instance{e.instanceOut(w, i)}})
			}
		}
		items, next, perr := page(out, in.NextToken, size)
		if perr != nil {
			return nil, perr
		}
		return &ec2.DescribeInstancesOutput{Reservations: items, NextToken: next}, nil
	})
}

func (a *EC2API) TerminateInstances(ctx context.Context, in *ec2.TerminateInstancesInput, _ ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error) {
	return run(ctx, a.e, ServiceEC2, "TerminateInstances", in, func(in *ec2.TerminateInstancesInput) (*ec2.TerminateInstancesOutput, error) {
		e := a.e
		for _, id := range in.InstanceIds {
			if e.w.instances[id] == nil {
				return nil, apiErr("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
			}
		}
		out := &ec2.TerminateInstancesOutput{}
		for _, id := range in.InstanceIds {
			i := e.w.instances[id]
			prev := i.State
			if i.State == ec2Pending || i.State == ec2Running {
				e.shutdown(i, "User initiated")
			}
			out.TerminatingInstances = append(out.TerminatingInstances, ec2types.InstanceStateChange{InstanceId: aws.String(id),
				PreviousState: &ec2types.InstanceState{Code: aws.Int32(stateCodes[prev]), Name: ec2types.InstanceStateName(prev)},
				CurrentState:  &ec2types.InstanceState{Code: aws.Int32(stateCodes[i.State]), Name: ec2types.InstanceStateName(i.State)}})
		}
		return out, nil
	})
}
