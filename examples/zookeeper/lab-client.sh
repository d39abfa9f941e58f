#!/bin/bash
# ZooKeeper's client for `stateful lab demo` (lab.hcl): Debian's C client,
# cli_mt (zookeeper-bin), against the whole ensemble (STATEFUL_NODE_IPS),
# so a server down is skipped. cli_mt exits 0 whatever happens: the result
# is its "rc = 0" line.
set -euo pipefail
read -ra ips <<<"$STATEFUL_NODE_IPS"
hosts=$(printf '%s:2181,' "${ips[@]}")
cli=/usr/lib/zookeeper/bin/cli_mt
root=/stateful-lab

# zk CMD: runs one command; its output on stdout; fails unless rc = 0.
zk() {
  local out
  out=$(timeout 3 "$cli" -h "${hosts%,}" -c "$1" 2>&1) || true
  printf '%s\n' "$out"
  grep -q ': rc = 0$' <<<"$out"
}

# retry CMD: a client retries while the ensemble elects a leader (up to
# about 4 s); the write counts as acknowledged once it succeeds.
retry() {
  for _ in 1 2 3 4 5 6 7 8; do
    zk "$1" >/dev/null && return 0
    sleep 0.5
  done
  return 1
}

case ${1:-} in
ready)
  zk "create $root" >/dev/null || zk "ls $root" >/dev/null ;;
# write: znode /stateful-lab/SEQ created (a create that already happened,
# retried after a lost answer, is rc = -110, node exists: acknowledged),
# then read back.
write)
  seq=$STATEFUL_PROBE_SEQ
  created=false
  for _ in 1 2 3 4 5 6 7 8; do
    out=$(zk "create $root/$seq") && { created=true; break; }
    grep -q ': rc = -110$' <<<"$out" && { created=true; break; }
    sleep 0.5
  done
  $created && retry "get $root/$seq"
  ;;
# check: the SEQs of every znode under /stateful-lab.
check)
  zk "ls $root" | sed -n 's/^\t\([0-9][0-9]*\)$/\1/p' ;;
*) echo "usage: $0 ready|write|check" >&2; exit 2 ;;
esac
