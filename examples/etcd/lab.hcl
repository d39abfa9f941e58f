# The client `stateful lab demo --config examples/etcd` runs from the lab
# network (Terraform does not read this file). Each command runs in bash in
# this directory with STATEFUL_NODE_IPS; the probe also gets
# STATEFUL_PROBE_SEQ. See the lab section of the repository's README.
ready    = "./lab-client.sh ready"
probe    = "./lab-client.sh write"
check    = "./lab-client.sh check"
identity = "./lab-client.sh identity"
