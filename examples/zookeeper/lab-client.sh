#!/bin/bash
# ZooKeeper's client for `stateful lab demo` (lab.hcl): Debian's C client,
# cli_mt (zookeeper-bin), against the whole ensemble (STATEFUL_NODE_IPS),
# so a server down is skipped. cli_mt exits 0 whatever happens: the result
# is its "rc = 0" line.
set -euo pipefail
read -ra ips <<<"$STATEFUL_NODE_IPS"
cli=/usr/lib/zookeeper/bin/cli_mt
root=/stateful-lab

# serving: the servers that serve now (srvr answers a Mode), as a client
# fails over past a server that is down or still joining the quorum. A
# server whose instance is gone does not even refuse: cli_mt would wait
# seconds on it.
serving() {
  local ip out
  for ip in "${ips[@]}"; do
    # shellcheck disable=SC2016 # $1 is the inner bash's
    out=$(timeout 0.3 bash -c 'exec 3<>"/dev/tcp/$1/2181" && printf srvr >&3 && cat <&3' _ "$ip" 2>/dev/null) || true
    if grep -qE '^Mode: (leader|follower|standalone)' <<<"$out"; then printf '%s:2181,' "$ip"; fi
  done
}

# zk CMD: runs one command; its output on stdout; fails unless rc = 0.
zk() {
  local out hosts
  hosts=$(serving)
  [ -n "$hosts" ] || { echo "no server accepts connections"; return 1; }
  out=$(timeout 2 "$cli" -h "${hosts%,}" -c "$1" 2>&1) || true
  printf '%s\n' "$out"
  grep -q ': rc = 0$' <<<"$out"
}

case ${1:-} in
ready)
  zk "create $root" >/dev/null || zk "ls $root" >/dev/null ;;
# write: znode /stateful-lab/SEQ created, then read back: one try each,
# no retry, so the lab's availability by time sees every gap (a client
# that retries would hide the election).
write)
  seq=$STATEFUL_PROBE_SEQ
  zk "create $root/$seq" >/dev/null && zk "get $root/$seq" >/dev/null
  ;;
# check: the SEQs of every znode under /stateful-lab.
check)
  zk "ls $root" | sed -n 's/^\t\([0-9][0-9]*\)$/\1/p' ;;
*) echo "usage: $0 ready|write|check" >&2; exit 2 ;;
esac
