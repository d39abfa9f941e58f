// Package plancheck reads a Terraform plan (the JSON of `terraform show
// -json PLAN`) and finds the changes that would lose a node's data or
// identity, or take several nodes down at once.
package plancheck

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Plan is the part of Terraform's plan JSON we read.
type Plan struct {
	FormatVersion   string           `json:"format_version"`
	ResourceChanges []ResourceChange `json:"resource_changes"`
}

// ResourceChange is one planned change.
type ResourceChange struct {
	Address       string `json:"address"`
	ModuleAddress string `json:"module_address"`
	Mode          string `json:"mode"`
	Type          string `json:"type"`
	Name          string `json:"name"`
	Change        struct {
		Actions []string `json:"actions"`
	} `json:"change"`
	ActionReason string `json:"action_reason"`
}

// Parse reads plan JSON.
func Parse(r io.Reader) (*Plan, error) {
	var p Plan
	dec := json.NewDecoder(r)
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("reading plan JSON (the output of terraform show -json PLANFILE): %w", err)
	}
	if p.FormatVersion == "" {
		return nil, fmt.Errorf("reading plan JSON: no format_version; is this the output of terraform show -json PLANFILE?")
	}
	if !strings.HasPrefix(p.FormatVersion, "1.") {
		return nil, fmt.Errorf("reading plan JSON: format_version %s is not supported (1.x is)", p.FormatVersion)
	}
	return &p, nil
}

// Allow lists the deliberate cases a user may let through.
type Allow struct {
	VolumeLoss        bool // deleting or replacing data volumes
	ENIReplacement    bool // deleting or replacing node ENIs (new IPs)
	MultiNodeReplaces bool // replacing the groups of several nodes at once
}

// Rule names a refusal.
type Rule string

const (
	RuleVolume    Rule = "data-volume"
	RuleENI       Rule = "node-eni"
	RuleMultiNode Rule = "multi-node-replacement"
)

// Finding is one refused change.
type Finding struct {
	Rule      Rule     `json:"rule"`
	Addresses []string `json:"addresses"`
	Message   string   `json:"message"`
	Flag      string   `json:"allow_flag"` // the --allow flag that lets it through
}

var nodeModule = regexp.MustCompile(`module\.cluster_nodes\["([^"]+)"\]`)

// nodeOf returns the node id of a change inside the module's per-node
// submodule.
func nodeOf(rc ResourceChange) (string, bool) {
	m := nodeModule.FindStringSubmatch(rc.ModuleAddress)
	if m == nil {
		m = nodeModule.FindStringSubmatch(rc.Address)
	}
	if m == nil {
		return "", false
	}
	return m[1], true
}

func destroys(rc ResourceChange) bool { return slices.Contains(rc.Change.Actions, "delete") }

func replaces(rc ResourceChange) bool {
	return slices.Contains(rc.Change.Actions, "delete") && slices.Contains(rc.Change.Actions, "create")
}

// Check returns the refused changes of a plan, given what is allowed.
func Check(p *Plan, allow Allow) []Finding {
	var volumes, enis []string
	groupsByNode := map[string][]string{}
	for _, rc := range p.ResourceChanges {
		if rc.Mode != "" && rc.Mode != "managed" {
			continue
		}
		node, ok := nodeOf(rc)
		if !ok || !destroys(rc) {
			continue
		}
		switch rc.Type {
		case "aws_ebs_volume":
			volumes = append(volumes, rc.Address)
		case "aws_network_interface":
			enis = append(enis, rc.Address)
		case "aws_autoscaling_group":
			if replaces(rc) {
				groupsByNode[node] = append(groupsByNode[node], rc.Address)
			}
		}
	}
	var out []Finding
	if len(volumes) > 0 && !allow.VolumeLoss {
		out = append(out, Finding{Rule: RuleVolume, Addresses: volumes, Flag: "--allow-volume-loss",
			Message: fmt.Sprintf("the plan deletes or replaces %d data volume(s): their data would be lost (a final snapshot is taken only if enabled)", len(volumes))})
	}
	if len(enis) > 0 && !allow.ENIReplacement {
		out = append(out, Finding{Rule: RuleENI, Addresses: enis, Flag: "--allow-eni-replacement",
			Message: fmt.Sprintf("the plan deletes or replaces %d node network interface(s): those nodes would lose their identity (fixed IP) and leave the cluster", len(enis))})
	}
	if len(groupsByNode) > 1 && !allow.MultiNodeReplaces {
		var addrs []string
		for _, a := range groupsByNode {
			addrs = append(addrs, a...)
		}
		sort.Strings(addrs)
		out = append(out, Finding{Rule: RuleMultiNode, Addresses: addrs, Flag: "--allow-multi-node-replacement",
			Message: fmt.Sprintf("the plan replaces the Auto Scaling groups of %d nodes at once: Terraform would take them down together, below quorum for most clusters", len(groupsByNode))})
	}
	return out
}
