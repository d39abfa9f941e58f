package sim

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// EC2API is the engine seen through the EC2 API (awsapi.EC2).
type EC2API struct{ e *Engine }

// EC2 returns the engine's EC2 API.
func (e *Engine) EC2() *EC2API { return &EC2API{e} }

func (a *EC2API) CreateVpc(ctx context.Context, in *ec2.CreateVpcInput, _ ...func(*ec2.Options)) (*ec2.CreateVpcOutput, error) {
	return run(ctx, a.e, ServiceEC2, "CreateVpc", in, func(in *ec2.CreateVpcInput) (*ec2.CreateVpcOutput, error) {
		e := a.e
		if _, err := netip.ParsePrefix(deref(in.CidrBlock)); err != nil {
			return nil, apiErr("InvalidParameterValue", "Value (%s) for parameter cidrBlock is invalid. This is not a valid CIDR block.", deref(in.CidrBlock))
		}
		v := &vpc{ID: e.newID("vpc"), CIDR: *in.CidrBlock, Tags: specTags(in.TagSpecifications, "vpc")}
		e.w.vpcs[v.ID] = v
		return &ec2.CreateVpcOutput{Vpc: &ec2types.Vpc{VpcId: aws.String(v.ID), CidrBlock: aws.String(v.CIDR),
			State: ec2types.VpcStateAvailable, Tags: ec2Tags(v.Tags), OwnerId: aws.String(e.cfg.Account)}}, nil
	})
}

func (a *EC2API) CreateSubnet(ctx context.Context, in *ec2.CreateSubnetInput, _ ...func(*ec2.Options)) (*ec2.CreateSubnetOutput, error) {
	return run(ctx, a.e, ServiceEC2, "CreateSubnet", in, func(in *ec2.CreateSubnetInput) (*ec2.CreateSubnetOutput, error) {
		e := a.e
		v := e.w.vpcs[deref(in.VpcId)]
		if v == nil {
			return nil, apiErr("InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", deref(in.VpcId))
		}
		p, err := netip.ParsePrefix(deref(in.CidrBlock))
		vp, _ := netip.ParsePrefix(v.CIDR)
		if err != nil || !vp.Contains(p.Addr()) || p.Bits() < vp.Bits() {
			return nil, apiErr("InvalidSubnet.Range", "The CIDR '%s' is invalid.", deref(in.CidrBlock))
		}
		az := deref(in.AvailabilityZone)
		if az == "" {
			az = e.cfg.Region + "a"
		}
		s := &subnet{ID: e.newID("subnet"), VpcID: v.ID, AZ: az, CIDR: p.Masked().String(), Tags: specTags(in.TagSpecifications, "subnet")}
		e.w.subnets[s.ID] = s
		return &ec2.CreateSubnetOutput{Subnet: &ec2types.Subnet{SubnetId: aws.String(s.ID), VpcId: aws.String(s.VpcID),
			AvailabilityZone: aws.String(s.AZ), AvailabilityZoneId: aws.String(azID(s.AZ)), CidrBlock: aws.String(s.CIDR), State: ec2types.SubnetStateAvailable,
			AvailableIpAddressCount: aws.Int32(int32(1<<(32-p.Bits())) - 5), Tags: ec2Tags(s.Tags), OwnerId: aws.String(e.cfg.Account)}}, nil
	})
}

// azID names an AZ the way AWS's zone IDs look (us-east-1a -> use1-az1).
func azID(az string) string {
	if len(az) < 2 {
		return az
	}
	parts := strings.Split(az[:len(az)-1], "-")
	short := ""
	for _, p := range parts[:len(parts)-1] {
		short += p[:min(len(p), 2)]
	}
	short += parts[len(parts)-1]
	return fmt.Sprintf("%s-az%d", short, az[len(az)-1]-'a'+1)
}

// nextIP picks the lowest free address of the subnet past the five AWS
// reserves.
func (e *Engine) nextIP(s *subnet) string {
	p, _ := netip.ParsePrefix(s.CIDR)
	used := map[string]bool{}
	for _, n := range e.w.enis {
		used[n.IP] = true
	}
	for _, i := range e.w.instances {
		if i.State != ec2Terminated {
			used[i.IP] = true
		}
	}
	a := p.Addr()
	for range 4 {
		a = a.Next()
	}
	for a = a.Next(); p.Contains(a); a = a.Next() {
		if !used[a.String()] {
			return a.String()
		}
	}
	return ""
}

// pageSize applies EC2's rules: IDs and MaxResults do not mix, MaxResults
// below the minimum is an error, and above the maximum returns at most the
// maximum (AWS documents it for DescribeVolumes: "values above 500 return
// at most 500"; the AWS CLI v1 pages every describe-volumes with
// MaxResults=1000).
func pageSize(ids []string, max *int32, lo, hi int32) (int, *APIError) {
	if max == nil {
		return 1 << 30, nil
	}
	if len(ids) > 0 {
		return 0, apiErr("InvalidParameterCombination", "The parameter ids cannot be used with the parameter maxResults")
	}
	if *max < lo {
		return 0, apiErr("InvalidParameterValue", "Value ( %d ) for parameter maxResults is invalid. Expecting a value greater than %d.", *max, lo-1)
	}
	return int(min(*max, hi)), nil
}

func ec2Filters(in []ec2types.Filter) filterSet {
	var fs filterSet
	for _, f := range in {
		fs = append(fs, struct {
			name   string
			values []string
		}{deref(f.Name), f.Values})
	}
	return fs
}

func specTags(specs []ec2types.TagSpecification, resource string) tags {
	t := tags{}
	for _, s := range specs {
		if string(s.ResourceType) == resource {
			for _, tg := range s.Tags {
				t[deref(tg.Key)] = deref(tg.Value)
			}
		}
	}
	return t
}

func ec2Tags(t tags) []ec2types.Tag {
	var out []ec2types.Tag
	for _, k := range sortedKeys(t) {
		out = append(out, ec2types.Tag{Key: aws.String(k), Value: aws.String(t[k])})
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sortedValues[V any](m map[string]*V) []*V {
	var out []*V
	for _, k := range sortedKeys(m) {
		out = append(out, m[k])
	}
	return out
}
