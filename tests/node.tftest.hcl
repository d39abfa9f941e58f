# Plan-time tests of modules/node on its own (mocked provider).

mock_provider "aws" {
  mock_resource "aws_launch_template" {
    defaults = { id = "lt-0123456789abcdef0", latest_version = 4 }
  }
  mock_resource "aws_network_interface" {
    defaults = { id = "eni-0123456789abcdef0" }
  }
}

variables {
  name              = "kafka-node-01"
  launch_hook_name  = "kafka-node-asg-hook"
  drain_hook_name   = "kafka-node-drain-hook"
  node_id           = "01"
  node_ip           = "10.0.2.10"
  subnet_id         = "subnet-0bbbbbbbbbbbbbbbb"
  availability_zone = "eu-west-1b"
  security_groups   = ["sg-0123456789abcdef0"]
  image_id          = "ami-0123456789abcdef0"
  instance_type     = "m6i.large"
  iam = {
    partition  = "aws", region = "eu-west-1", account_id = "123456789012", cluster_tag_key = "stateful:cluster", cluster = "kafka",
    s3_objects = [], ssm_access = "session-manager"
  }
  user_data              = "#!/bin/bash\necho hi\n"
  data_volume            = { size_in_gibs = 64, type = "gp3", throughput_mib_per_sec = 250 }
  root_volume            = { device_name = "/dev/xvda", size_in_gibs = 16, type = "gp3" }
  hook_heartbeat_timeout = 900
  tags                   = { "stateful:cluster" = "kafka", Team = "streaming" }
  node_id_tag_key        = "stateful:node-id"
}

run "group_of_one_in_the_node_az" {
  command = plan
  module {
    source = "./modules/node"
  }

  assert {
    condition     = aws_autoscaling_group.node.min_size == 1 && aws_autoscaling_group.node.max_size == 1 && aws_autoscaling_group.node.desired_capacity == 1
    error_message = "Exactly one instance per node."
  }
  assert {
    condition     = toset(aws_autoscaling_group.node.availability_zones) == toset(["eu-west-1b"]) && aws_autoscaling_group.node.health_check_type == "EC2"
    error_message = "The group lives in the node's AZ with EC2 health checks."
  }
  assert {
    condition     = aws_autoscaling_group.node.launch_template[0].id == "lt-0123456789abcdef0" && aws_autoscaling_group.node.launch_template[0].version == "4"
    error_message = "The group is pinned to its launch template's latest version."
  }
  assert {
    condition = [for h in aws_autoscaling_group.node.initial_lifecycle_hook : [h.name, h.lifecycle_transition, h.default_result, h.heartbeat_timeout]] == [
      ["kafka-node-asg-hook", "autoscaling:EC2_INSTANCE_LAUNCHING", "ABANDON", 900],
    ]
    error_message = "The launch hook exists from the group's creation, ABANDON by default."
  }
  assert {
    condition     = aws_autoscaling_lifecycle_hook.launch.name == "kafka-node-asg-hook" && aws_autoscaling_lifecycle_hook.launch.heartbeat_timeout == 900 && length(aws_autoscaling_lifecycle_hook.drain) == 0
    error_message = "The same hook is managed in place; no drain hook by default."
  }
}

run "eni_and_volume" {
  command = plan
  module {
    source = "./modules/node"
  }

  assert {
    condition     = aws_network_interface.node_network_interface.private_ips == toset(["10.0.2.10"]) && aws_network_interface.node_network_interface.security_groups == toset(["sg-0123456789abcdef0"])
    error_message = "The ENI holds the node's fixed IP and security groups."
  }
  assert {
    condition     = aws_ebs_volume.node_data.availability_zone == "eu-west-1b" && aws_ebs_volume.node_data.encrypted && aws_ebs_volume.node_data.final_snapshot && aws_ebs_volume.node_data.size == 64 && aws_ebs_volume.node_data.throughput == 250
    error_message = "The volume is encrypted, in the node's AZ, snapshotted on deletion."
  }
  assert {
    condition     = one(flatten([aws_ebs_volume.node_data.timeouts])).delete == "4h"
    error_message = "Terraform waits long enough for the final snapshot when it deletes the volume."
  }
  assert {
    condition     = aws_ebs_volume.node_data.tags["stateful:cluster"] == "kafka" && aws_ebs_volume.node_data.tags["stateful:node-id"] == "01"
    error_message = "The volume is tagged with cluster and node id (the agent finds it by them)."
  }
  assert {
    condition     = aws_launch_template.node.network_interfaces[0].device_index == 0 && aws_launch_template.node.network_interfaces[0].delete_on_termination == "false"
    error_message = "The ENI is at device index 0 and survives the instance."
  }
  assert {
    condition     = aws_launch_template.node.metadata_options[0].http_tokens == "required" && aws_launch_template.node.metadata_options[0].http_put_response_hop_limit == 1
    error_message = "IMDSv2 is required."
  }
  assert {
    condition     = base64decode(aws_launch_template.node.user_data) == "#!/bin/bash\necho hi\n" && aws_launch_template.node.block_device_mappings[0].ebs[0].encrypted == "true"
    error_message = "User data and an encrypted root volume."
  }
}

run "drain_hook" {
  command = plan
  module {
    source = "./modules/node"
  }
  variables {
    drain_on_termination = true
  }

  assert {
    condition     = aws_autoscaling_lifecycle_hook.drain[0].lifecycle_transition == "autoscaling:EC2_INSTANCE_TERMINATING" && aws_autoscaling_lifecycle_hook.drain[0].name == "kafka-node-drain-hook"
    error_message = "drain_on_termination adds the termination hook."
  }
}

# EC2 counts user data in bytes (16384 at most): 5466 three-byte characters
# are 16398 bytes, though only 5466 characters.
run "user_data_over_16k_bytes" {
  command = plan
  module {
    source = "./modules/node"
  }
  variables {
    user_data = join("", [for i in range(911) : "€€€€€€"])
  }

  expect_failures = [aws_launch_template.node]
}

run "user_data_at_16k_bytes" {
  command = plan
  module {
    source = "./modules/node"
  }
  variables {
    user_data = join("", concat([for i in range(910) : "€€€€€€"], ["€", "a"]))
  }

  assert {
    condition     = local.user_data_bytes == 16384
    error_message = "16384 bytes of user data are allowed."
  }
}

run "tags_reach_group_and_volume_not_the_template" {
  command = plan
  module {
    source = "./modules/node"
  }

  variables {
    default_tags = { Owner = "ops", Team = "default-team" }
  }

  assert {
    condition = { for t in aws_autoscaling_group.node.tag : t.key => [t.value, t.propagate_at_launch] } == {
      Owner              = ["ops", true]
      Team               = ["streaming", true]
      Name               = ["kafka-node-01", true]
      "stateful:cluster" = ["kafka", true]
      "stateful:node-id" = ["01", true]
    }
    error_message = "The group carries var.tags over the provider's default tags and the node's own, each propagated to its instances at launch."
  }
  assert {
    condition     = aws_ebs_volume.node_data.tags == tomap({ Team = "streaming", Name = "kafka-node-01", "stateful:cluster" = "kafka", "stateful:node-id" = "01" })
    error_message = "The data volume carries var.tags (the provider adds its default tags in tags_all)."
  }
  assert {
    condition = aws_launch_template.node.tags == tomap({ Name = "kafka-node-01", "stateful:cluster" = "kafka", "stateful:node-id" = "01" }) && jsonencode([for s in aws_launch_template.node.tag_specifications : [s.resource_type, s.tags]]) == jsonencode([
      ["instance", { Name = "kafka-node-01", "stateful:cluster" = "kafka", "stateful:node-id" = "01" }],
      ["volume", { Name = "kafka-node-01", "stateful:cluster" = "kafka", "stateful:node-id" = "01-root" }],
    ])
    error_message = "The launch template carries only the node's fixed identifying tags, so a tag edit makes no new version."
  }
}

run "key_arn_reaches_volume_and_template" {
  command = plan
  module {
    source = "./modules/node"
  }

  variables {
    kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/0b5f0a5c-1111-2222-3333-444455556666"
  }

  assert {
    condition     = aws_ebs_volume.node_data.kms_key_id == var.kms_key_arn && aws_launch_template.node.block_device_mappings[0].ebs[0].kms_key_id == var.kms_key_arn
    error_message = "The key's ARN reaches the data volume and the root volume of the template."
  }
  assert {
    condition     = terraform_data.volume_identity.input == { availability_zone = "eu-west-1b", kms_key_arn = var.kms_key_arn }
    error_message = "The volume's zone and key are remembered, for the replacement guard."
  }
}

run "launch_hash_ignores_tags" {
  command = plan
  module {
    source = "./modules/node"
  }

  assert {
    condition     = output.launch_sha256 == sha256(jsonencode({ image_id = "ami-0123456789abcdef0", instance_type = "m6i.large", key_name = null, user_data = base64encode(var.user_data), profile = "kafka-node-01-eu-west-1", hop_limit = 1, node_ip = "10.0.2.10", subnet_id = "subnet-0bbbbbbbbbbbbbbbb", root_volume = var.root_volume, kms_key_arn = null, launch_tags = {} }))
    error_message = "The roll trigger's hash covers what the node runs with, and no tag."
  }
}

run "launch_hash_same_after_a_tag_edit" {
  command = plan
  module {
    source = "./modules/node"
  }

  variables {
    tags         = { "stateful:cluster" = "kafka", Team = "platform", CostCenter = "42" }
    default_tags = { Owner = "ops" }
  }

  assert {
    condition     = output.launch_sha256 == sha256(jsonencode({ image_id = "ami-0123456789abcdef0", instance_type = "m6i.large", key_name = null, user_data = base64encode(var.user_data), profile = "kafka-node-01-eu-west-1", hop_limit = 1, node_ip = "10.0.2.10", subnet_id = "subnet-0bbbbbbbbbbbbbbbb", root_volume = var.root_volume, kms_key_arn = null, launch_tags = {} }))
    error_message = "A tag edit (var.tags or the provider's default tags) leaves the roll trigger's hash as it was."
  }
}

run "launch_hash_changes_with_the_image" {
  command = plan
  module {
    source = "./modules/node"
  }

  variables {
    image_id = "ami-0fedcba9876543210"
  }

  assert {
    condition     = output.launch_sha256 != sha256(jsonencode({ image_id = "ami-0123456789abcdef0", instance_type = "m6i.large", key_name = null, user_data = base64encode(var.user_data), profile = "kafka-node-01-eu-west-1", hop_limit = 1, node_ip = "10.0.2.10", subnet_id = "subnet-0bbbbbbbbbbbbbbbb", root_volume = var.root_volume, kms_key_arn = null, launch_tags = {} }))
    error_message = "A new image changes the hash, so the roll runs."
  }
}

run "launch_tags_reach_instance_and_root_volume_and_roll" {
  command = plan
  module {
    source = "./modules/node"
  }

  variables {
    launch_tags = { CostCenter = "42" }
  }

  assert {
    condition = jsonencode([for s in aws_launch_template.node.tag_specifications : [s.resource_type, s.tags]]) == jsonencode([
      ["instance", { CostCenter = "42", Name = "kafka-node-01", "stateful:cluster" = "kafka", "stateful:node-id" = "01" }],
      ["volume", { CostCenter = "42", Name = "kafka-node-01", "stateful:cluster" = "kafka", "stateful:node-id" = "01-root" }],
    ])
    error_message = "launch_tags are put on the instance and its root volume at creation, under the node's identifying tags."
  }
  assert {
    condition     = output.launch_sha256 != sha256(jsonencode({ image_id = "ami-0123456789abcdef0", instance_type = "m6i.large", key_name = null, user_data = base64encode(var.user_data), profile = "kafka-node-01-eu-west-1", hop_limit = 1, node_ip = "10.0.2.10", subnet_id = "subnet-0bbbbbbbbbbbbbbbb", root_volume = var.root_volume, kms_key_arn = null, launch_tags = {} }))
    error_message = "A launch-tag change is a new template version, so the roll trigger's hash changes and the nodes roll to it."
  }
}

run "kms_key_id_not_an_arn" {
  command = plan
  module {
    source = "./modules/node"
  }

  variables {
    kms_key_arn = "0b5f0a5c-1111-2222-3333-444455556666"
  }

  expect_failures = [var.kms_key_arn]
}
