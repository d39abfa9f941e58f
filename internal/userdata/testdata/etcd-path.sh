#!/bin/bash
# Written by the stateful Terraform module. It writes the node agent's
# config, gets the agent and runs it; the agent does everything else and
# completes the launch lifecycle hook. Output: /var/log/cloud-init-output.log.
set -euo pipefail
config=/etc/stateful/node.json
agent=/usr/local/bin/stateful

mkdir -p /etc/stateful
(umask 077 && cat >"$config.tmp" <<'STATEFUL_NODE_CONFIG'
{"asg_name":"etcd-00","cluster":"etcd","files":[{"content_base64":"RVRDRF9JTklUSUFMX0NMVVNURVI9bjAwPWh0dHA6Ly8xMC4wLjAuMTA6MjM4MCxuMDE9aHR0cDovLzEwLjAuMS4xMDoyMzgwLG4wMj1odHRwOi8vMTAuMC4yLjEwOjIzODAKRVRDRF9JTklUSUFMX0NMVVNURVJfVE9LRU49ZXRjZApFVENEX0RBVEFfUk9PVD0vZGF0YQo=","mode":"0644","path":"/etc/stateful/etcd-cluster.env"}],"launch_hook":"etcd-00-launch","node_id":"00","node_ip":"10.0.0.10","on_failure":"abandon","region":"eu-west-1","script":{"inline_base64":"IyEvYmluL2Jhc2gK","s3_url":""},"terminate_hook":"etcd-00-drain","timeouts":{"command_seconds":1800,"device_seconds":300,"heartbeat_seconds":1200,"volume_seconds":900},"version":1,"volume":{"device_hint":"/dev/sdf","file_system":"ext4","group":"root","id":"","mount_options":["noatime"],"mount_path":"/data","owner":"root","recursive_chown":false}}
STATEFUL_NODE_CONFIG
)
mv "$config.tmp" "$config"

agent='/usr/local/bin/stateful'
exec "$agent" node bootstrap --config "$config"
