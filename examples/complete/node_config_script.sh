#!/bin/bash
# The node script contract: the agent sources this file and calls
#   configure_cluster_node NODE_ID NODE_IP   (start the application)
#   wait_for_healthy_cluster NODE_ID NODE_IP (return once the cluster is healthy)
# and, with drain_on_termination, drain_cluster_node NODE_ID NODE_IP.

configure_cluster_node() {
  echo "configuring node $1 at $2 with data in /mydata"
}

wait_for_healthy_cluster() {
  echo "node $1 at $2 is healthy"
}
