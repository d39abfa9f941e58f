# A three-node ZooKeeper ensemble (Debian's zookeeperd). Its node script is
# the one `stateful lab demo --config examples/zookeeper` runs on simulated
# AWS.

data "aws_subnet" "node" {
  count = 3
  id    = var.subnet_ids[count.index]
}

locals {
  name = "zookeeper"
  nodes = [for i, s in data.aws_subnet.node : {
    node_id        = format("%02d", i)
    node_ip        = cidrhost(s.cidr_block, 10)
    node_subnet_id = s.id
  }]
  data_dir = "/data/zookeeper"
  # The ensemble: server.<myid>=<ip>:<quorum port>:<election port>, myid
  # being the node id plus one (ZooKeeper's ids start at 1).
  zoo_cfg = join("\n", concat([
    "tickTime=1000",
    "initLimit=10",
    "syncLimit=5",
    "dataDir=${local.data_dir}",
    "clientPort=2181",
    "4lw.commands.whitelist=srvr,ruok,mntr",
    "admin.enableServer=false",
    ], [for n in local.nodes : format("server.%d=%s:2888:3888", tonumber(n.node_id) + 1, n.node_ip)],
  [""]))
}

module "zookeeper" {
  source = "../.."

  app_name      = local.name
  node_image    = var.node_image
  instance_type = "t3.small"
  nodes         = local.nodes
  # zoo.cfg, the same on every node, and the node's myid on its data
  # volume, where ZooKeeper looks for it (the agent writes node files once
  # the volume is mounted).
  node_files = [for n in local.nodes : {
    node_id = n.node_id
    node_files_toupload = [
      # Not secret, and read by the zookeeper user: 0644 (node files
      # default to 0600 root:root).
      { contents = base64encode(local.zoo_cfg), destination = "/etc/zookeeper/stateful/zoo.cfg", mode = "0644" },
      { contents = base64encode(format("%d\n", tonumber(n.node_id) + 1)), destination = "${local.data_dir}/myid", mode = "0644" },
    ]
  }]
  node_config_script   = filebase64("${path.module}/node.sh")
  security_groups      = var.security_group_ids
  drain_on_termination = true
  # Between nodes the roll asks ZooKeeper itself (a quorum with a leader,
  # every follower synced; the replaced server a follower again) and
  # replaces the leader last.
  roll = { app = "zookeeper" }
  default_data_volume = {
    file_system_type       = "ext4"
    mount_path             = "/data"
    mount_path_owner_user  = "root"
    mount_path_owner_group = "root"
    size_in_gibs           = 8
    type                   = "gp3"
    mount_params           = ["noatime"]
  }
}
