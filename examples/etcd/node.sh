#!/bin/bash
# etcd on stateful nodes. The agent sources this file in bash and calls
# configure_cluster_node, then wait_for_healthy_cluster, with the node id
# and IP; drain_cluster_node runs at termination. A function fails the
# node by returning non-zero.
# /etc/stateful/etcd-cluster.env (a node file) holds ETCD_INITIAL_CLUSTER,
# ETCD_INITIAL_CLUSTER_TOKEN and ETCD_DATA_ROOT (the data volume).

etcd_env() {
  # shellcheck source=/dev/null
  . /etc/stateful/etcd-cluster.env
  ETCD_DATA_DIR="$ETCD_DATA_ROOT/etcd"
}

configure_cluster_node() {
  local id=$1 ip=$2
  etcd_env
  if ! command -v etcd >/dev/null; then
    if command -v apt-get >/dev/null; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y etcd-server etcd-client
    else
      echo "etcd is not installed and this image has no apt-get: bake etcd into the image" >&2
      return 1
    fi
  fi
  install -d -m 0700 "$ETCD_DATA_DIR"
  # A volume that already holds a member keeps it: etcd ignores the
  # initial-cluster flags when its data directory has data.
  local args=(
    --name "n$id" --data-dir "$ETCD_DATA_DIR"
    --listen-peer-urls "http://$ip:2380" --initial-advertise-peer-urls "http://$ip:2380"
    --listen-client-urls "http://$ip:2379,http://127.0.0.1:2379" --advertise-client-urls "http://$ip:2379"
    --initial-cluster "$ETCD_INITIAL_CLUSTER" --initial-cluster-token "$ETCD_INITIAL_CLUSTER_TOKEN"
    --initial-cluster-state new
  )
  if [ -d /run/systemd/system ]; then
    systemctl stop etcd 2>/dev/null || true
    {
      echo "[Unit]"
      echo "Description=etcd member n$id"
      echo "After=network-online.target"
      echo "[Service]"
      echo "ExecStart=$(command -v etcd) ${args[*]}"
      echo "Restart=always"
      echo "[Install]"
      echo "WantedBy=multi-user.target"
    } >/etc/systemd/system/stateful-etcd.service
    systemctl daemon-reload
    systemctl enable --now stateful-etcd.service
  else
    # No systemd (containers, the local lab): a detached process.
    setsid etcd "${args[@]}" >>/var/log/etcd.log 2>&1 </dev/null &
    echo $! >/run/stateful-etcd.pid
  fi
}

wait_for_healthy_cluster() {
  local ip=$2
  # Every member healthy, this one included: a replaced node has rejoined.
  until etcdctl --endpoints "http://$ip:2379" --dial-timeout 2s --command-timeout 5s endpoint health --cluster; do
    sleep 2
  done
}

drain_cluster_node() {
  if [ -d /run/systemd/system ]; then
    systemctl stop stateful-etcd.service
  elif [ -f /run/stateful-etcd.pid ]; then
    kill -TERM "$(cat /run/stateful-etcd.pid)" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$(cat /run/stateful-etcd.pid)" 2>/dev/null || break; sleep 0.2; done
  fi
}
