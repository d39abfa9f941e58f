# Issue 22: what the module refuses at plan time, and the original role's
# default (none for a new cluster, kept when it exists).

mock_provider "aws" {
  mock_data "aws_subnet" {
    defaults = {
      arn               = "arn:aws:ec2:eu-west-1:123456789012:subnet/subnet-0aaaaaaaaaaaaaaaa"
      availability_zone = "eu-west-1a"
      cidr_block        = "10.0.0.0/16"
    }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_iam_roles" {
    defaults = { names = [] }
  }
}

variables {
  app_name      = "kafka"
  node_image    = "ami-0123456789abcdef0"
  instance_type = "m6i.large"
  nodes = [
    { node_id = "00", node_ip = "10.0.1.10", node_subnet_id = "subnet-0aaaaaaaaaaaaaaaa" },
    { node_id = "01", node_ip = "10.0.2.10", node_subnet_id = "subnet-0bbbbbbbbbbbbbbbb" },
  ]
  node_config_script = "IyEvYmluL2Jhc2gKY29uZmlndXJlX2NsdXN0ZXJfbm9kZSgpIHsgOjsgfQp3YWl0X2Zvcl9oZWFsdGh5X2NsdXN0ZXIoKSB7IDo7IH0K"
  security_groups    = ["sg-0123456789abcdef0"]
  node_files         = []
  default_data_volume = {
    file_system_type       = "xfs"
    mount_path             = "/data"
    mount_path_owner_user  = "kafka"
    mount_path_owner_group = "kafka"
    size_in_gibs           = 16
    type                   = "gp3"
    mount_params           = ["noatime"]
  }
}

run "new_cluster_gets_no_original_role" {
  command = plan

  assert {
    condition     = length(aws_iam_role.original) == 0 && length(aws_iam_policy.original) == 0 && output.node_iam_role_name == null
    error_message = "A new cluster (no <app_name>-role in the account) gets no original role."
  }
  assert {
    condition     = local.agent_config["00"].volume.noexec == false && local.agent_config["00"].volume.offline_repair == false
    error_message = "The agent mounts the volume without noexec and runs no offline repair unless asked."
  }
}

run "upgrade_keeps_the_original_role" {
  command = plan

  override_data {
    target = data.aws_iam_roles.original
    values = { names = ["kafka-role"] }
  }

  assert {
    condition     = length(aws_iam_role.original) == 1 && length(aws_iam_policy.original) == 1 && length(aws_iam_role_policy_attachment.original_ssm) == 1
    error_message = "With the original's role in the account (an upgrade), it is kept."
  }
}

run "explicit_false_drops_it" {
  command = plan

  variables {
    keep_original_role = false
  }

  assert {
    condition     = length(aws_iam_role.original) == 0
    error_message = "keep_original_role = false deletes the original role."
  }
}

run "volume_options" {
  command = plan

  variables {
    data_volume_noexec         = true
    data_volume_offline_repair = true
  }

  assert {
    condition     = local.agent_config["00"].volume.noexec && local.agent_config["00"].volume.offline_repair
    error_message = "The volume options reach the agent's config."
  }
}

run "node_id_ending_in_root" {
  command = plan

  variables {
    nodes = [{ node_id = "00-root", node_ip = "10.0.1.10", node_subnet_id = "subnet-0aaaaaaaaaaaaaaaa" }]
  }

  expect_failures = [var.nodes]
}

run "mount_param_with_a_tab" {
  command = plan

  variables {
    default_data_volume = { file_system_type = "xfs", mount_path = "/data", mount_path_owner_user = "u", mount_path_owner_group = "g", size_in_gibs = 16, type = "gp3", mount_params = ["noatime\tdefaults"] }
  }

  expect_failures = [data.aws_caller_identity.current]
}

run "mount_param_with_a_newline" {
  command = plan

  variables {
    default_data_volume = { file_system_type = "xfs", mount_path = "/data", mount_path_owner_user = "u", mount_path_owner_group = "g", size_in_gibs = 16, type = "gp3", mount_params = ["noatime\n/dev/sda1"] }
  }

  expect_failures = [data.aws_caller_identity.current]
}

run "mount_param_with_a_hash" {
  command = plan

  variables {
    default_data_volume = { file_system_type = "xfs", mount_path = "/data", mount_path_owner_user = "u", mount_path_owner_group = "g", size_in_gibs = 16, type = "gp3", mount_params = ["noatime#"] }
  }

  expect_failures = [data.aws_caller_identity.current]
}

run "mount_param_suid" {
  command = plan

  variables {
    default_data_volume = { file_system_type = "xfs", mount_path = "/data", mount_path_owner_user = "u", mount_path_owner_group = "g", size_in_gibs = 16, type = "gp3", mount_params = ["suid"] }
  }

  expect_failures = [data.aws_caller_identity.current]
}
