// Package cluster is the domain: a cluster of nodes, each an Auto Scaling
// group of one instance with its own ENI and data volume, and the names and
// tags that tie AWS resources to a node.
package cluster

// Tags the Terraform module puts on every resource of a node, and that the
// Go code reads to find them. modules/node declares the same keys; a test
// checks that the two agree.
const (
	// TagCluster holds the cluster name (the module's app_name).
	TagCluster = "stateful:cluster"
	// TagNodeID holds the node id (the module's node_id).
	TagNodeID = "stateful:node-id"
)
