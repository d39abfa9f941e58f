# A three-node etcd cluster. Its node script is the one `stateful lab`
# runs on simulated AWS (make demo).

data "aws_subnet" "node" {
  count = 3
  id    = var.subnet_ids[count.index]
}

locals {
  name = "etcd"
  nodes = [for i, s in data.aws_subnet.node : {
    node_id        = format("%02d", i)
    node_ip        = cidrhost(s.cidr_block, 10)
    node_subnet_id = s.id
  }]
  # Every node learns the whole membership from a node file.
  initial_cluster = join(",", [for n in local.nodes : "n${n.node_id}=http://${n.node_ip}:2380"])
  cluster_env = base64encode(join("\n", [
    "ETCD_INITIAL_CLUSTER=${local.initial_cluster}",
    "ETCD_INITIAL_CLUSTER_TOKEN=${local.name}",
    "ETCD_DATA_ROOT=/data",
    "",
  ]))
}

module "etcd" {
  source = "../.."

  app_name      = local.name
  node_image    = var.node_image
  instance_type = "t3.small"
  nodes         = local.nodes
  node_files = [for n in local.nodes : {
    node_id             = n.node_id
    node_files_toupload = [{ contents = local.cluster_env, destination = "/etc/stateful/etcd-cluster.env" }]
  }]
  node_config_script   = filebase64("${path.module}/node.sh")
  security_groups      = var.security_group_ids
  drain_on_termination = true
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
