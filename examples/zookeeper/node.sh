#!/bin/bash
# ZooKeeper on stateful nodes. The agent sources this file in bash and
# calls configure_cluster_node, then wait_for_healthy_cluster, with the
# node id and IP; drain_cluster_node runs at termination. A function fails
# the node by returning non-zero.
# Node files: /etc/zookeeper/stateful/zoo.cfg (the ensemble, dataDir on the
# data volume) and <dataDir>/myid (this server's id), both written by the
# agent before this script runs.

ZOO_CFG=/etc/zookeeper/stateful/zoo.cfg
ZOO_PID=/run/stateful-zookeeper.pid

zk_data_dir() { sed -n 's/^dataDir=//p' "$ZOO_CFG"; }

# zk_mode prints the server's role (leader, follower, standalone) from its
# srvr command, or nothing while it does not serve.
zk_mode() {
  # shellcheck disable=SC2016 # $1 is the inner bash's
  timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/2181" && printf srvr >&3 && cat <&3' _ "$1" 2>/dev/null | sed -n 's/^Mode: //p'
}

configure_cluster_node() {
  local ip=$2
  if [ ! -r /usr/share/java/zookeeper.jar ]; then
    if command -v apt-get >/dev/null; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y zookeeperd
    else
      echo "ZooKeeper is not installed and this image has no apt-get: bake zookeeperd into the image" >&2
      return 1
    fi
  fi
  local data
  data=$(zk_data_dir)
  if [ ! -s "$data/myid" ]; then
    echo "$data/myid is missing: the node files must give this server's id" >&2
    return 1
  fi
  # The data volume's directory belongs to the service's user; a replaced
  # node finds its snapshots and transaction log there and rejoins with them.
  chown -R zookeeper:zookeeper "$data"
  install -d -o zookeeper -g zookeeper /var/log/zookeeper
  # shellcheck disable=SC2054 # INFO,CONSOLE is one argument
  local java=(java -cp /etc/zookeeper/conf:/usr/share/java/zookeeper.jar
    -Dzookeeper.log.dir=/var/log/zookeeper -Dzookeeper.root.logger=INFO,CONSOLE
    -Dzookeeper.electionPortBindRetry=10
    org.apache.zookeeper.server.quorum.QuorumPeerMain "$ZOO_CFG")
  if [ -d /run/systemd/system ]; then
    {
      echo "[Unit]"
      echo "Description=ZooKeeper server $ip"
      echo "After=network-online.target"
      echo "[Service]"
      echo "User=zookeeper"
      echo "ExecStart=$(command -v java) ${java[*]:1}"
      echo "Restart=always"
      echo "[Install]"
      echo "WantedBy=multi-user.target"
    } >/etc/systemd/system/stateful-zookeeper.service
    systemctl daemon-reload
    systemctl enable --now stateful-zookeeper.service
  else
    # No systemd (containers, the local lab): a detached process.
    setsid runuser -u zookeeper -- "${java[@]}" >>/var/log/zookeeper.log 2>&1 </dev/null &
    echo $! >"$ZOO_PID"
  fi
}

wait_for_healthy_cluster() {
  local ip=$2 mode
  # This server serves as a member of a quorum: a leader or a follower
  # (never standalone: the ensemble is in zoo.cfg).
  until mode=$(zk_mode "$ip") && { [ "$mode" = leader ] || [ "$mode" = follower ]; }; do
    sleep 1
  done
  echo "ZooKeeper on $ip serves as $mode"
}

drain_cluster_node() {
  if [ -d /run/systemd/system ]; then
    systemctl stop stateful-zookeeper.service
  elif [ -f "$ZOO_PID" ]; then
    # runuser's child is the JVM: stop the whole session.
    pkill -TERM -s "$(cat "$ZOO_PID")" 2>/dev/null || kill -TERM "$(cat "$ZOO_PID")" 2>/dev/null || true
    for _ in $(seq 1 50); do pgrep -s "$(cat "$ZOO_PID")" >/dev/null || break; sleep 0.2; done
  fi
}
