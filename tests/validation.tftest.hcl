# Every validation rejects its bad input (plan-time, mocked provider).

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
}

variables {
  app_name      = "kafka"
  node_image    = "ami-0123456789abcdef0"
  instance_type = "m6i.large"
  nodes = [
    { node_id = "00", node_ip = "10.0.1.10", node_subnet_id = "subnet-0aaaaaaaaaaaaaaaa" },
    { node_id = "01", node_ip = "10.0.2.10", node_subnet_id = "subnet-0bbbbbbbbbbbbbbbb", node_image = "ami-0fedcba9876543210", node_data_disk = { size_in_gibs = "64", type = "io2", iops = "4000" } },
    { node_id = "02", node_ip = "10.0.3.10", node_subnet_id = "subnet-0cccccccccccccccc" },
  ]
  node_files = [
    { node_id = "00", node_files_toupload = [{ contents = "aWQ9MDAK", destination = "/etc/kafka/node.properties" }] },
    { node_id = "01", node_files_toupload = [{ contents = "aWQ9MDEK", destination = "/etc/kafka/node.properties", mode = "0600" }] },
  ]
  node_config_script = "IyEvYmluL2Jhc2gKY29uZmlndXJlX2NsdXN0ZXJfbm9kZSgpIHsgOjsgfQp3YWl0X2Zvcl9oZWFsdGh5X2NsdXN0ZXIoKSB7IDo7IH0K"
  security_groups    = ["sg-0123456789abcdef0"]
  default_data_volume = {
    file_system_type       = "xfs"
    mount_path             = "/data"
    mount_path_owner_user  = "kafka"
    mount_path_owner_group = "kafka"
    size_in_gibs           = 16
    type                   = "gp3"
    mount_params           = ["noatime"]
  }
  tags = { Team = "streaming" }
}

run "bad_app_name" {
  command = plan

  variables {
    app_name = "9 lives!"
  }

  expect_failures = [var.app_name]
}

run "no_nodes" {
  command = plan

  variables {
    nodes = []
  }

  expect_failures = [var.nodes]
}

run "duplicate_node_ids" {
  command = plan

  variables {
    nodes = [{ node_id = "00", node_ip = "10.0.1.10", node_subnet_id = "subnet-0aaaaaaaaaaaaaaaa" }, { node_id = "00", node_ip = "10.0.1.11", node_subnet_id = "subnet-0aaaaaaaaaaaaaaaa" }]
  }

  expect_failures = [var.nodes]
}

run "duplicate_node_ips" {
  command = plan

  variables {
    nodes = [{ node_id = "00", node_ip = "10.0.1.10", node_subnet_id = "subnet-0aaaaaaaaaaaaaaaa" }, { node_id = "01", node_ip = "10.0.1.10", node_subnet_id = "subnet-0aaaaaaaaaaaaaaaa" }]
  }

  expect_failures = [var.nodes]
}

run "bad_node_id" {
  command = plan

  variables {
    nodes = [{ node_id = "a b", node_ip = "10.0.1.10", node_subnet_id = "subnet-0aaaaaaaaaaaaaaaa" }]
  }

  expect_failures = [var.nodes]
}

run "bad_node_ip" {
  command = plan

  variables {
    nodes = [{ node_id = "00", node_ip = "10.0.1.300", node_subnet_id = "subnet-0aaaaaaaaaaaaaaaa" }]
  }

  expect_failures = [var.nodes]
}

run "duplicate_node_files" {
  command = plan

  variables {
    node_files = [{ node_id = "00", node_files_toupload = [{ contents = "eA==", destination = "/etc/a" }] }, { node_id = "00", node_files_toupload = [{ contents = "eQ==", destination = "/etc/b" }] }]
  }

  expect_failures = [var.node_files]
}

run "node_file_without_destination" {
  command = plan

  variables {
    node_files = [{ node_id = "00", node_files_toupload = [{ contents = "eA==" }] }]
  }

  expect_failures = [var.node_files]
}

run "node_files_without_node_id" {
  command = plan

  variables {
    node_files = [{ node_files_toupload = [] }]
  }

  expect_failures = [var.node_files]
}

run "relative_node_file" {
  command = plan

  variables {
    node_files = [{ node_id = "00", node_files_toupload = [{ contents = "eA==", destination = "etc/x" }] }]
  }

  expect_failures = [var.node_files]
}

run "node_file_not_base64" {
  command = plan

  variables {
    node_files = [{ node_id = "00", node_files_toupload = [{ contents = "not base64!", destination = "/etc/x" }] }]
  }

  expect_failures = [var.node_files]
}

run "node_file_bad_mode" {
  command = plan

  variables {
    node_files = [{ node_id = "00", node_files_toupload = [{ contents = "eA==", destination = "/etc/x", mode = "rw-r--r--" }] }]
  }

  expect_failures = [var.node_files]
}

run "node_files_unknown_node" {
  command = plan

  variables {
    node_files = [{ node_id = "07", node_files_toupload = [{ contents = "eA==", destination = "/etc/x" }] }]
  }

  expect_failures = [output.node_id_to_node_userdata_script_map]
}

run "script_not_base64" {
  command = plan

  variables {
    node_config_script = "#!/bin/bash"
  }

  expect_failures = [var.node_config_script]
}

run "bad_script_s3_url" {
  command = plan

  variables {
    node_config_script_s3_url = "https://bucket/key"
  }

  expect_failures = [var.node_config_script_s3_url]
}

run "bad_file_system" {
  command = plan

  variables {
    default_data_volume = { file_system_type = "btrfs", mount_path = "/data", mount_path_owner_user = "u", mount_path_owner_group = "g", size_in_gibs = 16, type = "gp3" }
  }

  expect_failures = [data.aws_caller_identity.current]
}

run "bad_volume_type" {
  command = plan

  variables {
    default_data_volume = { file_system_type = "xfs", mount_path = "/data", mount_path_owner_user = "u", mount_path_owner_group = "g", size_in_gibs = 16, type = "magnetic" }
  }

  expect_failures = [data.aws_caller_identity.current]
}

run "bad_volume_size" {
  command = plan

  variables {
    default_data_volume = { file_system_type = "xfs", mount_path = "/data", mount_path_owner_user = "u", mount_path_owner_group = "g", size_in_gibs = 0, type = "gp3" }
  }

  expect_failures = [data.aws_caller_identity.current]
}

run "bad_mount_path" {
  command = plan

  variables {
    default_data_volume = { file_system_type = "xfs", mount_path = "/", mount_path_owner_user = "u", mount_path_owner_group = "g", size_in_gibs = 16, type = "gp3" }
  }

  expect_failures = [data.aws_caller_identity.current]
}

run "bad_mount_params" {
  command = plan

  variables {
    default_data_volume = { file_system_type = "xfs", mount_path = "/data", mount_path_owner_user = "u", mount_path_owner_group = "g", size_in_gibs = 16, type = "gp3", mount_params = ["noatime,nodev"] }
  }

  expect_failures = [data.aws_caller_identity.current]
}

# The original's default_data_volume and its older README's data_volume: one or the other.
run "both_data_volume_names" {
  command = plan

  variables {
    data_volume = { file_system_type = "xfs", mount_path = "/data", mount_path_owner_user = "u", mount_path_owner_group = "g", size_in_gibs = 16, type = "gp3" }
  }

  expect_failures = [data.aws_caller_identity.current]
}

run "no_data_volume" {
  command = plan

  variables {
    default_data_volume = null
  }

  expect_failures = [data.aws_caller_identity.current]
}

run "iops_on_gp2" {
  command = plan

  variables {
    default_data_volume = { file_system_type = "xfs", mount_path = "/data", mount_path_owner_user = "u", mount_path_owner_group = "g", size_in_gibs = 16, type = "gp2", iops = 3000 }
  }

  expect_failures = [data.aws_caller_identity.current]
}

run "io2_without_iops" {
  command = plan

  variables {
    node_files = []
    nodes = [
      { node_id = "00", node_ip = "10.0.1.10", node_subnet_id = "subnet-0aaaaaaaaaaaaaaaa", node_data_disk = { type = "io2" } },
    ]
  }

  expect_failures = [data.aws_caller_identity.current]
}

run "throughput_on_io1" {
  command = plan

  variables {
    node_files = []
    nodes = [
      { node_id = "00", node_ip = "10.0.1.10", node_subnet_id = "subnet-0aaaaaaaaaaaaaaaa", node_data_disk = { type = "io1", iops = "3000", throughput_mib_per_sec = "500" } },
    ]
  }

  expect_failures = [data.aws_caller_identity.current]
}

run "node_data_disk_bad_size" {
  command = plan

  variables {
    node_files = []
    nodes = [
      { node_id = "00", node_ip = "10.0.1.10", node_subnet_id = "subnet-0aaaaaaaaaaaaaaaa", node_data_disk = { size_in_gibs = "a lot" } },
    ]
  }

  expect_failures = [var.nodes]
}

run "node_data_disk_unknown_key" {
  command = plan

  variables {
    node_files = []
    nodes = [
      { node_id = "00", node_ip = "10.0.1.10", node_subnet_id = "subnet-0aaaaaaaaaaaaaaaa", node_data_disk = { sise_in_gibs = "100" } },
    ]
  }

  expect_failures = [var.nodes]
}

run "node_data_disk_bad_file_system" {
  command = plan

  variables {
    node_files = []
    nodes = [
      { node_id = "00", node_ip = "10.0.1.10", node_subnet_id = "subnet-0aaaaaaaaaaaaaaaa", node_data_disk = { file_system_type = "zfs" } },
    ]
  }

  expect_failures = [data.aws_caller_identity.current]
}

run "no_node_script" {
  command = plan

  variables {
    node_config_script = null
  }

  expect_failures = [data.aws_caller_identity.current]
}

run "node_ip_outside_its_subnet" {
  command = plan

  variables {
    node_files = []
    nodes = [
      { node_id = "00", node_ip = "10.1.0.10", node_subnet_id = "subnet-0aaaaaaaaaaaaaaaa" },
    ]
  }

  expect_failures = [data.aws_subnet.node["00"]]
}

run "node_ip_reserved_by_aws" {
  command = plan

  variables {
    node_files = []
    nodes = [
      { node_id = "00", node_ip = "10.0.0.3", node_subnet_id = "subnet-0aaaaaaaaaaaaaaaa" },
    ]
  }

  expect_failures = [data.aws_subnet.node["00"]]
}

run "bad_image" {
  command = plan

  variables {
    node_image = "ubuntu-22.04"
  }

  expect_failures = [var.node_image]
}

run "inservice_timeout_out_of_range" {
  command = plan

  variables {
    asg_inservice_timeout_in_mins = 0
  }

  expect_failures = [var.asg_inservice_timeout_in_mins]
}

run "hook_timeout_out_of_range" {
  command = plan

  variables {
    asg_lifecycle_hook_heartbeat_timeout = 7201
  }

  expect_failures = [var.asg_lifecycle_hook_heartbeat_timeout]
}

run "command_timeout_out_of_range" {
  command = plan

  variables {
    command_timeout_seconds = 10
  }

  expect_failures = [var.command_timeout_seconds]
}

run "hop_limit_out_of_range" {
  command = plan

  variables {
    http_put_response_hop_limit = 65
  }

  expect_failures = [var.http_put_response_hop_limit]
}

run "bad_root_volume" {
  command = plan

  variables {
    root_volume = { device_name = "/dev/xvda", size_in_gibs = 16, type = "sc1" }
  }

  expect_failures = [var.root_volume]
}

run "bad_kms_key" {
  command = plan

  variables {
    kms_key_id = "alias/ebs"
  }

  expect_failures = [var.kms_key_id]
}

run "kms_alias_arn" {
  command = plan

  variables {
    kms_key_id = "arn:aws:kms:eu-west-1:123456789012:alias/ebs"
  }

  expect_failures = [var.kms_key_id]
}

run "two_agent_sources" {
  command = plan

  variables {
    agent = { path = "/usr/bin/stateful", s3_uri = "s3://b/stateful" }
  }

  expect_failures = [var.agent]
}

run "agent_url_without_sha256" {
  command = plan

  variables {
    agent = { url = "https://example.com/stateful" }
  }

  expect_failures = [var.agent]
}

run "bad_agent_s3_uri" {
  command = plan

  variables {
    agent = { s3_uri = "bucket/stateful" }
  }

  expect_failures = [var.agent]
}

run "bad_failure_policy" {
  command = plan

  variables {
    node_failure_policy = "retry"
  }

  expect_failures = [var.node_failure_policy]
}

run "roll_max_unavailable_zero" {
  command = plan

  variables {
    roll = { max_unavailable = "0" }
  }

  expect_failures = [var.roll]
}

run "roll_max_unavailable_not_a_number" {
  command = plan

  variables {
    roll = { max_unavailable = "half" }
  }

  expect_failures = [var.roll]
}

run "roll_zone_budget_without_by_zone" {
  command = plan

  variables {
    roll = { max_unavailable = "zone" }
  }

  expect_failures = [var.roll]
}

run "roll_negative_canary" {
  command = plan

  variables {
    roll = { canary = -1 }
  }

  expect_failures = [var.roll]
}

run "roll_fractional_canary" {
  command = plan

  variables {
    roll = { canary = 1.5 }
  }

  expect_failures = [var.roll]
}

run "roll_verify_without_canary" {
  command = plan

  variables {
    roll = { verify = "curl -fsS http://10.0.1.10:2379/health" }
  }

  expect_failures = [var.roll]
}

run "roll_soak_without_canary" {
  command = plan

  variables {
    roll = { soak = "10m" }
  }

  expect_failures = [var.roll]
}

run "roll_empty_verify" {
  command = plan

  variables {
    roll = { canary = 1, verify = "  " }
  }

  expect_failures = [var.roll]
}

run "roll_bad_soak" {
  command = plan

  variables {
    roll = { canary = 1, soak = "ten minutes" }
  }

  expect_failures = [var.roll]
}

run "mount_path_with_a_newline" {
  command = plan

  variables {
    default_data_volume = { file_system_type = "xfs", mount_path = "/data\n/dev/sdz /etc xfs defaults 0 0", mount_path_owner_user = "u", mount_path_owner_group = "g", size_in_gibs = 16, type = "gp3" }
  }

  expect_failures = [data.aws_caller_identity.current]
}

run "mount_path_with_a_space" {
  command = plan

  variables {
    default_data_volume = { file_system_type = "xfs", mount_path = "/my data", mount_path_owner_user = "u", mount_path_owner_group = "g", size_in_gibs = 16, type = "gp3" }
  }

  expect_failures = [data.aws_caller_identity.current]
}

run "mount_path_override_with_dot_dot" {
  command = plan

  variables {
    nodes = [{ node_id = "00", node_ip = "10.0.1.10", node_subnet_id = "subnet-0aaaaaaaaaaaaaaaa", node_data_disk = { mount_path = "/data/../etc" } }]
  }

  expect_failures = [data.aws_caller_identity.current]
}

run "mount_owner_with_a_space" {
  command = plan

  variables {
    default_data_volume = { file_system_type = "xfs", mount_path = "/data", mount_path_owner_user = "kafka user", mount_path_owner_group = "g", size_in_gibs = 16, type = "gp3" }
  }

  expect_failures = [data.aws_caller_identity.current]
}

run "bad_device_name" {
  command = plan

  variables {
    default_data_volume = { file_system_type = "xfs", mount_path = "/data", mount_path_owner_user = "u", mount_path_owner_group = "g", size_in_gibs = 16, type = "gp3", device_name = "/dev/sdf; reboot" }
  }

  expect_failures = [data.aws_caller_identity.current]
}

run "agent_s3_without_sha256" {
  command = plan

  variables {
    agent = { s3_uri = "s3://bucket/stateful" }
  }

  expect_failures = [var.agent]
}

run "agent_s3_bad_bucket_owner" {
  command = plan

  variables {
    agent = { s3_uri = "s3://bucket/stateful", sha256 = "abababababababababababababababababababababababababababababababab", expected_bucket_owner = "me" }
  }

  expect_failures = [var.agent]
}

run "agent_version_id_without_s3" {
  command = plan

  variables {
    agent = { version_id = "v1" }
  }

  expect_failures = [var.agent]
}

run "script_s3_without_sha256" {
  command = plan

  variables {
    node_config_script_s3_url = "s3://bucket/node.sh"
  }

  expect_failures = [data.aws_caller_identity.current]
}

run "script_s3_bad_sha256" {
  command = plan

  variables {
    node_config_script_s3_url = "s3://bucket/node.sh"
    node_config_script_s3     = { sha256 = "not-a-sum" }
  }

  expect_failures = [var.node_config_script_s3]
}

run "bad_ssm_access" {
  command = plan

  variables {
    ssm_access = "full"
  }

  expect_failures = [var.ssm_access]
}

run "secret_file_bad_parameter" {
  command = plan

  variables {
    node_secret_files = [{ node_id = "00", parameter = "/kafka/*", destination = "/etc/kafka/tls.key" }]
  }

  expect_failures = [var.node_secret_files]
}

run "secret_file_destination_with_dot_dot" {
  command = plan

  variables {
    node_secret_files = [{ node_id = "00", parameter = "/kafka/tls.key", destination = "/etc/kafka/../shadow" }]
  }

  expect_failures = [var.node_secret_files]
}

run "secret_file_bad_mode" {
  command = plan

  variables {
    node_secret_files = [{ node_id = "00", parameter = "/kafka/tls.key", destination = "/etc/kafka/tls.key", mode = "rw" }]
  }

  expect_failures = [var.node_secret_files]
}

run "secret_file_bad_owner" {
  command = plan

  variables {
    node_secret_files = [{ node_id = "00", parameter = "/kafka/tls.key", destination = "/etc/kafka/tls.key", owner = "root;id" }]
  }

  expect_failures = [var.node_secret_files]
}

run "secret_file_of_an_unknown_node" {
  command = plan

  variables {
    node_secret_files = [{ node_id = "07", parameter = "/kafka/tls.key", destination = "/etc/kafka/tls.key" }]
  }

  expect_failures = [data.aws_caller_identity.current]
}

run "bad_secret_files_kms_key" {
  command = plan

  variables {
    secret_files_kms_key_id = "alias/aws/ssm"
  }

  expect_failures = [var.secret_files_kms_key_id]
}

run "node_ids_differing_only_in_case" {
  command = plan

  variables {
    nodes = [
      { node_id = "a1", node_ip = "10.0.1.10", node_subnet_id = "subnet-0aaaaaaaaaaaaaaaa" },
      { node_id = "A1", node_ip = "10.0.1.11", node_subnet_id = "subnet-0aaaaaaaaaaaaaaaa" },
    ]
  }

  expect_failures = [var.nodes]
}

run "roll_profile_and_role" {
  command = plan

  variables {
    roll = { profile = "prod", role_arn = "arn:aws:iam::123456789012:role/deploy" }
  }

  expect_failures = [var.roll]
}

run "roll_role_not_a_role_arn" {
  command = plan

  variables {
    roll = { role_arn = "arn:aws:iam::123456789012:user/deploy" }
  }

  expect_failures = [var.roll]
}

run "roll_profile_with_a_space" {
  command = plan

  variables {
    roll = { profile = "prod deploy" }
  }

  expect_failures = [var.roll]
}

run "roll_empty_pre_check" {
  command = plan

  variables {
    roll = { pre_check = " " }
  }

  expect_failures = [var.roll]
}

run "roll_unknown_app" {
  command = plan

  variables {
    roll = { app = "mongodb" }
  }

  expect_failures = [var.roll]
}

run "roll_etcd_check_without_a_full_build" {
  command = plan

  variables {
    roll = { app = "etcd" }
  }

  expect_failures = [var.roll]
}

run "roll_unknown_on_failure" {
  command = plan

  variables {
    roll = { on_failure = "retry" }
  }

  expect_failures = [var.roll]
}

run "roll_app_port_out_of_range" {
  command = plan

  variables {
    roll = { app = "zookeeper", app_port = 70000 }
  }

  expect_failures = [var.roll]
}

run "roll_lock_wait_not_a_duration" {
  command = plan

  variables {
    roll = { lock_wait = "fifteen minutes" }
  }

  expect_failures = [var.roll]
}
