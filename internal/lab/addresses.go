package lab

import (
	"fmt"
	"net/netip"
	"strings"
)

// privateRanges are on the lab's bridge, as on-link routes inside the
// lab's namespaces only (the control plane's and every instance's): nodes
// keep the configuration's own private addresses, in any of these ranges,
// and reach each other, the simulator's endpoint and the probe, whatever
// their subnets. The host's own network namespace gets none of them.
var privateRanges = []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"}

// nodeAddr is the address an instance's eth0 takes: inside the lab's own
// network with its netmask, as before; any other private address alone
// (/32), its peers reached through privateRanges' on-link routes.
func nodeAddr(ip string) string {
	if a, err := netip.ParseAddr(ip); err == nil && labNetwork.Contains(a) {
		return fmt.Sprintf("%s/%d", ip, labNetmask)
	}
	return ip + "/32"
}

// labOwn are the lab's own addresses, which no node may take: the control
// plane's /20 (the simulator's endpoint, 10.0.255.254) and the link-local
// range of IMDS.
var labOwn = []netip.Prefix{netip.MustParsePrefix("10.0.240.0/20"), netip.MustParsePrefix("169.254.0.0/16")}

// checkNodeIP accepts any private address (RFC 1918) that is none of the
// lab's own: the nodes live on the lab's bridge, inside its namespaces, so
// a configuration keeps its own addresses (172.31.x.x, 192.168.x.x, ...).
func checkNodeIP(ip netip.Addr) error {
	for _, own := range labOwn {
		if own.Contains(ip) {
			return fmt.Errorf("node_ip %s overlaps the lab's own addresses %s (its control plane and the simulator's endpoint): give the nodes other addresses (with -var)", ip, own)
		}
	}
	if !ip.Is4() || !ip.IsPrivate() {
		return fmt.Errorf("node_ip %s is not a private IPv4 address: the lab runs nodes on private addresses only (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)", ip)
	}
	return nil
}

// vpcRange is the VPC that holds every subnet: the smallest prefix
// covering them, at most a /16 (AWS's largest VPC range); subnets no /16
// holds cannot share one VPC, as in AWS.
func vpcRange(subs []Subnet) (netip.Prefix, error) {
	if len(subs) == 0 {
		return labNetwork, nil
	}
	p := subs[0].CIDR.Masked()
	for _, s := range subs[1:] {
		for !p.Contains(s.CIDR.Addr()) || p.Bits() > s.CIDR.Bits() {
			p = netip.PrefixFrom(p.Addr(), p.Bits()-1).Masked()
		}
	}
	if p.Bits() > 16 {
		p = netip.PrefixFrom(p.Addr(), 16).Masked()
	}
	if p.Bits() < 16 {
		var ranges []string
		for _, s := range subs {
			ranges = append(ranges, s.ID+" "+s.CIDR.String())
		}
		return netip.Prefix{}, fmt.Errorf("the configuration's subnets (%s) lie in no one /16, so no VPC holds them all (a VPC's range is a /16 at most): give the nodes addresses in one /16", strings.Join(ranges, ", "))
	}
	return p, nil
}
