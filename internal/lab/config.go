package lab

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/gocty"

	"github.com/stateful-aws/stateful/internal/cluster"
	"github.com/stateful-aws/stateful/internal/tfeval"
)

// Source is the Terraform configuration a lab runs: a directory with a
// module block calling this module, as the repository's examples have, and its
// variable values.
type Source struct {
	Dir      string
	Vars     []string // -var NAME=VALUE
	VarFiles []string // -var-file
	// ModuleDir is the module a remote source (git::..., the registry)
	// stands for: the one this binary ships with.
	ModuleDir string
}

// Cluster is what the lab runs, as the module would create it: every value
// comes from evaluating the configuration and the module's own HCL.
type Cluster struct {
	Name      string // the stateful:cluster tag
	ModuleDir string // the module the block calls: its release.tf pins the agent
	Nodes     []Node
	Subnets   []Subnet
	// VPC is the lab VPC's range: the smallest /16 (or narrower) holding
	// every subnet.
	VPC netip.Prefix
	// Mapped lists, once, what has no meaning on one machine and what the
	// lab gives instead.
	Mapped []string
}

// Node is one node as the module's node module receives it.
type Node struct {
	ID, IP, Group, Subnet string
	UserData              string // what the launch template carries, before base64
	LaunchHook, DrainHook string // DrainHook "" without drain_on_termination
	HookTimeout           int32  // seconds, the launch hook's heartbeat timeout
	DrainTimeout          int32
	VolumeGiB             int32
	VolumeType            string
	FileSystem            string // the data volume's
	AZ                    string // the lab's zone of the node's subnet
}

// Subnet is a subnet of the configuration mapped to one of the lab's.
type Subnet struct {
	ID, AZ string
	CIDR   netip.Prefix
}

// The lab's own stand-ins for what has no meaning on one machine; the
// module's validations accept them.
const (
	labRegion    = "us-east-1"
	labAccount   = "000000000000"
	labImage     = "ami-0000000000000001a"
	labInstance  = "t3.micro"
	labGroup     = "sg-00000000000000001"
	nodeCallName = "cluster_nodes" // the module's per-node call: module.cluster_nodes["<node_id>"]
)

// labNetwork is where the lab puts subnets the configuration leaves
// open (read by id, no node address fixing them), a /20 each.
var labNetwork = netip.MustParsePrefix("10.0.0.0/16")

// ownArguments are the module's inputs the lab replaces with its own and
// never evaluates: they name things of an AWS account (or, for roll, the
// roll trigger, which the lab's roll replaces).
var ownArguments = map[string]string{
	"node_image":      "the lab's image (the host's root, as an overlay)",
	"instance_type":   "a network namespace per instance",
	"security_groups": "one bridge, every port open",
	"node_key_name":   "none (the lab has no SSH)",
	"kms_key_id":      "none (loop devices)",
	"agent":           "the pinned release, served by the lab (agent.base_url)",
	"roll":            "the lab's roll: stateful roll's code",
}

// Evaluate evaluates a configuration's module block and, with its
// arguments, the module's own locals and node-module arguments: the user
// data of every node is the module's templatefile, evaluated.
func Evaluate(src Source, baseURL string) (*Cluster, error) {
	if err := trustedDir(src.Dir); err != nil {
		return nil, err
	}
	user, err := tfeval.Load(src.Dir)
	if err != nil {
		return nil, fmt.Errorf("reading the configuration in %s: %w", src.Dir, err)
	}
	inputs, err := tfeval.Inputs(user, src.VarFiles, src.Vars)
	if err != nil {
		return nil, err
	}
	net := &subnets{byID: map[string]*Subnet{}}
	ds := net.dataSources()
	userScope, err := tfeval.NewScope(user, src.Dir, inputs, ds)
	if err != nil {
		return nil, err
	}
	call, modDir, err := moduleCall(user, src)
	if err != nil {
		return nil, err
	}
	if call.Count != nil || call.ForEach != nil {
		return nil, fmt.Errorf("%s: module %s has count or for_each: the lab runs one cluster, so give it one module block without them", rangeOf(call), call.Name)
	}
	c := &Cluster{ModuleDir: modDir}
	args := map[string]cty.Value{
		"node_image": cty.StringVal(labImage), "instance_type": cty.StringVal(labInstance),
		"security_groups": cty.ListVal([]cty.Value{cty.StringVal(labGroup)}),
		"agent":           cty.ObjectVal(map[string]cty.Value{"base_url": cty.StringVal(baseURL)}),
	}
	one := tfeval.Instance{Extra: map[string]cty.Value{}}
	for _, name := range sortedNames(call.Args) {
		if own, ok := ownArguments[name]; ok {
			c.Mapped = append(c.Mapped, fmt.Sprintf("%s: %s", name, own))
			continue
		}
		v, _, err := userScope.Arg(call, one, name)
		if err != nil {
			return nil, err
		}
		args[name] = v
	}
	mod, err := tfeval.Load(modDir)
	if err != nil {
		return nil, fmt.Errorf("reading the module %s calls (%s): %w", call.Name, modDir, err)
	}
	modScope, err := tfeval.NewScope(mod, src.Dir, args, ds)
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", call.Name, err)
	}
	if err := net.place(modScope); err != nil {
		return nil, err
	}
	if err := modScope.CheckData(); err != nil {
		return nil, fmt.Errorf("module %s: %w", call.Name, err)
	}
	if err := c.nodes(modScope, net); err != nil {
		return nil, fmt.Errorf("module %s: %w", call.Name, err)
	}
	for _, s := range net.order {
		c.Subnets = append(c.Subnets, *s)
		c.Mapped = append(c.Mapped, fmt.Sprintf("subnet %s: the lab's %s in %s", s.ID, s.CIDR, s.AZ))
	}
	if c.VPC, err = vpcRange(c.Subnets); err != nil {
		return nil, err
	}
	c.Mapped = append(c.Mapped, "region: "+labRegion, "data volumes: loop devices (their size in GiB stays what the simulator reports)")
	return c, nil
}

func rangeOf(c *tfeval.Call) string {
	return fmt.Sprintf("%s:%d", c.Range.Filename, c.Range.Start.Line)
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// moduleCall finds the one module block calling this module: a local
// source holding the module's user-data template, or a remote source of
// the stateful repository (the module this binary ships with stands for
// it).
func moduleCall(m *tfeval.Module, src Source) (*tfeval.Call, string, error) {
	var found []*tfeval.Call
	dirs := map[string]string{}
	for _, name := range sortedNames(m.Calls) {
		c := m.Calls[name]
		if dir, local := m.CallDir(c); local {
			if _, err := os.Stat(filepath.Join(dir, "templates", "user_data.sh.tftpl")); err == nil {
				found, dirs[name] = append(found, c), dir
			}
		} else if strings.Contains(c.Source, "stateful-aws/stateful") {
			found, dirs[name] = append(found, c), src.ModuleDir
		}
	}
	switch len(found) {
	case 1:
		return found[0], dirs[found[0].Name], nil
	case 0:
		return nil, "", fmt.Errorf("%s has no module block calling the stateful module (source = \"../..\", a path to it, or git::https://github.com/stateful-aws/stateful.git?ref=...)", m.Dir)
	}
	return nil, "", fmt.Errorf("%s has %d module blocks calling the stateful module (%s and %s): the lab runs one cluster", m.Dir, len(found), found[0].Name, found[1].Name)
}

// nodes evaluates the module's per-node module call for every node.
func (c *Cluster) nodes(s *tfeval.Scope, net *subnets) error {
	call, ok := s.Module().Calls[nodeCallName]
	if !ok {
		return fmt.Errorf("the module in %s has no module %q: it is not the stateful module this lab knows", s.Module().Dir, nodeCallName)
	}
	insts, err := s.CallInstances(call)
	if err != nil {
		return err
	}
	for _, in := range insts {
		var n Node
		var tags map[string]string
		var drain bool
		fields := []struct {
			arg string
			to  any
		}{
			{"node_id", &n.ID}, {"node_ip", &n.IP}, {"name", &n.Group}, {"subnet_id", &n.Subnet}, {"user_data", &n.UserData},
			{"launch_hook_name", &n.LaunchHook}, {"drain_hook_name", &n.DrainHook}, {"drain_hook_timeout", &n.DrainTimeout},
			{"hook_heartbeat_timeout", &n.HookTimeout}, {"drain_on_termination", &drain}, {"tags", &tags},
		}
		for _, f := range fields {
			v, set, err := s.Arg(call, in, f.arg)
			if err != nil {
				return err
			}
			if !set {
				return fmt.Errorf("%s: module %s does not set %s", rangeOf(call), nodeCallName, f.arg)
			}
			if err := fromCty(v, f.to); err != nil {
				return fmt.Errorf("%s: module %s's %s: %w", rangeOf(call), nodeCallName, f.arg, err)
			}
		}
		v, _, err := s.Arg(call, in, "data_volume")
		if err != nil {
			return err
		}
		size, err := attr(v, "size_in_gibs")
		if err != nil {
			return err
		}
		if err := gocty.FromCtyValue(size, &n.VolumeGiB); err != nil {
			return fmt.Errorf("node %s's data volume size: %w", n.ID, err)
		}
		typ, err := attr(v, "type")
		if err != nil {
			return err
		}
		n.VolumeType = typ.AsString()
		fs, err := attr(v, "file_system_type")
		if err != nil {
			return err
		}
		n.FileSystem = fs.AsString()
		if !drain {
			n.DrainHook = ""
		}
		name := tags[cluster.TagCluster]
		if c.Name != "" && name != c.Name || name == "" {
			return fmt.Errorf("node %s's tags give cluster %q, not %q", n.ID, name, c.Name)
		}
		c.Name = name
		sub, ok := net.byID[n.Subnet]
		if !ok {
			return fmt.Errorf("node %s's subnet %s was never read", n.ID, n.Subnet)
		}
		n.AZ = sub.AZ
		c.Nodes = append(c.Nodes, n)
	}
	if len(c.Nodes) == 0 {
		return errors.New("the cluster has no nodes")
	}
	sort.Slice(c.Nodes, func(i, j int) bool { return c.Nodes[i].ID < c.Nodes[j].ID })
	return nil
}

// fromCty converts a value as Terraform converts a module argument to its
// variable's type, into a Go value.
func fromCty(v cty.Value, to any) error {
	ty, err := gocty.ImpliedType(to)
	if err != nil {
		return err
	}
	if v, err = convert.Convert(v, ty); err != nil {
		return err
	}
	return gocty.FromCtyValue(v, to)
}

func attr(v cty.Value, name string) (cty.Value, error) {
	if v.IsNull() || !v.Type().IsObjectType() || !v.Type().HasAttribute(name) {
		return cty.NilVal, fmt.Errorf("the node module's data_volume has no %s", name)
	}
	return v.GetAttr(name), nil
}

// subnets maps the configuration's subnet IDs to the lab's: each subnet ID
// gets its own lab subnet, in the lab's zones round robin.
type subnets struct {
	byID  map[string]*Subnet
	order []*Subnet
}

func (s *subnets) zones() []string {
	return []string{labRegion + "a", labRegion + "b", labRegion + "c"}
}

// add maps a subnet ID: cidr when the nodes' addresses fix it, else the
// next free /20 of the lab's network.
func (s *subnets) add(id string, cidr netip.Prefix) (*Subnet, error) {
	if !cidr.IsValid() {
		for k := 0; k < 15; k++ {
			p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(16 * k), 0}), 20)
			if !s.overlaps(p) {
				cidr = p
				break
			}
		}
		if !cidr.IsValid() {
			return nil, fmt.Errorf("subnet %s: the lab has no free /20 left in %s", id, labNetwork)
		}
	} else if s.overlaps(cidr) {
		return nil, fmt.Errorf("subnet %s: the lab's subnet %s for its nodes overlaps another subnet's: give nodes of different subnets addresses in different /24s", id, cidr)
	}
	sub := &Subnet{ID: id, AZ: s.zones()[len(s.order)%3], CIDR: cidr}
	s.byID[id] = sub
	s.order = append(s.order, sub)
	return sub, nil
}

func (s *subnets) overlaps(p netip.Prefix) bool {
	for _, o := range s.order {
		if o.CIDR.Overlaps(p) {
			return true
		}
	}
	return false
}

// place maps the subnets the module's nodes name and the configuration did
// not read: to the /24 holding the first of their nodes' addresses. Every
// node address must be private and none of the lab's own (checkNodeIP).
func (s *subnets) place(m *tfeval.Scope) error {
	nodes, _ := m.Var("nodes")
	if nodes.IsNull() || !nodes.CanIterateElements() {
		return nil
	}
	for it := nodes.ElementIterator(); it.Next(); {
		_, n := it.Element()
		if !n.Type().IsObjectType() || !n.Type().HasAttribute("node_ip") || !n.Type().HasAttribute("node_subnet_id") {
			continue
		}
		ipv, subv := n.GetAttr("node_ip"), n.GetAttr("node_subnet_id")
		if ipv.IsNull() || subv.IsNull() {
			continue
		}
		ip, err := netip.ParseAddr(ipv.AsString())
		if err != nil {
			continue // the module's validation says so
		}
		if err := checkNodeIP(ip); err != nil {
			return err
		}
		if _, ok := s.byID[subv.AsString()]; !ok {
			p, _ := ip.Prefix(24)
			if _, err := s.add(subv.AsString(), p); err != nil {
				return err
			}
		}
	}
	return nil
}

// dataSources are the data sources the lab answers, from its own AWS.
func (s *subnets) dataSources() tfeval.DataSources {
	str := cty.StringVal
	return tfeval.DataSources{
		"aws_subnet": func(args map[string]cty.Value) (cty.Value, error) {
			id, ok := args["id"]
			if !ok || id.IsNull() || id.Type() != cty.String {
				return cty.NilVal, errors.New("the lab reads an aws_subnet by its id only")
			}
			sub, ok := s.byID[id.AsString()]
			if !ok {
				var err error
				if sub, err = s.add(id.AsString(), netip.Prefix{}); err != nil {
					return cty.NilVal, err
				}
			}
			return cty.ObjectVal(map[string]cty.Value{
				"id": str(sub.ID), "arn": str("arn:aws:ec2:" + labRegion + ":" + labAccount + ":subnet/" + sub.ID),
				"availability_zone": str(sub.AZ), "cidr_block": str(sub.CIDR.String()), "vpc_id": str("vpc-lab"),
				"owner_id": str(labAccount),
			}), nil
		},
		"aws_caller_identity": func(map[string]cty.Value) (cty.Value, error) {
			return cty.ObjectVal(map[string]cty.Value{"account_id": str(labAccount), "arn": str("arn:aws:iam::" + labAccount + ":root"),
				"user_id": str(labAccount), "id": str(labAccount)}), nil
		},
		"aws_region": func(map[string]cty.Value) (cty.Value, error) {
			return cty.ObjectVal(map[string]cty.Value{"name": str(labRegion), "region": str(labRegion), "id": str(labRegion)}), nil
		},
		"aws_partition": func(map[string]cty.Value) (cty.Value, error) {
			return cty.ObjectVal(map[string]cty.Value{"partition": str("aws"), "dns_suffix": str("amazonaws.com"), "id": str("aws")}), nil
		},
	}
}
