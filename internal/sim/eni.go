package sim

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func (a *EC2API) CreateNetworkInterface(ctx context.Context, in *ec2.CreateNetworkInterfaceInput, _ ...func(*ec2.Options)) (*ec2.CreateNetworkInterfaceOutput, error) {
	return run(ctx, a.e, ServiceEC2, "CreateNetworkInterface", in, func(in *ec2.CreateNetworkInterfaceInput) (*ec2.CreateNetworkInterfaceOutput, error) {
		e := a.e
		s := e.w.subnets[deref(in.SubnetId)]
		if s == nil {
			return nil, apiErr("InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", deref(in.SubnetId))
		}
		ip := deref(in.PrivateIpAddress)
		if ip == "" {
			ip = e.nextIP(s)
		}
		addr, err := netip.ParseAddr(ip)
		p, _ := netip.ParsePrefix(s.CIDR)
		if err != nil || !p.Contains(addr) {
			return nil, apiErr("InvalidParameterValue", "Address %s does not fall within the subnet's address range", ip)
		}
		for _, n := range e.w.enis {
			if n.IP == ip && n.SubnetID == s.ID {
				return nil, apiErr("InvalidIPAddress.InUse", "The specified address is already in use.")
			}
		}
		n := &eni{ID: e.newID("eni"), SubnetID: s.ID, VpcID: s.VpcID, AZ: s.AZ, IP: ip, Description: deref(in.Description),
			Groups: slices.Clone(in.Groups), Status: "available", Tags: specTags(in.TagSpecifications, "network-interface")}
		b := addr.As4()
		n.MAC = fmt.Sprintf("02:%02x:%02x:%02x:%02x:%02x", e.rng.Intn(256), b[0]^b[1], b[1], b[2], b[3])
		e.w.enis[n.ID] = n
		return &ec2.CreateNetworkInterfaceOutput{NetworkInterface: e.eniOut(n)}, nil
	})
}

func (e *Engine) eniOut(n *eni) *ec2types.NetworkInterface {
	out := &ec2types.NetworkInterface{
		NetworkInterfaceId: aws.String(n.ID), SubnetId: aws.String(n.SubnetID), VpcId: aws.String(n.VpcID),
		AvailabilityZone: aws.String(n.AZ), PrivateIpAddress: aws.String(n.IP), MacAddress: aws.String(n.MAC),
		Description: aws.String(n.Description), Status: ec2types.NetworkInterfaceStatus(n.Status),
		InterfaceType: ec2types.NetworkInterfaceTypeInterface, OwnerId: aws.String(e.cfg.Account),
		SourceDestCheck: aws.Bool(true), RequesterManaged: aws.Bool(false), TagSet: ec2Tags(n.Tags),
		PrivateIpAddresses: []ec2types.NetworkInterfacePrivateIpAddress{{PrivateIpAddress: aws.String(n.IP), Primary: aws.Bool(true)}},
	}
	for _, g := range n.Groups {
		out.Groups = append(out.Groups, ec2types.GroupIdentifier{GroupId: aws.String(g)})
	}
	if n.InstanceID != "" {
		out.Attachment = &ec2types.NetworkInterfaceAttachment{AttachmentId: aws.String(n.AttachmentID), InstanceId: aws.String(n.InstanceID),
			DeviceIndex: aws.Int32(0), Status: ec2types.AttachmentStatusAttached, AttachTime: aws.Time(n.AttachTime),
			DeleteOnTermination: aws.Bool(false), InstanceOwnerId: aws.String(e.cfg.Account)}
	}
	return out
}

func (a *EC2API) DescribeNetworkInterfaces(ctx context.Context, in *ec2.DescribeNetworkInterfacesInput, _ ...func(*ec2.Options)) (*ec2.DescribeNetworkInterfacesOutput, error) {
	return run(ctx, a.e, ServiceEC2, "DescribeNetworkInterfaces", in, func(in *ec2.DescribeNetworkInterfacesInput) (*ec2.DescribeNetworkInterfacesOutput, error) {
		e := a.e
		w := e.readWorld()
		size, err := pageSize(in.NetworkInterfaceIds, in.MaxResults, 5, 1000)
		if err != nil {
			return nil, err
		}
		for _, id := range in.NetworkInterfaceIds {
			if w.enis[id] == nil {
				return nil, apiErr("InvalidNetworkInterfaceID.NotFound", "The networkInterface ID '%s' does not exist", id)
			}
		}
		fs := ec2Filters(in.Filters)
		var out []ec2types.NetworkInterface
		for _, id := range sortedKeys(w.enis) {
			n := w.enis[id]
			if len(in.NetworkInterfaceIds) > 0 && !slices.Contains(in.NetworkInterfaceIds, id) {
				continue
			}
			ok, ferr := fs.match(func(name string) ([]string, bool) {
				switch name {
				case "network-interface-id":
					return []string{n.ID}, true
				case "subnet-id":
					return []string{n.SubnetID}, true
				case "vpc-id":
					return []string{n.VpcID}, true
				case "availability-zone":
					return []string{n.AZ}, true
				case "status":
					return []string{n.Status}, true
				case "private-ip-address", "addresses.private-ip-address":
					return []string{n.IP}, true
				case "attachment.instance-id":
					return []string{n.InstanceID}, true
				}
				return tagFilter(name, n.Tags)
			})
			if ferr != nil {
				return nil, ferr
			}
			if ok {
				out = append(out, *e.eniOut(n))
			}
		}
		items, next, perr := page(out, in.NextToken, size)
		if perr != nil {
			return nil, perr
		}
		return &ec2.DescribeNetworkInterfacesOutput{NetworkInterfaces: items, NextToken: next}, nil
	})
}
