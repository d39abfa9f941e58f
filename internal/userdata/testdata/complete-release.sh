#!/bin/bash
# Written by the stateful Terraform module. It writes the node agent's
# config, gets the agent and runs it; the agent does everything else and
# completes the launch lifecycle hook. Output: /var/log/cloud-init-output.log.
set -euo pipefail
config=/etc/stateful/node.json
agent=/usr/local/bin/stateful

mkdir -p /etc/stateful
(umask 077 && cat >"$config.tmp" <<'STATEFUL_NODE_CONFIG'
{"asg_name":"stateful-complete-node-00","cluster":"stateful-complete","files":[{"content_base64":"bm9kZT0wMAo=","group":"root","mode":"0600","owner":"root","path":"/etc/app/node.conf","ssm_parameter":""}],"launch_hook":"stateful-complete-node-asg-hook","node_id":"00","node_ip":"10.42.0.10","on_failure":"abandon","region":"eu-west-1","script":{"inline_base64":"IyEvYmluL2Jhc2gKIyBUaGUgbm9kZSBzY3JpcHQgY29udHJhY3Q6IHRoZSBhZ2VudCBzb3VyY2VzIHRoaXMgZmlsZSBhbmQgY2FsbHMKIyAgIGNvbmZpZ3VyZV9jbHVzdGVyX25vZGUgTk9ERV9JRCBOT0RFX0lQICAgKHN0YXJ0IHRoZSBhcHBsaWNhdGlvbikKIyAgIHdhaXRfZm9yX2hlYWx0aHlfY2x1c3RlciBOT0RFX0lEIE5PREVfSVAgKHJldHVybiBvbmNlIHRoZSBjbHVzdGVyIGlzIGhlYWx0aHkpCiMgYW5kLCB3aXRoIGRyYWluX29uX3Rlcm1pbmF0aW9uLCBkcmFpbl9jbHVzdGVyX25vZGUgTk9ERV9JRCBOT0RFX0lQLgoKY29uZmlndXJlX2NsdXN0ZXJfbm9kZSgpIHsKICBlY2hvICJjb25maWd1cmluZyBub2RlICQxIGF0ICQyIHdpdGggZGF0YSBpbiAvbXlkYXRhIgp9Cgp3YWl0X2Zvcl9oZWFsdGh5X2NsdXN0ZXIoKSB7CiAgZWNobyAibm9kZSAkMSBhdCAkMiBpcyBoZWFsdGh5Igp9Cg==","s3_expected_bucket_owner":"","s3_sha256":"","s3_url":"","s3_version_id":""},"terminate_hook":"","timeouts":{"command_seconds":1800,"device_seconds":300,"drain_heartbeat_seconds":200,"heartbeat_seconds":1200,"volume_seconds":900},"version":1,"volume":{"device_hint":"/dev/sdf","file_system":"xfs","group":"ec2-user","id":"","mount_options":["noatime"],"mount_path":"/mydata","noexec":false,"offline_repair":false,"owner":"ec2-user","recursive_chown":false}}
STATEFUL_NODE_CONFIG
)
mv "$config.tmp" "$config"

# Until the agent runs, this script stands in for it: when it cannot get the
# agent, refuse prints the agent's failure summary and completes the launch
# hook itself, with ABANDON at once (or holds it: on_failure = hold), so the
# node does not wait out the hook. curl signs the request (--aws-sigv4, curl
# 7.75 or later) with the environment's or the instance role's credentials.
refuse() {
  echo "stateful node bootstrap FAILED for node 00 at step get-agent:" >&2
  echo "  $1" >&2
  echo "completing the launch hook stateful-complete-node-asg-hook with ABANDON: the group will start a fresh instance" >&2
  abandon || echo "stateful: the launch hook could not be completed; it times out on its own" >&2
  exit 1
}
abandon() {
  local token id role creds ak sk st tokhdr=''
  token=$(imds_token) || return 1
  id=$(imds_get "$token" meta-data/instance-id) || return 1
  ak=${AWS_ACCESS_KEY_ID:-} sk=${AWS_SECRET_ACCESS_KEY:-} st=${AWS_SESSION_TOKEN:-}
  if [ -z "$ak" ]; then
    role=$(imds_get "$token" meta-data/iam/security-credentials/) || return 1
    creds=$(imds_get "$token" "meta-data/iam/security-credentials/$role") || return 1
    ak=$(json_field AccessKeyId <<<"$creds"); sk=$(json_field SecretAccessKey <<<"$creds"); st=$(json_field Token <<<"$creds")
  fi
  [ -z "$st" ] || tokhdr="header = \"x-amz-security-token: $st\""
  # The credentials reach curl in a config on its standard input, never on
  # its command line (/proc/PID/cmdline is readable by every local user).
  curl -fsS --retry 5 --aws-sigv4 'aws:amz:eu-west-1:autoscaling' -K - \
    --data-urlencode Action=CompleteLifecycleAction --data-urlencode Version=2011-01-01 \
    --data-urlencode 'AutoScalingGroupName=stateful-complete-node-00' --data-urlencode 'LifecycleHookName=stateful-complete-node-asg-hook' \
    --data-urlencode "InstanceId=$id" --data-urlencode LifecycleActionResult=ABANDON \
    "${AWS_ENDPOINT_URL_AUTO_SCALING:-${AWS_ENDPOINT_URL:-https://autoscaling.eu-west-1.amazonaws.com}}/" >/dev/null <<STATEFUL_CURL
user = "$ak:$sk"
$tokhdr
STATEFUL_CURL
}
imds_token() {
  curl -fsS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' "${STATEFUL_IMDS_ENDPOINT:-http://169.254.169.254}/latest/api/token"
}
# imds_get TOKEN PATH: the token travels on standard input, as credentials do.
imds_get() {
  curl -fsS -K - "${STATEFUL_IMDS_ENDPOINT:-http://169.254.169.254}/latest/$2" <<STATEFUL_CURL
header = "X-aws-ec2-metadata-token: $1"
STATEFUL_CURL
}
json_field() { sed -n "s/.*\"$1\" *: *\"\([^\"]*\)\".*/\1/p" | head -n 1; }

# --- IMDS for root only (issue 22) ---------------------------------------
# Hop limit 1 keeps IMDS from containers, not from local users: any process
# on the node could take the node role's credentials. AWS's documented
# owner rule (iptables ... --match owner ! --uid-owner root --jump REJECT,
# or its nftables form) lets only root reach 169.254.169.254. It applies in
# this host's network namespace only (in the lab, the instance's own), and
# the unit below applies it again after a reboot. With IMDS elsewhere
# (STATEFUL_IMDS_ENDPOINT, tests) there is nothing at that address to guard.
if [ -z "${STATEFUL_IMDS_ENDPOINT:-}" ]; then
  cat >/etc/stateful/imds-root-only <<'STATEFUL_IMDS_RULE'
#!/bin/sh
set -eu
if command -v nft >/dev/null 2>&1; then
  nft -f - <<'NFT'
table inet stateful_imds
delete table inet stateful_imds
table inet stateful_imds {
  chain output {
    type filter hook output priority 0; policy accept;
    ip daddr 169.254.169.254 meta skuid != 0 reject
  }
}
NFT
elif command -v iptables >/dev/null 2>&1; then
  rule="OUTPUT --destination 169.254.169.254 --match owner ! --uid-owner 0 --jump REJECT"
  iptables --check $rule 2>/dev/null || iptables --append $rule
else
  echo "neither nft nor iptables is installed" >&2
  exit 1
fi
STATEFUL_IMDS_RULE
  chmod 0755 /etc/stateful/imds-root-only
  imds_err=$(/etc/stateful/imds-root-only 2>&1) ||
    refuse "could not limit IMDS to root ($imds_err): install nftables or iptables in the image"
fi
# --- end of IMDS for root only --------------------------------------------

case "$(uname -m)" in
  x86_64 | amd64) arch=amd64 sha256='78a8c478b675a0cdec96d7b173880016d5716636596718bbb4f54508cd40c20f' ;;
  aarch64 | arm64) arch=arm64 sha256='d3bb547d17f9289ac2a7f2b25f3e1637e52b57d40dd4a9d8a0e67fa20b52a49e' ;;
  *) refuse "this node's architecture $(uname -m) has no stateful agent: releases are built for x86_64 (amd64) and aarch64 (arm64)" ;;
esac
url='https://github.com/stateful-aws/stateful/releases/download/v0.2.0/stateful-linux-{arch}'
url=${url//\{arch\}/$arch}
tmp=$(mktemp)
curl -fsSL --retry 5 --retry-connrefused -o "$tmp" "$url" ||
  refuse "could not download the agent from $url (curl exit $?); its pinned sha256 is $sha256"
got=$(sha256sum "$tmp" | cut -d' ' -f1)
[ "$got" = "$sha256" ] ||
  refuse "the agent $tmp downloaded from $url has sha256 $got, not the pinned $sha256: refusing to run it"
install -m 0755 "$tmp" "$agent"
rm -f "$tmp"
# User data runs once; after a reboot this unit runs bootstrap again, which
# is idempotent (volume, fstab, mount, files; the hook already completed is
# no error) and starts the drain watcher again. Hosts without systemd skip it.
if [ -d /run/systemd/system ]; then
  cat >/etc/systemd/system/stateful-node.service <<STATEFUL_UNIT
[Unit]
Description=stateful node agent after a reboot: data volume, node files, drain watcher
Wants=network-online.target
After=network-online.target
ConditionPathExists=$config

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStartPre=/etc/stateful/imds-root-only
ExecStart=$agent node bootstrap --config $config

[Install]
WantedBy=multi-user.target
STATEFUL_UNIT
  systemctl enable stateful-node.service
fi
exec "$agent" node bootstrap --config "$config"
