# Plan-time tests of the root module with a mocked AWS provider.

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

run "three_nodes" {
  command = plan

  assert {
    condition     = length(module.cluster_nodes) == 3 && output.asg_names == ["kafka-node-00", "kafka-node-01", "kafka-node-02"]
    error_message = "One node module per node, groups named <app_name>-node-<node_id> (the original's names) in node-id order."
  }
  assert {
    condition     = output.cluster_tag == { key = "stateful:cluster", value = "kafka" }
    error_message = "The cluster tag output."
  }
  assert {
    condition     = output.nodes["01"].ip == "10.0.2.10" && output.nodes["01"].asg_name == "kafka-node-01"
    error_message = "The per-node output map."
  }
  assert {
    condition     = local.region == "eu-west-1" && local.account_id == "123456789012"
    error_message = "Region and account come from the subnet ARN and caller identity."
  }
  assert {
    condition     = local.tags == { Team = "streaming", "stateful:cluster" = "kafka" }
    error_message = "User tags merged with the cluster tag."
  }
}

run "per_node_overrides" {
  command = plan

  assert {
    condition     = local.data_volumes["01"].size_in_gibs == 64 && local.data_volumes["01"].type == "io2" && local.data_volumes["01"].iops == 4000 && local.data_volumes["01"].throughput_mib_per_sec == null
    error_message = "Node 01's data volume overrides apply."
  }
  assert {
    condition     = local.data_volumes["00"].size_in_gibs == 16 && local.data_volumes["00"].type == "gp3" && local.data_volumes["00"].iops == null
    error_message = "Other nodes keep the cluster-wide data volume."
  }
  assert {
    condition     = jsonencode(local.agent_config["01"].files) == jsonencode([{ path = "/etc/kafka/node.properties", content_base64 = "aWQ9MDEK", ssm_parameter = "", mode = "0600", owner = "root", group = "root" }]) && length(local.agent_config["02"].files) == 0
    error_message = "Node files go to their node only, with their modes."
  }
}

run "agent_config_and_user_data" {
  command = plan

  assert {
    condition = jsonencode(local.agent_config["00"].volume) == jsonencode({
      id    = "", device_hint = "/dev/sdf", mount_path = "/data", file_system = "xfs", mount_options = ["noatime"],
      owner = "kafka", group = "kafka", recursive_chown = false, noexec = false, offline_repair = false
    })
    error_message = "The agent's volume settings come from default_data_volume."
  }
  assert {
    condition     = local.agent_config["02"].asg_name == "kafka-node-02" && local.agent_config["02"].launch_hook == "kafka-node-asg-hook" && local.agent_config["02"].terminate_hook == ""
    error_message = "The agent knows its group and hooks."
  }
  assert {
    condition     = strcontains(local.user_data["00"], jsonencode(local.agent_config["00"])) && strcontains(local.user_data["00"], "exec \"$agent\" node bootstrap --config \"$config\"")
    error_message = "The user data writes the config and runs the agent."
  }
  assert {
    condition     = alltrue([for u in values(local.user_data) : length(u) < 16384])
    error_message = "User data stays under 16 KB."
  }
}

run "instance_policy" {
  command = plan

  assert {
    condition = [for s in jsondecode(module.cluster_nodes["01"].iam_policy).Statement : s.Sid] == [
      "Describe", "ThisNodesVolume", "ToAndFromTheCallingInstance", "ReportBootstrapFailure", "ThisNodesLifecycleHooks",
      "NoOtherParameters", "NoOtherParametersKeys",
    ]
    error_message = "Without S3 objects, secrets or a KMS key a node's policy has five Allow statements and the two Deny statements that keep every parameter from it."
  }
  assert {
    condition = jsondecode(module.cluster_nodes["01"].iam_policy).Statement[3].Action == ["ec2:CreateTags"] && jsondecode(module.cluster_nodes["01"].iam_policy).Statement[3].Condition == {
      StringEquals                = { "aws:ResourceTag/stateful:cluster" = "kafka", "aws:ResourceTag/stateful:node-id" = "01" }
      ArnEquals                   = { "ec2:SourceInstanceARN" = "arn:aws:ec2:eu-west-1:123456789012:instance/$${ec2:InstanceID}" }
      "ForAllValues:StringEquals" = { "aws:TagKeys" = ["stateful:bootstrap-failure", "stateful:bootstrap-failure-class", "stateful:ready"] }
    }
    error_message = "The agent may tag only its own instance, and only with its failure summary or its ready mark."
  }
  assert {
    condition     = alltrue(flatten([for id, m in module.cluster_nodes : [for s in jsondecode(m.iam_policy).Statement : s.Effect == "Deny" || s.Resource != "*" || alltrue([for a in s.Action : can(regex("^(ec2|autoscaling):Describe", a))])]]))
    error_message = "Only Describe calls are allowed unscoped."
  }
  assert {
    condition     = jsondecode(module.cluster_nodes["01"].iam_policy).Statement[1].Condition == { StringEquals = { "aws:ResourceTag/stateful:cluster" = "kafka", "aws:ResourceTag/stateful:node-id" = "01" } }
    error_message = "Node 01 may attach and detach only the volume tagged with its cluster and node id."
  }
  assert {
    condition     = startswith(jsondecode(module.cluster_nodes["01"].iam_policy).Statement[1].Resource, "arn:aws:ec2:eu-west-1:123456789012:volume/") && !endswith(jsondecode(module.cluster_nodes["01"].iam_policy).Statement[1].Resource, "*")
    error_message = "Node 01's volume statement names its own volume's ARN, not every volume."
  }
  assert {
    condition = jsondecode(module.cluster_nodes["01"].iam_policy).Statement[2].Condition == {
      StringEquals = { "aws:ResourceTag/stateful:cluster" = "kafka", "aws:ResourceTag/stateful:node-id" = "01" }
      ArnEquals    = { "ec2:SourceInstanceARN" = "arn:aws:ec2:eu-west-1:123456789012:instance/$${ec2:InstanceID}" }
    }
    error_message = "Node 01 attaches to and detaches from the calling instance only, one of its own."
  }
  assert {
    condition     = jsondecode(module.cluster_nodes["02"].iam_policy).Statement[4].Resource == "arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:*:autoScalingGroupName/kafka-node-02"
    error_message = "Node 02 completes and heartbeats only its own group's hooks."
  }
  assert {
    condition     = jsondecode(module.cluster_nodes["00"].ssm_policies.inline).Statement[0].Action == ["ssm:UpdateInstanceInformation", "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"] && module.cluster_nodes["00"].ssm_policies.managed == []
    error_message = "By default a node gets Session Manager's trimmed policy, not the AWS managed one."
  }
  assert {
    condition     = module.cluster_nodes["00"].launch_instance_profile == "kafka-node-00-eu-west-1" && output.node_iam_role_names == { "00" = "kafka-node-00-eu-west-1", "01" = "kafka-node-01-eu-west-1", "02" = "kafka-node-02-eu-west-1" }
    error_message = "Each node's launch template names its own instance profile."
  }
}

run "original_role_kept_when_it_exists" {
  command = plan

  override_data {
    target = data.aws_iam_roles.original
    values = { names = ["kafka-role"] }
  }

  assert {
    condition     = aws_iam_role.original[0].name == "kafka-role" && aws_iam_instance_profile.original[0].name == "kafka-instance-profile" && output.node_iam_role_name == "kafka-role"
    error_message = "The original's role and profile are kept for the upgrade by default, when the account has them."
  }
}

run "ssm_access_managed" {
  command = plan

  variables {
    ssm_access = "managed"
  }

  assert {
    condition     = module.cluster_nodes["00"].ssm_policies == { inline = null, managed = ["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"] }
    error_message = "ssm_access = managed attaches the AWS managed policy."
  }
}

run "ssm_access_none_and_no_original_role" {
  command = plan

  variables {
    ssm_access         = "none"
    keep_original_role = false
  }

  assert {
    condition     = module.cluster_nodes["00"].ssm_policies == { inline = null, managed = [] }
    error_message = "ssm_access = none grants nothing for SSM."
  }
  assert {
    condition     = length(aws_iam_role.original) == 0 && length(aws_iam_policy.original) == 0 && output.node_iam_role_name == null
    error_message = "keep_original_role = false drops the original's role."
  }
}

run "policy_with_s3_and_kms" {
  command = plan

  variables {
    node_config_script_s3_url = "s3://my-bucket/scripts/node.sh"
    node_config_script_s3     = { sha256 = "abababababababababababababababababababababababababababababababab", version_id = "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY" }
    agent                     = { s3_uri = "s3://my-bucket/bin/stateful", sha256 = "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd", version = "1.2.0" }
    kms_key_id                = "0b5f0a5c-1111-2222-3333-444455556666"
  }

  assert {
    condition = [for s in jsondecode(module.cluster_nodes["00"].iam_policy).Statement : s if startswith(s.Sid, "Read")] == [
      { Sid = "ReadNodeScriptAndAgent", Effect = "Allow", Action = ["s3:GetObject"], Resource = ["arn:aws:s3:::my-bucket/bin/stateful"] },
      { Sid = "ReadPinnedVersion0", Effect = "Allow", Action = ["s3:GetObjectVersion"], Resource = "arn:aws:s3:::my-bucket/scripts/node.sh", Condition = { StringEquals = { "s3:VersionId" = "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY" } } },
    ]
    error_message = "s3:GetObject only on the configured objects, and of a pinned object only its version."
  }
  assert {
    condition = [for s in jsondecode(module.cluster_nodes["00"].iam_policy).Statement : s if startswith(s.Sid, "VolumeKey")] == [
      {
        Sid       = "VolumeKeyGrantThroughEC2", Effect = "Allow", Action = ["kms:CreateGrant"], Resource = "arn:aws:kms:eu-west-1:123456789012:key/0b5f0a5c-1111-2222-3333-444455556666"
        Condition = { Bool = { "kms:GrantIsForAWSResource" = "true" }, StringEquals = { "kms:ViaService" = "ec2.eu-west-1.amazonaws.com" } }
      },
      {
        Sid       = "VolumeKeyThroughEC2", Effect = "Allow", Action = ["kms:Decrypt", "kms:DescribeKey"], Resource = "arn:aws:kms:eu-west-1:123456789012:key/0b5f0a5c-1111-2222-3333-444455556666"
        Condition = { StringEquals = { "kms:ViaService" = "ec2.eu-west-1.amazonaws.com" } }
      },
    ]
    error_message = "KMS as the EBS documentation gives it: the grant for AWS resources only, every use through EC2 only, on the key's ARN (a key ID is turned into it)."
  }
  assert {
    condition     = strcontains(local.user_data["00"], "s3_get 's3://my-bucket/bin/stateful' \"$tmp\" '123456789012' ''") && strcontains(local.user_data["00"], "sha256='cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd'") && local.agent_config["00"].script.s3_url == "s3://my-bucket/scripts/node.sh"
    error_message = "The agent comes from S3, from a bucket of this account, checked against its sha256, and the script is fetched from S3 first."
  }
  assert {
    condition     = local.agent_config["00"].script.s3_sha256 == "abababababababababababababababababababababababababababababababab" && local.agent_config["00"].script.s3_expected_bucket_owner == "123456789012" && local.agent_config["00"].script.s3_version_id == "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"
    error_message = "The S3 node script's sha256, expected owner (this account by default) and version reach the agent."
  }
}

run "roll_trigger" {
  command = plan

  variables {
    agent = { url = "https://example.com/stateful-{arch}", sha256 = "0000000000000000000000000000000000000000000000000000000000000000", version = "1.0.0" }
  }

  assert {
    condition     = length(terraform_data.roll) == 1 && keys(terraform_data.roll[0].triggers_replace.launch) == ["00", "01", "02"] && terraform_data.roll[0].triggers_replace.launch["00"] == module.cluster_nodes["00"].launch_sha256
    error_message = "The roll runs when what a node runs with changes (its launch hash), per node."
  }
  assert {
    condition     = strcontains(local.user_data["00"], "sha256='0000000000000000000000000000000000000000000000000000000000000000'")
    error_message = "A URL agent is checked against its sha256."
  }
}

run "roll_defaults_reach_the_flags" {
  command = plan

  assert {
    condition = { for k, v in local.roll_environment : k => v if k != "STATEFUL_ROLL_SCRIPT" } == {
      STATEFUL_CLUSTER         = "kafka"
      AWS_REGION               = "eu-west-1"
      STATEFUL_REGION          = "eu-west-1"
      STATEFUL_EXPECT_ACCOUNT  = "123456789012"
      STATEFUL_TIMEOUT         = "10m"
      STATEFUL_MAX_UNAVAILABLE = "1"
      STATEFUL_BY_ZONE         = "false"
      STATEFUL_CANARY          = "0"
      STATEFUL_VERIFY          = ""
      STATEFUL_SOAK            = "0s"
      STATEFUL_PRE_CHECK       = ""
      STATEFUL_PROFILE         = ""
      STATEFUL_ROLE_ARN        = ""
      STATEFUL_APP             = ""
      STATEFUL_ON_FAILURE      = "stop"
      STATEFUL_LOCK_WAIT       = "15m"
    }
    error_message = "By default the roll acts on the whole cluster (its tag), in the module's region and account only, one node at a time, with no canary, with the runner's credentials."
  }
  assert {
    condition     = strcontains(local.roll_environment.STATEFUL_ROLL_SCRIPT, "\"$bin\" \"$@\"")
    error_message = "The script travels in the environment."
  }
}

run "roll_budget_checks_and_credentials_reach_the_flags" {
  command = plan

  variables {
    roll = {
      max_unavailable = "zone", by_zone = true, canary = 1, verify = "curl -fsS http://$STATEFUL_NODE_IP:2379/health", soak = "10m",
      pre_check       = "etcdctl endpoint health", role_arn = "arn:aws:iam::123456789012:role/deploy"
    }
  }

  assert {
    condition = [for k in ["STATEFUL_MAX_UNAVAILABLE", "STATEFUL_BY_ZONE", "STATEFUL_CANARY", "STATEFUL_VERIFY", "STATEFUL_SOAK", "STATEFUL_PRE_CHECK", "STATEFUL_ROLE_ARN", "STATEFUL_PROFILE"] : local.roll_environment[k]] == [
      "zone", "true", "1", "curl -fsS http://$STATEFUL_NODE_IP:2379/health", "10m", "etcdctl endpoint health", "arn:aws:iam::123456789012:role/deploy", "",
    ]
    error_message = "The roll's budget, pre-check, canary and role reach stateful roll as STATEFUL_<FLAG> variables."
  }
}

run "roll_app_checks_and_rollback_reach_the_flags" {
  command = plan

  variables {
    roll = { app = "zookeeper", app_port = 2182, skip_checks = ["zookeeper-follower"], on_failure = "rollback", lock_wait = "0s" }
  }

  assert {
    condition = [for k in ["STATEFUL_APP", "STATEFUL_APP_PORT", "STATEFUL_SKIP_CHECK", "STATEFUL_ON_FAILURE", "STATEFUL_LOCK_WAIT"] : local.roll_environment[k]] == [
      "zookeeper", "2182", "zookeeper-follower", "rollback", "0s",
    ]
    error_message = "The built-in check, its port and skipped checks, the rollback and the lock wait reach stateful roll as STATEFUL_<FLAG> variables."
  }
}

run "roll_profile_and_numeric_budget" {
  command = plan

  variables {
    roll = { max_unavailable = 3, profile = "prod-deploy" }
  }

  assert {
    condition     = local.roll_environment.STATEFUL_MAX_UNAVAILABLE == "3" && local.roll_environment.STATEFUL_PROFILE == "prod-deploy" && local.roll_environment.STATEFUL_ROLE_ARN == ""
    error_message = "A number is accepted for max_unavailable; the profile reaches the roll."
  }
}

run "roll_disabled" {
  command = plan

  variables {
    roll = { enabled = false }
  }

  assert {
    condition     = length(terraform_data.roll) == 0
    error_message = "roll.enabled = false removes the trigger."
  }
}

run "secret_files_from_ssm" {
  command = plan

  variables {
    node_secret_files = [
      { node_id = "00", parameter = "/kafka/00/tls.key", destination = "/etc/kafka/tls.key", owner = "kafka", group = "kafka" },
      { node_id = "01", parameter = "arn:aws:ssm:eu-west-1:123456789012:parameter/kafka/01/tls.key", destination = "/etc/kafka/tls.key", mode = "0640" },
    ]
    secret_files_kms_key_id = "0b5f0a5c-1111-2222-3333-444455556666"
  }

  assert {
    condition = nonsensitive(local.agent_config["00"].files[1]) == {
      path = "/etc/kafka/tls.key", content_base64 = "", ssm_parameter = "/kafka/00/tls.key", mode = "0600", owner = "kafka", group = "kafka"
    }
    error_message = "A secret file reaches the agent as its parameter's name only, 0600 by default, with its owner and group."
  }
  assert {
    condition     = nonsensitive(local.agent_config["00"].files[0].mode) == "0600" && nonsensitive(local.agent_config["00"].files[0].owner) == "root"
    error_message = "Inline node files default to 0600 root:root."
  }
  assert {
    condition = [for s in jsondecode(module.cluster_nodes["00"].iam_policy).Statement : s if s.Sid == "ThisNodesSecretFiles"] == [
      { Sid = "ThisNodesSecretFiles", Effect = "Allow", Action = ["ssm:GetParameter"], Resource = ["arn:aws:ssm:eu-west-1:123456789012:parameter/kafka/00/tls.key"] }
    ]
    error_message = "Node 00 may read only its own parameter."
  }
  assert {
    condition     = [for s in jsondecode(module.cluster_nodes["01"].iam_policy).Statement : s.Resource if s.Sid == "ThisNodesSecretFiles"] == [["arn:aws:ssm:eu-west-1:123456789012:parameter/kafka/01/tls.key"]] && length([for s in jsondecode(module.cluster_nodes["02"].iam_policy).Statement : s if startswith(s.Sid, "ThisNodesSecret") || startswith(s.Sid, "SecretFiles")]) == 0
    error_message = "Node 01 reads only its parameter (named by ARN); node 02, with none, may read none."
  }
  assert {
    condition     = [for s in jsondecode(module.cluster_nodes["01"].iam_policy).Statement : s.Condition if s.Sid == "SecretFilesKeyThroughSSM"] == [{ StringEquals = { "kms:ViaService" = "ssm.eu-west-1.amazonaws.com", "kms:EncryptionContext:PARAMETER_ARN" = ["arn:aws:ssm:eu-west-1:123456789012:parameter/kafka/01/tls.key"] } }]
    error_message = "The parameters' key decrypts only through SSM, and only the node's own parameters (their encryption context)."
  }
  assert {
    condition = [for s in jsondecode(module.cluster_nodes["01"].iam_policy).Statement : s if s.Effect == "Deny"] == [
      { Sid = "NoOtherParameters", Effect = "Deny", Action = ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath", "ssm:GetParameterHistory"], NotResource = ["arn:aws:ssm:eu-west-1:123456789012:parameter/kafka/01/tls.key"] },
      { Sid = "NoOtherParametersKeys", Effect = "Deny", Action = ["kms:Decrypt"], Resource = "*", Condition = { Null = { "kms:EncryptionContext:PARAMETER_ARN" = "false" }, StringNotEquals = { "kms:EncryptionContext:PARAMETER_ARN" = ["arn:aws:ssm:eu-west-1:123456789012:parameter/kafka/01/tls.key"] } } },
    ]
    error_message = "Whatever else the role holds, node 01 reads and decrypts no parameter but its own."
  }
  assert {
    condition     = !strcontains(nonsensitive(local.user_data["00"]), "BEGIN PRIVATE KEY")
    error_message = "No secret in user data."
  }
}

run "node_removal_drains_only_with_the_hook" {
  command = plan

  assert {
    condition     = keys(terraform_data.node_removal) == ["00", "01", "02"] && !terraform_data.node_removal["00"].input.drain
    error_message = "Every node has its removal guard; without drain_on_termination it drains nothing."
  }
}

run "node_removal_with_drain" {
  command = plan

  variables {
    drain_on_termination = true
    roll                 = { role_arn = "arn:aws:iam::123456789012:role/deploy" }
  }

  assert {
    condition = terraform_data.node_removal["01"].input.drain && { for k, v in terraform_data.node_removal["01"].input.environment : k => v if k != "STATEFUL_ROLL_SCRIPT" } == {
      STATEFUL_ASG            = "kafka-node-01"
      STATEFUL_CLUSTER        = ""
      STATEFUL_TIMEOUT        = "15m"
      AWS_REGION              = "eu-west-1"
      STATEFUL_REGION         = "eu-west-1"
      STATEFUL_EXPECT_ACCOUNT = "123456789012"
      STATEFUL_PROFILE        = ""
      STATEFUL_ROLE_ARN       = "arn:aws:iam::123456789012:role/deploy"
    }
    error_message = "A removed node's drain runs stateful remove-node on its own group only, in the module's region and account, with the roll's credentials."
  }
}
