#!/bin/bash
# Written by the stateful Terraform module. It writes the node agent's
# config, gets the agent and runs it; the agent does everything else and
# completes the launch lifecycle hook. Output: /var/log/cloud-init-output.log.
set -euo pipefail
config=/etc/stateful/node.json
agent=/usr/local/bin/stateful

mkdir -p /etc/stateful
(umask 077 && cat >"$config.tmp" <<'STATEFUL_NODE_CONFIG'
{"asg_name":"etcd-node-00","cluster":"etcd","files":[{"content_base64":"RVRDRF9JTklUSUFMX0NMVVNURVI9bjAwPWh0dHA6Ly8xMC4wLjAuMTA6MjM4MCxuMDE9aHR0cDovLzEwLjAuMS4xMDoyMzgwLG4wMj1odHRwOi8vMTAuMC4yLjEwOjIzODAKRVRDRF9JTklUSUFMX0NMVVNURVJfVE9LRU49ZXRjZApFVENEX0RBVEFfUk9PVD0vZGF0YQo=","mode":"0644","path":"/etc/stateful/etcd-cluster.env"}],"launch_hook":"etcd-node-asg-hook","node_id":"00","node_ip":"10.0.0.10","on_failure":"abandon","region":"eu-west-1","script":{"inline_base64":"IyEvYmluL2Jhc2gKIyBldGNkIG9uIHN0YXRlZnVsIG5vZGVzLiBUaGUgYWdlbnQgc291cmNlcyB0aGlzIGZpbGUgaW4gYmFzaCBhbmQgY2FsbHMKIyBjb25maWd1cmVfY2x1c3Rlcl9ub2RlLCB0aGVuIHdhaXRfZm9yX2hlYWx0aHlfY2x1c3Rlciwgd2l0aCB0aGUgbm9kZSBpZAojIGFuZCBJUDsgZHJhaW5fY2x1c3Rlcl9ub2RlIHJ1bnMgYXQgdGVybWluYXRpb24uIEEgZnVuY3Rpb24gZmFpbHMgdGhlCiMgbm9kZSBieSByZXR1cm5pbmcgbm9uLXplcm8uCiMgL2V0Yy9zdGF0ZWZ1bC9ldGNkLWNsdXN0ZXIuZW52IChhIG5vZGUgZmlsZSkgaG9sZHMgRVRDRF9JTklUSUFMX0NMVVNURVIsCiMgRVRDRF9JTklUSUFMX0NMVVNURVJfVE9LRU4gYW5kIEVUQ0RfREFUQV9ST09UICh0aGUgZGF0YSB2b2x1bWUpLgoKZXRjZF9lbnYoKSB7CiAgIyBzaGVsbGNoZWNrIHNvdXJjZT0vZGV2L251bGwKICAuIC9ldGMvc3RhdGVmdWwvZXRjZC1jbHVzdGVyLmVudgogIEVUQ0RfREFUQV9ESVI9IiRFVENEX0RBVEFfUk9PVC9ldGNkIgp9Cgpjb25maWd1cmVfY2x1c3Rlcl9ub2RlKCkgewogIGxvY2FsIGlkPSQxIGlwPSQyCiAgZXRjZF9lbnYKICBpZiAhIGNvbW1hbmQgLXYgZXRjZCA+L2Rldi9udWxsOyB0aGVuCiAgICBpZiBjb21tYW5kIC12IGFwdC1nZXQgPi9kZXYvbnVsbDsgdGhlbgogICAgICBERUJJQU5fRlJPTlRFTkQ9bm9uaW50ZXJhY3RpdmUgYXB0LWdldCBpbnN0YWxsIC15IGV0Y2Qtc2VydmVyIGV0Y2QtY2xpZW50CiAgICBlbHNlCiAgICAgIGVjaG8gImV0Y2QgaXMgbm90IGluc3RhbGxlZCBhbmQgdGhpcyBpbWFnZSBoYXMgbm8gYXB0LWdldDogYmFrZSBldGNkIGludG8gdGhlIGltYWdlIiA+JjIKICAgICAgcmV0dXJuIDEKICAgIGZpCiAgZmkKICBpbnN0YWxsIC1kIC1tIDA3MDAgIiRFVENEX0RBVEFfRElSIgogICMgQSB2b2x1bWUgdGhhdCBhbHJlYWR5IGhvbGRzIGEgbWVtYmVyIGtlZXBzIGl0OiBldGNkIGlnbm9yZXMgdGhlCiAgIyBpbml0aWFsLWNsdXN0ZXIgZmxhZ3Mgd2hlbiBpdHMgZGF0YSBkaXJlY3RvcnkgaGFzIGRhdGEuCiAgbG9jYWwgYXJncz0oCiAgICAtLW5hbWUgIm4kaWQiIC0tZGF0YS1kaXIgIiRFVENEX0RBVEFfRElSIgogICAgLS1saXN0ZW4tcGVlci11cmxzICJodHRwOi8vJGlwOjIzODAiIC0taW5pdGlhbC1hZHZlcnRpc2UtcGVlci11cmxzICJodHRwOi8vJGlwOjIzODAiCiAgICAtLWxpc3Rlbi1jbGllbnQtdXJscyAiaHR0cDovLyRpcDoyMzc5LGh0dHA6Ly8xMjcuMC4wLjE6MjM3OSIgLS1hZHZlcnRpc2UtY2xpZW50LXVybHMgImh0dHA6Ly8kaXA6MjM3OSIKICAgIC0taW5pdGlhbC1jbHVzdGVyICIkRVRDRF9JTklUSUFMX0NMVVNURVIiIC0taW5pdGlhbC1jbHVzdGVyLXRva2VuICIkRVRDRF9JTklUSUFMX0NMVVNURVJfVE9LRU4iCiAgICAtLWluaXRpYWwtY2x1c3Rlci1zdGF0ZSBuZXcKICApCiAgaWYgWyAtZCAvcnVuL3N5c3RlbWQvc3lzdGVtIF07IHRoZW4KICAgIHN5c3RlbWN0bCBzdG9wIGV0Y2QgMj4vZGV2L251bGwgfHwgdHJ1ZQogICAgewogICAgICBlY2hvICJbVW5pdF0iCiAgICAgIGVjaG8gIkRlc2NyaXB0aW9uPWV0Y2QgbWVtYmVyIG4kaWQiCiAgICAgIGVjaG8gIkFmdGVyPW5ldHdvcmstb25saW5lLnRhcmdldCIKICAgICAgZWNobyAiW1NlcnZpY2VdIgogICAgICBlY2hvICJFeGVjU3RhcnQ9JChjb21tYW5kIC12IGV0Y2QpICR7YXJnc1sqXX0iCiAgICAgIGVjaG8gIlJlc3RhcnQ9YWx3YXlzIgogICAgICBlY2hvICJbSW5zdGFsbF0iCiAgICAgIGVjaG8gIldhbnRlZEJ5PW11bHRpLXVzZXIudGFyZ2V0IgogICAgfSA+L2V0Yy9zeXN0ZW1kL3N5c3RlbS9zdGF0ZWZ1bC1ldGNkLnNlcnZpY2UKICAgIHN5c3RlbWN0bCBkYWVtb24tcmVsb2FkCiAgICBzeXN0ZW1jdGwgZW5hYmxlIC0tbm93IHN0YXRlZnVsLWV0Y2Quc2VydmljZQogIGVsc2UKICAgICMgTm8gc3lzdGVtZCAoY29udGFpbmVycywgdGhlIGxvY2FsIGxhYik6IGEgZGV0YWNoZWQgcHJvY2Vzcy4KICAgIHNldHNpZCBldGNkICIke2FyZ3NbQF19IiA+Pi92YXIvbG9nL2V0Y2QubG9nIDI+JjEgPC9kZXYvbnVsbCAmCiAgICBlY2hvICQhID4vcnVuL3N0YXRlZnVsLWV0Y2QucGlkCiAgZmkKfQoKd2FpdF9mb3JfaGVhbHRoeV9jbHVzdGVyKCkgewogIGxvY2FsIGlwPSQyCiAgIyBFdmVyeSBtZW1iZXIgaGVhbHRoeSwgdGhpcyBvbmUgaW5jbHVkZWQ6IGEgcmVwbGFjZWQgbm9kZSBoYXMgcmVqb2luZWQuCiAgdW50aWwgZXRjZGN0bCAtLWVuZHBvaW50cyAiaHR0cDovLyRpcDoyMzc5IiAtLWRpYWwtdGltZW91dCAycyAtLWNvbW1hbmQtdGltZW91dCA1cyBlbmRwb2ludCBoZWFsdGggLS1jbHVzdGVyOyBkbwogICAgc2xlZXAgMgogIGRvbmUKfQoKZHJhaW5fY2x1c3Rlcl9ub2RlKCkgewogIGlmIFsgLWQgL3J1bi9zeXN0ZW1kL3N5c3RlbSBdOyB0aGVuCiAgICBzeXN0ZW1jdGwgc3RvcCBzdGF0ZWZ1bC1ldGNkLnNlcnZpY2UKICBlbGlmIFsgLWYgL3J1bi9zdGF0ZWZ1bC1ldGNkLnBpZCBdOyB0aGVuCiAgICBraWxsIC1URVJNICIkKGNhdCAvcnVuL3N0YXRlZnVsLWV0Y2QucGlkKSIgMj4vZGV2L251bGwgfHwgdHJ1ZQogICAgZm9yIF8gaW4gJChzZXEgMSA1MCk7IGRvIGtpbGwgLTAgIiQoY2F0IC9ydW4vc3RhdGVmdWwtZXRjZC5waWQpIiAyPi9kZXYvbnVsbCB8fCBicmVhazsgc2xlZXAgMC4yOyBkb25lCiAgZmkKfQo=","s3_url":""},"terminate_hook":"etcd-node-drain-hook","timeouts":{"command_seconds":1800,"device_seconds":300,"drain_heartbeat_seconds":200,"heartbeat_seconds":1200,"volume_seconds":900},"version":1,"volume":{"device_hint":"/dev/sdf","file_system":"ext4","group":"root","id":"","mount_options":["noatime"],"mount_path":"/data","owner":"root","recursive_chown":false}}
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
  echo "completing the launch hook etcd-node-asg-hook with ABANDON: the group will start a fresh instance" >&2
  abandon || echo "stateful: the launch hook could not be completed; it times out on its own" >&2
  exit 1
}
abandon() {
  local imds token id role creds ak sk st hdr=()
  imds="${STATEFUL_IMDS_ENDPOINT:-http://169.254.169.254}/latest"
  token=$(curl -fsS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' "$imds/api/token") || return 1
  id=$(curl -fsS -H "X-aws-ec2-metadata-token: $token" "$imds/meta-data/instance-id") || return 1
  ak=${AWS_ACCESS_KEY_ID:-} sk=${AWS_SECRET_ACCESS_KEY:-} st=${AWS_SESSION_TOKEN:-}
  if [ -z "$ak" ]; then
    role=$(curl -fsS -H "X-aws-ec2-metadata-token: $token" "$imds/meta-data/iam/security-credentials/") || return 1
    creds=$(curl -fsS -H "X-aws-ec2-metadata-token: $token" "$imds/meta-data/iam/security-credentials/$role") || return 1
    ak=$(sed -n 's/.*"AccessKeyId" *: *"\([^"]*\)".*/\1/p' <<<"$creds")
    sk=$(sed -n 's/.*"SecretAccessKey" *: *"\([^"]*\)".*/\1/p' <<<"$creds")
    st=$(sed -n 's/.*"Token" *: *"\([^"]*\)".*/\1/p' <<<"$creds")
  fi
  [ -z "$st" ] || hdr=(-H "x-amz-security-token: $st")
  curl -fsS --retry 5 --aws-sigv4 'aws:amz:eu-west-1:autoscaling' --user "$ak:$sk" ${hdr[@]+"${hdr[@]}"} \
    --data-urlencode Action=CompleteLifecycleAction --data-urlencode Version=2011-01-01 \
    --data-urlencode 'AutoScalingGroupName=etcd-node-00' --data-urlencode 'LifecycleHookName=etcd-node-asg-hook' \
    --data-urlencode "InstanceId=$id" --data-urlencode LifecycleActionResult=ABANDON \
    "${AWS_ENDPOINT_URL_AUTO_SCALING:-${AWS_ENDPOINT_URL:-https://autoscaling.eu-west-1.amazonaws.com}}/" >/dev/null
}

region='eu-west-1'
imds="${STATEFUL_IMDS_ENDPOINT:-http://169.254.169.254}/latest"

# s3_get s3://BUCKET/KEY FILE: a GET signed (SigV4) with the instance
# role's credentials from IMDSv2, so no AWS CLI is needed.
s3_get() {
  local bucket key host token role creds ak sk st now day scope empty creq sts k sig
  bucket=${1#s3://}; key=${bucket#*/}; bucket=${bucket%%/*}
  host="$bucket.s3.$region.amazonaws.com"
  token=$(curl -fsS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' "$imds/api/token")
  role=$(curl -fsS -H "X-aws-ec2-metadata-token: $token" "$imds/meta-data/iam/security-credentials/")
  creds=$(curl -fsS -H "X-aws-ec2-metadata-token: $token" "$imds/meta-data/iam/security-credentials/$role")
  field() { sed -n "s/.*\"$1\" *: *\"\([^\"]*\)\".*/\1/p" <<<"$creds" | head -n 1; }
  ak=$(field AccessKeyId); sk=$(field SecretAccessKey); st=$(field Token)
  now=$(date -u +%Y%m%dT%H%M%SZ); day=${now%%T*}; scope="$day/$region/s3/aws4_request"
  empty=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
  creq=$(printf 'GET\n/%s\n\nhost:%s\nx-amz-content-sha256:%s\nx-amz-date:%s\nx-amz-security-token:%s\n\nhost;x-amz-content-sha256;x-amz-date;x-amz-security-token\n%s' \
    "$key" "$host" "$empty" "$now" "$st" "$empty")
  sts=$(printf 'AWS4-HMAC-SHA256\n%s\n%s\n%s' "$now" "$scope" "$(printf '%s' "$creq" | sha256sum | cut -d' ' -f1)")
  hmac() { openssl dgst -sha256 -mac HMAC -macopt "$1" | sed 's/^.* //'; }
  k=$(printf '%s' "$day" | hmac "key:AWS4$sk")
  for part in "$region" s3 aws4_request; do k=$(printf '%s' "$part" | hmac "hexkey:$k"); done
  sig=$(printf '%s' "$sts" | hmac "hexkey:$k")
  curl -fsS --retry 5 -o "$2" -H "Host: $host" -H "x-amz-date: $now" -H "x-amz-content-sha256: $empty" -H "x-amz-security-token: $st" \
    -H "Authorization: AWS4-HMAC-SHA256 Credential=$ak/$scope, SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=$sig" \
    "${STATEFUL_S3_ENDPOINT:-https://$host}/$key"
}

tmp=$(mktemp)
s3_get 's3://artifacts-bucket/stateful/v1.0.0/stateful' "$tmp" || refuse "could not fetch the agent from s3://artifacts-bucket/stateful/v1.0.0/stateful with the instance role"
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
ExecStart=$agent node bootstrap --config $config

[Install]
WantedBy=multi-user.target
STATEFUL_UNIT
  systemctl enable stateful-node.service
fi
exec "$agent" node bootstrap --config "$config"
