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
s3_get 's3://artifacts-bucket/stateful/v1.0.0/stateful' "$tmp"
install -m 0755 "$tmp" "$agent" && rm -f "$tmp"
exec "$agent" node bootstrap --config "$config"
