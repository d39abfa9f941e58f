#!/bin/bash
# etcd's client for `stateful lab demo` (lab.hcl): etcdctl against every
# node's client URL (STATEFUL_NODE_IPS), so a node down is skipped.
set -euo pipefail
read -ra ips <<<"$STATEFUL_NODE_IPS"
endpoints=$(printf 'http://%s:2379,' "${ips[@]}")
ctl() { etcdctl --endpoints "${endpoints%,}" --dial-timeout 1s --command-timeout 2s "$@"; }

case ${1:-} in
ready) ctl put demo/ready 1 >/dev/null ;;
# write: key demo/SEQ acknowledged, then read back with its value
# (linearizable) from the cluster.
write)
  seq=$STATEFUL_PROBE_SEQ
  ctl put "demo/$seq" "$seq" >/dev/null
  [ "$(ctl get --print-value-only "demo/$seq")" = "$seq" ]
  ;;
# check: every SEQ whose key is still there.
check) ctl get --prefix --keys-only demo/ | sed -n 's|^demo/\([0-9][0-9]*\)$|\1|p' ;;
# identity: every member's name and ID (a member that lost its data would
# rejoin under a new ID, or not at all).
identity) ctl member list -w simple | awk -F', ' '{print $3, $1}' | sort ;;
*) echo "usage: $0 ready|write|check|identity" >&2; exit 2 ;;
esac
