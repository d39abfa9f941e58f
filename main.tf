locals {
  # The tags the stateful commands and the node agent find resources by.
  # internal/cluster/tags.go declares the same keys; a Go test checks that
  # the two agree.
  cluster_tag_key = "stateful:cluster"
  node_id_tag_key = "stateful:node-id"

  tags = merge(var.tags, { (local.cluster_tag_key) = var.app_name })

  nodes = { for n in var.nodes : n.node_id => n }

  # The cluster-wide data volume: default_data_volume (the original
  # v0.8.0's name) or data_volume (its older README's). When neither or
  # both are set, the precondition on data.aws_caller_identity.current says
  # so; the stand-in below only keeps the rest of the plan from failing
  # with a less helpful message first.
  data_volume_inputs = [for v in [var.default_data_volume, var.data_volume] : v if v != null]
  data_volume = length(local.data_volume_inputs) > 0 ? local.data_volume_inputs[0] : {
    device_name  = "/dev/sdf", size_in_gibs = 1, type = "gp3", iops = null, throughput_mib_per_sec = null, mount_path = "/data", file_system_type = "xfs",
    mount_params = [], mount_path_owner_user = "root", mount_path_owner_group = "root", tags = {}, recursive_chown = false, final_snapshot = true
  }

  # Per node: the cluster-wide data volume with the node's node_data_disk
  # (strings, as in the original) on top.
  data_volumes = { for id, n in local.nodes : id => {
    device_name            = lookup(n.node_data_disk, "device_name", local.data_volume.device_name)
    size_in_gibs           = tonumber(lookup(n.node_data_disk, "size_in_gibs", local.data_volume.size_in_gibs))
    type                   = lookup(n.node_data_disk, "type", local.data_volume.type)
    iops                   = try(tonumber(n.node_data_disk["iops"]), local.data_volume.iops)
    throughput_mib_per_sec = try(tonumber(n.node_data_disk["throughput_mib_per_sec"]), local.data_volume.throughput_mib_per_sec)
    mount_path             = lookup(n.node_data_disk, "mount_path", local.data_volume.mount_path)
    file_system_type       = lookup(n.node_data_disk, "file_system_type", local.data_volume.file_system_type)
    mount_params           = local.data_volume.mount_params
    mount_path_owner_user  = lookup(n.node_data_disk, "mount_path_owner_user", local.data_volume.mount_path_owner_user)
    mount_path_owner_group = lookup(n.node_data_disk, "mount_path_owner_group", local.data_volume.mount_path_owner_group)
    tags                   = local.data_volume.tags
    recursive_chown        = local.data_volume.recursive_chown
    final_snapshot         = local.data_volume.final_snapshot
  } }

  # The nodes whose data volume breaks each rule, for the preconditions on
  # data.aws_caller_identity.current: one sentence per rule, naming them.
  volume_problems = {
    type        = [for id, v in local.data_volumes : id if !contains(["gp2", "gp3", "io1", "io2", "st1", "sc1"], v.type)]
    size        = [for id, v in local.data_volumes : id if !(v.size_in_gibs >= 1 && v.size_in_gibs <= 65536 && floor(v.size_in_gibs) == v.size_in_gibs)]
    iops        = [for id, v in local.data_volumes : id if(v.iops != null && !contains(["gp3", "io1", "io2"], v.type)) || (v.iops == null && contains(["io1", "io2"], v.type))]
    throughput  = [for id, v in local.data_volumes : id if v.throughput_mib_per_sec != null && v.type != "gp3"]
    file_system = [for id, v in local.data_volumes : id if !contains(["ext4", "xfs"], v.file_system_type)]
    # The mount path reaches fstab and mount(8): safe characters only, so
    # a space cannot shift fstab's fields and a newline cannot add a line.
    mount_path = [for id, v in local.data_volumes : id if !(can(regex("^(/[A-Za-z0-9._@+-]+)+$", v.mount_path)) && !can(regex("/\\.\\.?(/|$)", v.mount_path)))]
    owner      = [for id, v in local.data_volumes : id if !(can(regex("^([a-z_][a-z0-9_-]{0,31}|[0-9]+)$", v.mount_path_owner_user)) && can(regex("^([a-z_][a-z0-9_-]{0,31}|[0-9]+)$", v.mount_path_owner_group)))]
    device     = [for id, v in local.data_volumes : id if !can(regex("^/dev/[a-z0-9]+$", v.device_name))]
  }

  # Node files as the agent takes them. A bare base64 string (the original
  # README's form) has no destination: it goes to node-files/<index>.
  # Files default to 0600 root:root: they may hold secrets.
  node_files = { for f in var.node_files : f.node_id => [
    for i, x in try(f.node_files_toupload, []) : {
      path           = try(tostring(x.destination), "/etc/stateful/node-files/${i}")
      content_base64 = try(tostring(x), tostring(x.contents))
      ssm_parameter  = ""
      mode           = try(tostring(x.mode), "0600")
      owner          = try(tostring(x.owner), "root")
      group          = try(tostring(x.group), "root")
    }
  ] }

  # Secret files: only the parameter's name travels; the agent reads and
  # decrypts the value on the node.
  secret_files = { for id in keys(local.nodes) : id => [
    for f in var.node_secret_files : {
      path           = f.destination
      content_base64 = ""
      ssm_parameter  = f.parameter
      mode           = f.mode
      owner          = f.owner
      group          = f.group
    } if f.node_id == id
  ] }

  # The original module's names (v0.8.0): AWS replaces a group or a launch
  # template whose name changes, so an upgraded cluster keeps them.
  # internal/cluster/tags.go declares the same patterns; a Go test checks
  # that the two agree.
  group_names      = { for id in keys(local.nodes) : id => "${var.app_name}-node-${id}" }
  launch_hook_name = "${var.app_name}-node-asg-hook"
  drain_hook_name  = "${var.app_name}-node-drain-hook"
  # Seconds the termination hook waits for a heartbeat from the drain.
  drain_hook_timeout = 600

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
    launch_hook    = local.launch_hook_name
    terminate_hook = var.drain_on_termination ? local.drain_hook_name : ""
    volume = {
      id              = ""
      device_hint     = local.data_volumes[id].device_name
      mount_path      = local.data_volumes[id].mount_path
      file_system     = local.data_volumes[id].file_system_type
      mount_options   = local.data_volumes[id].mount_params
      owner           = local.data_volumes[id].mount_path_owner_user
      group           = local.data_volumes[id].mount_path_owner_group
      recursive_chown = local.data_volumes[id].recursive_chown
      noexec          = var.data_volume_noexec
      offline_repair  = var.data_volume_offline_repair
    }
    files = [for f in concat(lookup(local.node_files, id, []), local.secret_files[id]) : {
      path           = f.path
      content_base64 = f.content_base64
      ssm_parameter  = f.ssm_parameter
      mode           = f.mode
      owner          = f.owner
      group          = f.group
    }]
    script = {
      inline_base64            = var.node_config_script == null ? "" : var.node_config_script
      s3_url                   = var.node_config_script_s3_url == null ? "" : var.node_config_script_s3_url
      s3_sha256                = try(var.node_config_script_s3.sha256, "")
      s3_expected_bucket_owner = var.node_config_script_s3 == null ? "" : coalesce(var.node_config_script_s3.expected_bucket_owner, local.account_id)
      s3_version_id            = try(coalesce(var.node_config_script_s3.version_id, ""), "")
    }
    timeouts = {
      command_seconds   = var.command_timeout_seconds
      volume_seconds    = 900
      device_seconds    = 300
      heartbeat_seconds = max(10, floor(var.asg_lifecycle_hook_heartbeat_timeout / 3))
      # The termination hook has its own timeout (modules/node).
      drain_heartbeat_seconds = floor(local.drain_hook_timeout / 3)
    }
    on_failure = var.node_failure_policy
  } }

  user_data = { for id, n in local.nodes : id => templatefile("${path.module}/templates/user_data.sh.tftpl", merge(local.agent_template_vars, {
    config_json = jsonencode(local.agent_config[id])
    region      = local.region
    node_id     = id
    asg_name    = local.agent_config[id].asg_name
    launch_hook = local.agent_config[id].launch_hook
    on_failure  = local.agent_config[id].on_failure
  })) }
}

data "aws_subnet" "node" {
  for_each = local.nodes

  id = each.value.node_subnet_id

  lifecycle {
    # AWS reserves the first four addresses and the last one of a subnet.
    # A subnet without a readable IPv4 CIDR is left to AWS to refuse.
    postcondition {
      condition = try(cidrhost("${each.value.node_ip}/${split("/", self.cidr_block)[1]}", 0) == cidrhost(self.cidr_block, 0) && !contains(
        [for i in [0, 1, 2, 3, -1] : cidrhost(self.cidr_block, i)], each.value.node_ip
      ), true)
      error_message = "Node ${each.key}'s node_ip ${each.value.node_ip} is not a usable address of its subnet ${each.value.node_subnet_id} (${self.cidr_block}): it must lie inside the subnet and not be one of the five addresses AWS reserves."
    }
  }
}

# Checks of inputs that span several variables or the merged per-node
# settings; each names the nodes it concerns.
data "aws_caller_identity" "current" {
  lifecycle {
    precondition {
      condition     = length(local.data_volume_inputs) == 1
      error_message = length(local.data_volume_inputs) == 0 ? "Set default_data_volume (the data volume of every node)." : "Set default_data_volume or its older name data_volume, not both."
    }
    precondition {
      condition     = (var.node_config_script_s3_url == null) == (var.node_config_script_s3 == null)
      error_message = "The node_config_script_s3_url runs as root: set node_config_script_s3 = { sha256 = \"...\" } with it (and only with it)."
    }
    precondition {
      condition     = length(setsubtract([for f in var.node_secret_files : f.node_id], keys(local.nodes))) == 0
      error_message = "The node_secret_files name node_id(s) ${join(", ", setsubtract([for f in var.node_secret_files : f.node_id], keys(local.nodes)))} that are not in nodes."
    }
    precondition {
      condition     = var.node_config_script != null || var.node_config_script_s3_url != null
      error_message = "Set node_config_script, node_config_script_s3_url, or both (the S3 object is tried first)."
    }
    precondition {
      condition     = length(local.volume_problems.type) == 0
      error_message = "The data volume type of node(s) ${join(", ", local.volume_problems.type)} must be one of gp2, gp3, io1, io2, st1 or sc1."
    }
    precondition {
      condition     = length(local.volume_problems.size) == 0
      error_message = "The data volume size_in_gibs of node(s) ${join(", ", local.volume_problems.size)} must be a whole number between 1 and 65536."
    }
    precondition {
      condition     = length(local.volume_problems.iops) == 0
      error_message = "The data volume of node(s) ${join(", ", local.volume_problems.iops)}: iops may be set only for types gp3, io1 and io2, and io1 and io2 require it."
    }
    precondition {
      condition     = length(local.volume_problems.throughput) == 0
      error_message = "The data volume of node(s) ${join(", ", local.volume_problems.throughput)}: throughput_mib_per_sec may be set only for type gp3."
    }
    precondition {
      condition     = length(local.volume_problems.file_system) == 0
      error_message = "The data volume file_system_type of node(s) ${join(", ", local.volume_problems.file_system)} must be ext4 or xfs."
    }
    precondition {
      condition     = length(local.volume_problems.mount_path) == 0
      error_message = "The data volume mount_path of node(s) ${join(", ", local.volume_problems.mount_path)} must be an absolute path other than / made of letters, digits and . _ @ + - (no spaces, newlines or . and .. components), such as /data."
    }
    precondition {
      condition     = length(local.volume_problems.owner) == 0
      error_message = "The data volume mount_path_owner_user and mount_path_owner_group of node(s) ${join(", ", local.volume_problems.owner)} must be user and group names (lowercase letters, digits, _ and -, up to 32) or numbers."
    }
    precondition {
      condition     = length(local.volume_problems.device) == 0
      error_message = "The data volume device_name of node(s) ${join(", ", local.volume_problems.device)} must look like /dev/sdf."
    }
    precondition {
      condition     = alltrue([for p in local.data_volume.mount_params : can(regex("^[^,\\s#]+$", p)) && !contains(["suid", "dev"], p)])
      error_message = "Each data volume mount_params entry must be one mount option without commas, spaces, tabs, newlines or #, such as noatime; suid and dev are refused (the volume is always mounted nosuid,nodev)."
    }
  }
}

module "cluster_nodes" {
  source   = "./modules/node"
  for_each = local.nodes

  name                     = local.group_names[each.key]
  node_id                  = each.key
  node_ip                  = each.value.node_ip
  subnet_id                = each.value.node_subnet_id
  availability_zone        = data.aws_subnet.node[each.key].availability_zone
  security_groups          = var.security_groups
  image_id                 = coalesce(each.value.node_image, var.node_image)
  instance_type            = var.instance_type
  key_name                 = var.node_key_name
  iam                      = local.node_iam
  secret_parameter_arns    = local.secret_parameter_arns[each.key]
  user_data                = local.user_data[each.key]
  data_volume              = local.data_volumes[each.key]
  launch_hook_name         = local.launch_hook_name
  drain_hook_name          = local.drain_hook_name
  drain_hook_timeout       = local.drain_hook_timeout
  root_volume              = var.root_volume
  kms_key_arn              = local.kms_key_arn
  allow_volume_replacement = var.allow_data_volume_replacement
  http_put_hop_limit       = var.http_put_response_hop_limit
  hook_heartbeat_timeout   = var.asg_lifecycle_hook_heartbeat_timeout
  drain_on_termination     = var.drain_on_termination
  tags                     = local.tags
  default_tags             = data.aws_default_tags.current.tags
  launch_tags              = var.launch_tags
  cluster_tag_key          = local.cluster_tag_key
  node_id_tag_key          = local.node_id_tag_key
}

# The provider's default_tags reach neither Auto Scaling groups nor the
# tags a group gives its instances at launch: the groups carry them, as the
# original v0.8.0 did.
data "aws_default_tags" "current" {}
