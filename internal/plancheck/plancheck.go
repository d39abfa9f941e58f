// Package plancheck reads a Terraform plan (the JSON of `terraform show
// -json PLAN`) and finds the changes that would lose a node's data or
// identity, or take several nodes down at once.
package plancheck

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// Plan is the part of Terraform's plan JSON we read.
type Plan struct {
	FormatVersion   string
	ResourceChanges []ResourceChange
}

// ResourceChange is one planned change, with the few attributes of its
// before and after states that tell how a node is affected.
type ResourceChange struct {
	Address         string `json:"address"`
	PreviousAddress string `json:"previous_address"`
	ModuleAddress   string `json:"module_address"`
	Mode            string `json:"mode"`
	Type            string `json:"type"`
	Name            string `json:"name"`
	Change          struct {
		Actions      []string `json:"actions"`
		Before       *Attrs   `json:"before"`
		After        *Attrs   `json:"after"`
		ReplacePaths [][]any  `json:"replace_paths"`
	} `json:"change"`
	ActionReason string `json:"action_reason"`
}

// Attrs are the attributes of a node's resources that plan-check compares.
type Attrs struct {
	Size             *float64 `json:"size"`              // aws_ebs_volume, GiB
	AvailabilityZone *string  `json:"availability_zone"` // aws_ebs_volume
	KMSKeyID         *string  `json:"kms_key_id"`        // aws_ebs_volume
	PrivateIPs       []string `json:"private_ips"`       // aws_network_interface
}

// Allow lists the deliberate cases a user may let through.
type Allow struct {
	VolumeLoss        bool // deleting or replacing data volumes
	VolumeShrink      bool // shrinking data volumes (AWS refuses: the apply fails half-way)
	ENIReplacement    bool // deleting or replacing node ENIs, or changing their IPs
	MultiNodeReplaces bool // deleting or replacing the groups of several nodes at once
}

// Rule names a refusal.
type Rule string

const (
	RuleVolume       Rule = "data-volume"
	RuleVolumeShrink Rule = "data-volume-shrink"
	RuleENI          Rule = "node-eni"
	RuleMultiNode    Rule = "multi-node-replacement"
)

// Finding is one refused change.
type Finding struct {
	Rule      Rule     `json:"rule"`
	Addresses []string `json:"addresses"`
	Message   string   `json:"message"`
	Flag      string   `json:"allow_flag"` // the --allow flag that lets it through
}

// The module's per-node submodule: its instances are the nodes. The node is
// identified by the whole module path up to it, so that two clusters in one
// configuration (module.kafka and module.zookeeper, both with node "00")
// are told apart.
const nodeModule = `module.cluster_nodes["`

// nodeOf returns the module path of the node a change belongs to
// (`module.kafka.module.cluster_nodes["00"]`) and its id ("00").
func nodeOf(rc ResourceChange) (path, id string, ok bool) {
	addr := rc.ModuleAddress
	if addr == "" {
		addr = rc.Address
	}
	i := strings.LastIndex(addr, nodeModule)
	if i < 0 {
		return "", "", false
	}
	rest := addr[i+len(nodeModule):]
	j := strings.Index(rest, `"]`)
	if j < 0 {
		return "", "", false
	}
	return addr[:i+len(nodeModule)+j+2], rest[:j], true
}

// deletes is true for every action that ends the resource's object: a delete
// alone (the resource left the configuration, or moved to an address it
// does not share), or either order of a replacement.
func deletes(rc ResourceChange) bool { return slices.Contains(rc.Change.Actions, "delete") }

func updates(rc ResourceChange) bool { return slices.Equal(rc.Change.Actions, []string{"update"}) }

// why says what forces a replacement, from the plan's replace_paths.
func why(rc ResourceChange) string {
	if !slices.Contains(rc.Change.Actions, "create") {
		return "deleted"
	}
	var paths []string
	for _, p := range rc.Change.ReplacePaths {
		var parts []string
		for _, s := range p {
			parts = append(parts, fmt.Sprint(s))
		}
		paths = append(paths, strings.Join(parts, "."))
	}
	if len(paths) == 0 {
		return "replaced"
	}
	return "replaced: " + strings.Join(paths, ", ") + " changes"
}

// Check returns the refused changes of a plan, given what is allowed.
func Check(p *Plan, allow Allow) []Finding {
	var volumes, volumeWhy, shrunk, shrinks, enis, eniWhy []string
	groupsByNode := map[string][]string{}
	nodeIDs := map[string]string{}
	for _, rc := range p.ResourceChanges {
		if rc.Mode != "" && rc.Mode != "managed" {
			continue
		}
		node, id, ok := nodeOf(rc)
		if !ok {
			continue
		}
		nodeIDs[node] = id
		before, after := rc.Change.Before, rc.Change.After
		switch rc.Type {
		case "aws_ebs_volume":
			switch {
			case deletes(rc):
				volumes = append(volumes, rc.Address)
				volumeWhy = append(volumeWhy, fmt.Sprintf("node %s's volume %s", id, why(rc)))
			case updates(rc) && before != nil && after != nil && before.Size != nil && after.Size != nil && *after.Size < *before.Size:
				shrunk = append(shrunk, rc.Address)
				shrinks = append(shrinks, fmt.Sprintf("node %s from %g to %g GiB", id, *before.Size, *after.Size))
			}
		case "aws_network_interface":
			switch {
			case deletes(rc):
				enis = append(enis, rc.Address)
				eniWhy = append(eniWhy, fmt.Sprintf("node %s's ENI %s", id, why(rc)))
			case updates(rc) && before != nil && after != nil && after.PrivateIPs != nil && !sameSet(before.PrivateIPs, after.PrivateIPs):
				enis = append(enis, rc.Address)
				eniWhy = append(eniWhy, fmt.Sprintf("node %s's IP changes from %s to %s", id, strings.Join(before.PrivateIPs, ","), strings.Join(after.PrivateIPs, ",")))
			}
		case "aws_autoscaling_group":
			if deletes(rc) {
				groupsByNode[node] = append(groupsByNode[node], rc.Address)
			}
		}
	}
	var out []Finding
	if len(volumes) > 0 && !allow.VolumeLoss {
		out = append(out, Finding{Rule: RuleVolume, Addresses: volumes, Flag: "--allow-volume-loss",
			Message: fmt.Sprintf("the plan deletes %d data volume(s) (%s): their data would be lost (a final snapshot is taken only if enabled), and a volume created elsewhere starts blank",
				len(volumes), strings.Join(volumeWhy, "; "))})
	}
	if len(shrunk) > 0 && !allow.VolumeShrink {
		out = append(out, Finding{Rule: RuleVolumeShrink, Addresses: shrunk, Flag: "--allow-volume-shrink",
			Message: fmt.Sprintf("the plan shrinks %d data volume(s) (%s): AWS cannot shrink an EBS volume, so the apply would fail half-way with other changes already made; keep each node's size (node_data_disk overrides it per node)",
				len(shrunk), strings.Join(shrinks, "; "))})
	}
	if len(enis) > 0 && !allow.ENIReplacement {
		out = append(out, Finding{Rule: RuleENI, Addresses: enis, Flag: "--allow-eni-replacement",
			Message: fmt.Sprintf("the plan changes the identity of %d node(s) (%s): they would lose their fixed IP and leave the cluster",
				len(enis), strings.Join(eniWhy, "; "))})
	}
	// Per cluster (one instance of the module), the nodes whose groups go.
	byCluster := map[string][]string{}
	for node := range groupsByNode {
		c := strings.TrimSuffix(node[:strings.LastIndex(node, nodeModule)], ".")
		byCluster[c] = append(byCluster[c], node)
	}
	if !allow.MultiNodeReplaces {
		for _, c := range slices.Sorted(maps.Keys(byCluster)) {
			nodes := byCluster[c]
			if len(nodes) < 2 {
				continue
			}
			var addrs, ids []string
			for _, node := range nodes {
				addrs = append(addrs, groupsByNode[node]...)
				ids = append(ids, nodeIDs[node])
			}
			sort.Strings(addrs)
			sort.Strings(ids)
			out = append(out, Finding{Rule: RuleMultiNode, Addresses: addrs, Flag: "--allow-multi-node-replacement",
				Message: fmt.Sprintf("the plan deletes or replaces the Auto Scaling groups of %d nodes of one cluster at once (%s): Terraform would terminate their instances together, below quorum for most clusters; a group deleted at one address and created at another is a replacement too (a moved block keeps it)",
					len(nodes), strings.Join(ids, ", "))})
		}
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
