# The client `stateful lab demo --config examples/zookeeper` runs from the
# lab network (Terraform does not read this file). Each command runs in
# bash in this directory with STATEFUL_NODE_IPS; the probe also gets
# STATEFUL_PROBE_SEQ. See the lab section of the repository's README.
ready = "./lab-client.sh ready"
probe = "./lab-client.sh write"
check = "./lab-client.sh check"

# The roll's built-in check (stateful roll --app zookeeper), asked from the lab
# network: the cluster healthy before each node goes, the replaced member
# caught up before the next, the leader last. Set on_failure = "rollback"
# to put a node whose replacement fails back on its last good version.
# Terraform's roll takes the same from the module block's roll input.
app = "zookeeper"
