package sim

import (
	"context"
	"net/netip"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// DescribeSubnets lists subnets by ID and filters (subnet-id, vpc-id,
// availability-zone, cidr-block, state and tags), with the free address
// count an operator checks first when launches fail: the subnet's size
// less AWS's 5 reserved addresses and every ENI in it.
func (a *EC2API) DescribeSubnets(ctx context.Context, in *ec2.DescribeSubnetsInput, _ ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error) {
	return run(ctx, a.e, ServiceEC2, "DescribeSubnets", in, func(in *ec2.DescribeSubnetsInput) (*ec2.DescribeSubnetsOutput, error) {
		e := a.e
		w := e.readWorld()
		size, err := pageSize(in.SubnetIds, in.MaxResults, 5, 1000)
		if err != nil {
			return nil, err
		}
		for _, id := range in.SubnetIds {
			if w.subnets[id] == nil {
				return nil, apiErr("InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", id)
			}
		}
		used := map[string]int32{}
		for _, n := range w.enis {
			used[n.SubnetID]++
		}
		fs := ec2Filters(in.Filters)
		var out []ec2types.Subnet
		for _, id := range sortedKeys(w.subnets) {
			s := w.subnets[id]
			if len(in.SubnetIds) > 0 && !slices.Contains(in.SubnetIds, id) {
				continue
			}
			ok, ferr := fs.match(func(name string) ([]string, bool) {
				switch name {
				case "subnet-id":
					return []string{s.ID}, true
				case "vpc-id":
					return []string{s.VpcID}, true
				case "availability-zone":
					return []string{s.AZ}, true
				case "cidr-block", "cidr":
					return []string{s.CIDR}, true
				case "state":
					return []string{"available"}, true
				}
				return tagFilter(name, s.Tags)
			})
			if ferr != nil {
				return nil, ferr
			}
			if !ok {
				continue
			}
			p, _ := netip.ParsePrefix(s.CIDR)
			free := int32(1<<(32-p.Bits())) - 5 - used[s.ID]
			out = append(out, ec2types.Subnet{SubnetId: aws.String(s.ID), VpcId: aws.String(s.VpcID), AvailabilityZone: aws.String(s.AZ),
				AvailabilityZoneId: aws.String(azID(s.AZ)), CidrBlock: aws.String(s.CIDR), State: ec2types.SubnetStateAvailable,
				AvailableIpAddressCount: aws.Int32(free), Tags: ec2Tags(s.Tags), OwnerId: aws.String(e.cfg.Account),
				DefaultForAz: aws.Bool(false), MapPublicIpOnLaunch: aws.Bool(false)})
		}
		items, next, perr := page(out, in.NextToken, size)
		if perr != nil {
			return nil, perr
		}
		return &ec2.DescribeSubnetsOutput{Subnets: items, NextToken: next}, nil
	})
}
