// Package failmark keeps a failed change from spreading: when a roll's
// canary fails its --verify, a replacement's agent abandons its boot, or a
// --pre-check fails after the roll put the change on some nodes, the roll
// leaves a mark on the cluster naming the change (the node, the
// launch-template version and a digest of what it held). The next roll
// that would put that same change on another node refuses, naming the
// mark and the flag that clears it; a new change (another version) or the
// flag proceeds, and a roll that finishes removes the mark.
//
// The mark is the SSM parameter /stateful/<cluster>/failed, beside the
// cluster's lock: `terraform apply` does not manage it, so an apply does
// not delete it (as it deletes any tag it did not set on a group). It is
// written and read by a command holding the cluster's lock, so two
// commands never write it at once; reads that lag (Parameter Store does
// not say how long) could miss a mark written moments before by the
// previous roll, which held the same lock.
package failmark

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/stateful-aws/stateful/internal/cluster"
	"github.com/stateful-aws/stateful/internal/lock"
)

// ClearFlag is the roll's flag that proceeds despite a mark and removes it.
const ClearFlag = "--clear-failure-mark"

// Name is the parameter of a cluster's mark.
func Name(clusterName string) string { return lock.Prefix(clusterName) + "failed" }

// Target is what a node is rolled to: its launch template's version and
// a digest of the version's contents.
type Target struct {
	Node     string `json:"node"`
	Template string `json:"template"`
	Version  int64  `json:"version"`
	Content  string `json:"content"` // sha256 of the LaunchTemplateData, 16 hex digits
}

// Fingerprint identifies a target's change: the same template, version and
// contents.
func (t Target) Fingerprint() string {
	s := sha256.Sum256([]byte(t.Template + "\x00" + fmt.Sprint(t.Version) + "\x00" + t.Content))
	return hex.EncodeToString(s[:8])
}

// Mark is what a failed roll leaves.
type Mark struct {
	Failed Target `json:"failed"` // the node where the change failed
	What   string `json:"what"`   // why, one sentence
	At     string `json:"at"`     // the command's clock, for people
	By     string `json:"by"`     // the command, as the lock names it
	// Changes are the fingerprints of every node's target when it failed:
	// the same change on any node.
	Changes []string `json:"changes"`
}

// maxValue is Parameter Store's standard-tier value limit.
const maxValue = 4096

// Encode is the mark's parameter value; the fingerprints past the limit
// are dropped (the failed node's first: about 180 nodes fit).
func (m Mark) Encode() string {
	for {
		b, _ := json.Marshal(m)
		if len(b) <= maxValue || len(m.Changes) <= 1 {
			return string(b)
		}
		m.Changes = m.Changes[:len(m.Changes)-1]
	}
}

// FailureKinds are the rollout failures that leave a mark: the canary's
// verify, a replacement abandoned by its agent; and a pre-check that fails
// once this roll has put the change on a node (the application's own
// check, after the change). The others (a timeout, another node lost, the
// cluster not ready) say nothing about the change.
func Marks(kind string, replacedThisRun int) bool {
	switch kind {
	case "verify", "abandoned":
		return true
	case "pre-check":
		return replacedThisRun > 0
	}
	return false
}

// Blocked are the targets that would spread the marked change: those whose
// fingerprint the mark holds, on nodes other than the one where it failed
// (it has the change already; its group relaunches it by itself).
func Blocked(m Mark, targets []Target) []Target {
	var out []Target
	for _, t := range targets {
		if t.Node != m.Failed.Node && slices.Contains(m.Changes, t.Fingerprint()) {
			out = append(out, t)
		}
	}
	return out
}

// Refused says why a roll refuses to spread a marked change.
type Refused struct {
	Mark    Mark
	Name    string
	Blocked []Target
}

func (r *Refused) Error() string {
	nodes := make([]string, len(r.Blocked))
	for i, t := range r.Blocked {
		nodes[i] = t.Node
	}
	f := r.Mark.Failed
	return fmt.Sprintf("this change failed before (%s) at node %s: launch template %s version %d (contents %s), marked %s by %s in SSM parameter %s; "+
		"node(s) %s would get the same change, so nothing was done; make a new change (a new launch-template version), or pass %s to roll this one out anyway",
		r.Mark.What, f.Node, f.Template, f.Version, f.Content, r.Mark.At, r.Mark.By, r.Name, strings.Join(nodes, ", "), ClearFlag)
}

// Params is the Parameter Store the mark lives in: the lock's.
type Params = lock.API

// Read reads a cluster's mark; ok false when there is none.
func Read(ctx context.Context, p Params, name string) (Mark, bool, error) {
	out, err := p.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name)})
	if isCode(err, "ParameterNotFound") {
		return Mark{}, false, nil
	}
	if err != nil {
		return Mark{}, false, fmt.Errorf("reading the cluster's failure mark (SSM parameter %s): %w", name, err)
	}
	var m Mark
	if err := json.Unmarshal([]byte(aws.ToString(out.Parameter.Value)), &m); err != nil {
		return Mark{}, false, fmt.Errorf("the cluster's failure mark (SSM parameter %s) is not one stateful wrote: delete it with aws ssm delete-parameter --name %s, or pass %s", name, name, ClearFlag)
	}
	return m, true, nil
}

// Write leaves the mark, replacing an older one.
func Write(ctx context.Context, p Params, name string, m Mark) error {
	_, err := p.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String(m.Encode()), Type: ssmtypes.ParameterTypeString,
		Overwrite: aws.Bool(true), Description: aws.String("stateful: a roll's change failed here; the next roll refuses to spread it (docs/operations.md)")})
	if err != nil {
		return fmt.Errorf("leaving the failure mark (SSM parameter %s): %w", name, err)
	}
	return nil
}

// Clear removes the mark; none is not an error.
func Clear(ctx context.Context, p Params, name string) error {
	_, err := p.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String(name)})
	if err != nil && !isCode(err, "ParameterNotFound") {
		return fmt.Errorf("removing the failure mark (SSM parameter %s): %w", name, err)
	}
	return nil
}

// EC2 is what Targets reads: the launch templates' versions.
type EC2 interface {
	DescribeLaunchTemplateVersions(context.Context, *ec2.DescribeLaunchTemplateVersionsInput, ...func(*ec2.Options)) (*ec2.DescribeLaunchTemplateVersionsOutput, error)
}

// Targets are the nodes' targets: each node's launch template at its
// group's resolved version, with a digest of that version's contents. A
// node whose template is unknown (a launch configuration) has none.
func Targets(ctx context.Context, api EC2, nodes []cluster.Node) ([]Target, error) {
	var out []Target
	for _, n := range nodes {
		if n.LaunchTemplateID == "" || n.Target == 0 {
			continue
		}
		res, err := api.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(n.LaunchTemplateID),
			Versions: []string{fmt.Sprint(n.Target)}})
		if err != nil {
			return nil, fmt.Errorf("reading node %s's launch template %s version %d: %w", n.ID, n.LaunchTemplateID, n.Target, err)
		}
		if len(res.LaunchTemplateVersions) == 0 {
			return nil, fmt.Errorf("node %s's launch template %s has no version %d", n.ID, n.LaunchTemplateID, n.Target)
		}
		data, _ := json.Marshal(res.LaunchTemplateVersions[0].LaunchTemplateData)
		sum := sha256.Sum256(data)
		out = append(out, Target{Node: n.ID, Template: n.LaunchTemplateID, Version: n.Target, Content: hex.EncodeToString(sum[:8])})
	}
	return out, nil
}

func isCode(err error, code string) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == code
}
