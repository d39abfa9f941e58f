locals {
  # The tags the stateful commands and the node agent find resources by.
  # internal/cluster/tags.go declares the same keys; a Go test checks that
  # the two agree.
  cluster_tag_key = "stateful:cluster"
  node_id_tag_key = "stateful:node-id"

  tags = merge(var.tags, { (local.cluster_tag_key) = var.app_name })

  nodes = { for n in var.nodes : n.node_id => n }

  # Per-node data volume: the cluster-wide settings with the node's
  # overrides on top.
  data_volumes = { for id, n in local.nodes : id => {
    size_in_gibs           = coalesce(n.data_volume.size_in_gibs, var.data_volume.size_in_gibs)
    type                   = coalesce(n.data_volume.type, var.data_volume.type)
    iops                   = n.data_volume.iops != null ? n.data_volume.iops : var.data_volume.iops
    throughput_mib_per_sec = n.data_volume.throughput_mib_per_sec != null ? n.data_volume.throughput_mib_per_sec : var.data_volume.throughput_mib_per_sec
  } }

  # Node files as the agent takes them. A bare base64 string (the original
  # README's form) has no destination: it goes to node-files/<index>.
  node_files = { for f in var.node_files : f.node_id => [
    for i, x in try(f.node_files_toupload, []) : {
      path           = try(tostring(x.destination), "/etc/stateful/node-files/${i}")
      content_base64 = try(tostring(x), tostring(x.contents))
      mode           = try(tostring(x.mode), "0644")
    }
  ] }

  group_names = { for id in keys(local.nodes) : id => "${var.app_name}-${id}" }

  # Region, partition and account come from the node subnets' ARNs, so the
  # module needs no data source that calls AWS beyond the subnets.
  subnet_arn = split(":", values(data.aws_subnet.node)[0].arn)
  partition  = local.subnet_arn[1]
  region     = local.subnet_arn[3]
  account_id = data.aws_caller_identity.current.account_id

  # What the user data writes to /etc/stateful/node.json; the shape of
  # internal/agent.Config (a Go test checks the keys).
  agent_config = { for id, n in local.nodes : id => {
    version        = 1
    cluster        = var.app_name
    node_id        = id
    node_ip        = n.node_ip
    region         = local.region
    asg_name       = local.group_names[id]
    launch_hook    = "${local.group_names[id]}-launch"
    terminate_hook = var.drain_on_termination ? "${local.group_names[id]}-drain" : ""
    volume = {
      id              = ""
      device_hint     = var.data_volume.device_name
      mount_path      = var.data_volume.mount_path
      file_system     = var.data_volume.file_system_type
      mount_options   = var.data_volume.mount_params
      owner           = var.data_volume.mount_path_owner_user
      group           = var.data_volume.mount_path_owner_group
      recursive_chown = var.data_volume.recursive_chown
    }
    files = [for f in lookup(local.node_files, id, []) : {
      path           = f.path
      content_base64 = f.content_base64
      mode           = f.mode
    }]
    script = {
      inline_base64 = var.node_config_script
      s3_url        = var.node_config_script_s3_url == null ? "" : var.node_config_script_s3_url
    }
    timeouts = {
      command_seconds   = var.command_timeout_seconds
      volume_seconds    = 900
      device_seconds    = 300
      heartbeat_seconds = max(10, floor(var.asg_lifecycle_hook_heartbeat_timeout / 3))
    }
    on_failure = var.node_failure_policy
  } }

  user_data = { for id, n in local.nodes : id => templatefile("${path.module}/templates/user_data.sh.tftpl", {
    config_json  = jsonencode(local.agent_config[id])
    agent_url    = var.agent.url == null ? "" : var.agent.url
    agent_sha256 = var.agent.sha256 == null ? "" : var.agent.sha256
    agent_s3_uri = var.agent.s3_uri == null ? "" : var.agent.s3_uri
    agent_path   = var.agent.path == null ? "" : var.agent.path
    region       = local.region
  }) }
}

data "aws_subnet" "node" {
  for_each = local.nodes

  id = each.value.node_subnet_id
}

data "aws_caller_identity" "current" {}

module "cluster_nodes" {
  source   = "./modules/node"
  for_each = local.nodes

  name                   = local.group_names[each.key]
  node_id                = each.key
  node_ip                = each.value.node_ip
  subnet_id              = each.value.node_subnet_id
  availability_zone      = data.aws_subnet.node[each.key].availability_zone
  security_groups        = var.security_groups
  image_id               = coalesce(each.value.node_image, var.node_image)
  instance_type          = var.instance_type
  key_name               = var.node_key_name
  instance_profile_name  = aws_iam_instance_profile.node.name
  user_data              = local.user_data[each.key]
  data_volume            = merge(local.data_volumes[each.key], { final_snapshot = var.data_volume.final_snapshot, tags = var.data_volume.tags })
  root_volume            = var.root_volume
  kms_key_id             = var.kms_key_id
  http_put_hop_limit     = var.http_put_response_hop_limit
  hook_heartbeat_timeout = var.asg_lifecycle_hook_heartbeat_timeout
  drain_on_termination   = var.drain_on_termination
  tags                   = local.tags
  node_id_tag_key        = local.node_id_tag_key
}
