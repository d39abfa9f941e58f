// Package cluster is the domain: a cluster of nodes, each an Auto Scaling
// group of one instance with its own ENI and data volume, and the names and
// tags that tie AWS resources to a node.
package cluster

import (
	"crypto/sha256"
	"encoding/hex"
)

// Tags the Terraform module puts on every resource of a node, and that the
// Go code reads to find them. modules/node declares the same keys; a test
// checks that the two agree.
const (
	// TagCluster holds the cluster name (the module's app_name).
	TagCluster = "stateful:cluster"
	// TagNodeID holds the node id (the module's node_id).
	TagNodeID = "stateful:node-id"
)

// TagBootstrapFailure is written by the node agent, not the module: on a
// failed bootstrap it leaves its one-line failure summary on its instance
// under this key, for the operator's commands to show.
const TagBootstrapFailure = "stateful:bootstrap-failure"

// TagBootstrapFailureClass is written with TagBootstrapFailure: whether a
// relaunch can fix the failure. FailureConfig and FailureVolume cannot (a
// new instance of the same launch-template version fails the same way),
// so the agent holds such a launch instead of abandoning it, and status
// says a relaunch will not help.
const TagBootstrapFailureClass = "stateful:bootstrap-failure-class"

// The values of TagBootstrapFailureClass.
const (
	FailureConfig = "config" // the configuration: unknown user, bad node file, script missing a function
	FailureVolume = "volume" // the data volume is refused (not this node's, not proven blank)
	FailureNode   = "node"   // anything else: a relaunch may fix it
)

// Relaunchable reports whether a new instance may succeed where the agent
// failed with this class ("" when unknown: assume it may).
func Relaunchable(class string) bool { return class != FailureConfig && class != FailureVolume }

// TagReady is written by the node agent, not the module: once its
// bootstrap succeeded (volume attached and prepared, node files written,
// node script passed) and before it completes the launch hook, it tags its
// own instance with this key and the instance's own ID as the value. The
// node policy lets an instance tag only itself, so a launch hook completed
// by anyone else (a person, a script) leaves no mark, and a mark copied
// from elsewhere names another instance.
const TagReady = "stateful:ready"

// Names the Terraform module gives a node's resources. They are the
// original module's (v0.8.0), kept so that a cluster built by it upgrades
// without replacing a group or launch template: AWS replaces both when
// their name changes. The launch hook has one name in every group, as the
// original's had. modules/node declares the same patterns; a test checks
// that the two agree.
func GroupName(clusterName, nodeID string) string { return clusterName + "-node-" + nodeID }

// RoleName is the node's own IAM role and instance profile: its group's
// name and the region (IAM names are account-wide, so the same cluster
// name in two regions must not collide). IAM allows 64 characters: a
// longer name keeps 55 and a hash that tells it apart. modules/node/iam.tf
// computes the same.
func RoleName(group, region string) string {
	base := group + "-" + region
	if len(base) <= 64 {
		return base
	}
	sum := sha256.Sum256([]byte(base))
	return base[:55] + "-" + hex.EncodeToString(sum[:])[:8]
}

// LaunchTemplateName is the node's launch template: the group's name.
func LaunchTemplateName(clusterName, nodeID string) string { return GroupName(clusterName, nodeID) }

// LaunchHookName is the launch lifecycle hook of every group of the cluster.
func LaunchHookName(clusterName string) string { return clusterName + "-node-asg-hook" }

// DrainHookName is the termination lifecycle hook of every group of the
// cluster, present when the module's drain_on_termination is set.
func DrainHookName(clusterName string) string { return clusterName + "-node-drain-hook" }
