#!/bin/bash
# Written by the stateful Terraform module. It writes the node agent's
# config, gets the agent and runs it; the agent does everything else and
# completes the launch lifecycle hook. Output: /var/log/cloud-init-output.log.
set -euo pipefail
config=/etc/stateful/node.json
agent=/usr/local/bin/stateful

mkdir -p /etc/stateful
(umask 077 && cat >"$config.tmp" <<'STATEFUL_NODE_CONFIG'
{"asg_name":"stateful-complete-node-00","cluster":"stateful-complete","files":[{"content_base64":"bm9kZT0wMAo=","mode":"0644","path":"/etc/app/node.conf"}],"launch_hook":"stateful-complete-node-asg-hook","node_id":"00","node_ip":"10.42.0.10","on_failure":"abandon","region":"eu-west-1","script":{"inline_base64":"IyEvYmluL2Jhc2gKIyBUaGUgbm9kZSBzY3JpcHQgY29udHJhY3Q6IHRoZSBhZ2VudCBzb3VyY2VzIHRoaXMgZmlsZSBhbmQgY2FsbHMKIyAgIGNvbmZpZ3VyZV9jbHVzdGVyX25vZGUgTk9ERV9JRCBOT0RFX0lQICAgKHN0YXJ0IHRoZSBhcHBsaWNhdGlvbikKIyAgIHdhaXRfZm9yX2hlYWx0aHlfY2x1c3RlciBOT0RFX0lEIE5PREVfSVAgKHJldHVybiBvbmNlIHRoZSBjbHVzdGVyIGlzIGhlYWx0aHkpCiMgYW5kLCB3aXRoIGRyYWluX29uX3Rlcm1pbmF0aW9uLCBkcmFpbl9jbHVzdGVyX25vZGUgTk9ERV9JRCBOT0RFX0lQLgoKY29uZmlndXJlX2NsdXN0ZXJfbm9kZSgpIHsKICBlY2hvICJjb25maWd1cmluZyBub2RlICQxIGF0ICQyIHdpdGggZGF0YSBpbiAvbXlkYXRhIgp9Cgp3YWl0X2Zvcl9oZWFsdGh5X2NsdXN0ZXIoKSB7CiAgZWNobyAibm9kZSAkMSBhdCAkMiBpcyBoZWFsdGh5Igp9Cg==","s3_url":""},"terminate_hook":"","timeouts":{"command_seconds":1800,"device_seconds":300,"drain_heartbeat_seconds":200,"heartbeat_seconds":1200,"volume_seconds":900},"version":1,"volume":{"device_hint":"/dev/sdf","file_system":"xfs","group":"ec2-user","id":"","mount_options":["noatime"],"mount_path":"/mydata","owner":"ec2-user","recursive_chown":false}}
STATEFUL_NODE_CONFIG
)
mv "$config.tmp" "$config"

agent='/usr/local/bin/stateful'
exec "$agent" node bootstrap --config "$config"
