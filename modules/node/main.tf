locals {
  # The node's identifying tags: fixed for the node's life, so the launch
  # template, whose every change is a new version, carries only these.
  # stateful commands and the node's IAM policy find resources by them.
  node_identity = { (var.cluster_tag_key) = var.tags[var.cluster_tag_key], (var.node_id_tag_key) = var.node_id }
  node_tags     = merge(local.node_identity, { Name = var.name })
  # Everything else (var.tags, the provider's default tags) reaches the
  # group, which propagates it to each instance at launch, and the data
  # volume: a tag edit changes no launch-template version. Resources the
  # provider tags itself get its default tags in tags_all.
  tags       = merge(var.tags, local.node_tags)
  group_tags = merge(var.default_tags, var.tags, local.node_tags)

  # Everything a node runs with, in one place: the launch template is built
  # from it, and its hash (the launch_sha256 output) is what the root
  # module's roll trigger watches, so that only a change here starts a roll
  # (never a tag edit, nor the real provider's unknown latest_version after
  # a change of its default tags).
  launch = {
    image_id      = var.image_id
    instance_type = var.instance_type
    key_name      = var.key_name
    user_data     = base64encode(var.user_data)
    profile       = aws_iam_instance_profile.node.name
    hop_limit     = var.http_put_hop_limit
    node_ip       = var.node_ip
    subnet_id     = var.subnet_id
    root_volume   = var.root_volume
    kms_key_arn   = var.kms_key_arn
    launch_tags   = var.launch_tags
  }

  # The data volume's settings that replace it when they change.
  volume_identity = {
    availability_zone = var.availability_zone
    kms_key_arn       = var.kms_key_arn
  }

  # The user data's size in bytes, from its base64 form (EC2 counts the raw
  # bytes, 16 KB at most; length() would count characters).
  user_data_base64 = local.launch.user_data
  # The count is no secret, though the user data is: nonsensitive lets the
  # precondition's message say it.
  user_data_bytes = nonsensitive(length(local.user_data_base64) / 4 * 3 - length(regex("=*$", local.user_data_base64)))
}

# Addresses of the original module (v0.8.0) that this module names
# differently; the volume, ENI and launch template kept theirs.
moved {
  from = aws_autoscaling_group.node_asg
  to   = aws_autoscaling_group.node
}

# The node's identity: a fixed IP that moves from instance to instance.
resource "aws_network_interface" "node_network_interface" {
  subnet_id       = var.subnet_id
  private_ips     = [var.node_ip]
  security_groups = var.security_groups
  description     = "stateful node ${var.name}"
  tags            = local.tags
}

# What AWS cannot change on an existing volume: the provider replaces the
# volume (a blank one) when either changes. This remembers the values the
# volume was created with (ignore_changes keeps the first input), so the
# precondition below can refuse a plan that would replace it; the opt-in
# makes it follow the configuration again.
resource "terraform_data" "volume_identity" {
  input            = local.volume_identity
  triggers_replace = var.allow_volume_replacement ? local.volume_identity : null

  lifecycle {
    ignore_changes = [input]
  }
}

# The node's data, in the subnet's AZ. The agent finds it by its tags.
resource "aws_ebs_volume" "node_data" {
  availability_zone = var.availability_zone
  size              = var.data_volume.size_in_gibs
  type              = var.data_volume.type
  iops              = var.data_volume.iops
  throughput        = var.data_volume.throughput_mib_per_sec
  encrypted         = true
  kms_key_id        = var.kms_key_arn
  final_snapshot    = var.data_volume.final_snapshot
  # The provider adds its default tags itself (tags_all).
  # data_volume.tags may rename it, never re-identify it.
  tags = merge(local.tags, var.data_volume.tags, local.node_identity)

  # Deleting the volume first takes its final snapshot, which can take
  # hours for a large volume written for the first time.
  timeouts {
    delete = var.volume_delete_timeout
  }

  lifecycle {
    precondition {
      condition     = var.allow_volume_replacement || terraform_data.volume_identity.output == null || terraform_data.volume_identity.output == local.volume_identity
      error_message = "This plan would replace node ${var.node_id}'s data volume with a blank one: its ${join(" and ", [for k, v in local.volume_identity : k if try(terraform_data.volume_identity.output[k], null) != v])} changed (from ${jsonencode(terraform_data.volume_identity.output)} to ${jsonencode(local.volume_identity)}), which AWS cannot change on an existing volume. Undo the change, or set allow_data_volume_replacement = true once you have a snapshot or copy of the data."
    }
  }
}

resource "aws_launch_template" "node" {
  name                   = var.name
  description            = "stateful node ${var.name}"
  image_id               = local.launch.image_id
  instance_type          = local.launch.instance_type
  key_name               = local.launch.key_name
  user_data              = local.launch.user_data
  update_default_version = true

  # The node's own profile (iam.tf): nothing in it reaches another node.
  iam_instance_profile {
    name = local.launch.profile
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = local.launch.hop_limit
    instance_metadata_tags      = "disabled"
  }

  # The ENI at device index 0 is what gives every instance of the node the
  # same IP; it stays when the instance goes.
  network_interfaces {
    device_index          = 0
    network_interface_id  = aws_network_interface.node_network_interface.id
    delete_on_termination = false
  }

  block_device_mappings {
    device_name = local.launch.root_volume.device_name

    ebs {
      volume_size           = local.launch.root_volume.size_in_gibs
      volume_type           = local.launch.root_volume.type
      encrypted             = true
      kms_key_id            = local.launch.kms_key_arn
      delete_on_termination = true
    }
  }

  # Only the fixed identifying tags: the group adds the rest to each
  # instance at launch. Auto Scaling propagates no tag to volumes, so the
  # root volume carries these only (the README says so).
  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.launch_tags, local.node_tags)
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(var.launch_tags, local.node_tags, { (var.node_id_tag_key) = "${var.node_id}-root" })
  }

  tags = local.node_tags

  lifecycle {
    precondition {
      condition     = local.user_data_bytes <= 16384
      error_message = "The user data of node ${var.node_id} is ${local.user_data_bytes} bytes, over EC2's 16384: move the node script to node_config_script_s3_url or shrink the node files."
    }
  }
}

# A group of exactly one, in the ENI's AZ (a group naming an existing ENI
# must be given AZs, not subnets).
resource "aws_autoscaling_group" "node" {
  name                      = var.name
  min_size                  = 1
  max_size                  = 1
  desired_capacity          = 1
  availability_zones        = [var.availability_zone]
  health_check_type         = "EC2"
  health_check_grace_period = 0
  # The roll (terraform_data.roll in the root module) waits for service.
  wait_for_capacity_timeout = "0"
  # The original module's group metrics, kept for the dashboards built on them.
  enabled_metrics = [
    "GroupDesiredCapacity", "GroupInServiceInstances", "GroupMaxSize", "GroupMinSize", "GroupPendingInstances",
    "GroupStandbyInstances", "GroupTerminatingInstances", "GroupTotalInstances",
  ]
  metrics_granularity = "1Minute"

  launch_template {
    id      = aws_launch_template.node.id
    version = aws_launch_template.node.latest_version
  }

  # Present from the group's creation, so the very first instance waits in
  # Pending:Wait for its agent.
  initial_lifecycle_hook {
    name                 = var.launch_hook_name
    lifecycle_transition = "autoscaling:EC2_INSTANCE_LAUNCHING"
    default_result       = "ABANDON"
    heartbeat_timeout    = var.hook_heartbeat_timeout
  }

  # Authoritative, as the original's: var.tags, the provider's default
  # tags (which the provider does not apply to groups itself) and the node's
  # own, each propagated to the instances the group launches.
  dynamic "tag" {
    for_each = local.group_tags
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  lifecycle {
    # Hook settings change through aws_autoscaling_lifecycle_hook.launch
    # below, in place: a changed initial_lifecycle_hook would otherwise
    # replace every node's group at once. `stateful roll` suspends the
    # group's Launch process while the old instance releases the ENI:
    # Terraform must not resume it behind the roll's back.
    ignore_changes = [initial_lifecycle_hook, suspended_processes]
  }

  # Destroyed before the volume, so the instance that mounts the volume is
  # gone before Terraform deletes it (the agent finds the volume by its
  # tags, so nothing else orders the two).
  depends_on = [aws_ebs_volume.node_data]
}

# The same launch hook, managed on its own so that later changes of its
# timeout update the existing hook in place. Its name is the original
# module's, so on an upgrade it updates the group's existing hook
# (PutLifecycleHook) rather than adding a second one.
resource "aws_autoscaling_lifecycle_hook" "launch" {
  name                   = var.launch_hook_name
  autoscaling_group_name = aws_autoscaling_group.node.name
  lifecycle_transition   = "autoscaling:EC2_INSTANCE_LAUNCHING"
  default_result         = "ABANDON"
  heartbeat_timeout      = var.hook_heartbeat_timeout
}

resource "aws_autoscaling_lifecycle_hook" "drain" {
  count = var.drain_on_termination ? 1 : 0

  name                   = var.drain_hook_name
  autoscaling_group_name = aws_autoscaling_group.node.name
  lifecycle_transition   = "autoscaling:EC2_INSTANCE_TERMINATING"
  default_result         = "CONTINUE"
  heartbeat_timeout      = var.drain_hook_timeout
}
