# The agent input: by default the release this module pins (release.tf) for
# the nodes and the roll trigger; every other source; and every validation
# that keeps a URL or path from breaking the scripts' quoting.

mock_provider "aws" {
  mock_data "aws_subnet" {
    defaults = {
      arn               = "arn:aws:ec2:eu-west-1:123456789012:subnet/subnet-0aaaaaaaaaaaaaaaa"
      availability_zone = "eu-west-1a"
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
    { node_id = "01", node_ip = "10.0.2.10", node_subnet_id = "subnet-0bbbbbbbbbbbbbbbb", node_image = "ami-0fedcba9876543210", data_volume = { size_in_gibs = 64, type = "io2", iops = 4000 } },
    { node_id = "02", node_ip = "10.0.3.10", node_subnet_id = "subnet-0cccccccccccccccc" },
  ]
  node_files = [
    { node_id = "00", node_files_toupload = [{ contents = "aWQ9MDAK", destination = "/etc/kafka/node.properties" }] },
    { node_id = "01", node_files_toupload = [{ contents = "aWQ9MDEK", destination = "/etc/kafka/node.properties", mode = "0600" }] },
  ]
  node_config_script = "IyEvYmluL2Jhc2gKY29uZmlndXJlX2NsdXN0ZXJfbm9kZSgpIHsgOjsgfQp3YWl0X2Zvcl9oZWFsdGh5X2NsdXN0ZXIoKSB7IDo7IH0K"
  security_groups    = ["sg-0123456789abcdef0"]
  data_volume = {
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

run "default_agent_is_the_pinned_release" {
  command = plan

  assert {
    condition     = strcontains(local.user_data["00"], "url='https://github.com/stateful-aws/stateful/releases/download/v${local.release.version}/stateful-linux-{arch}'")
    error_message = "With no agent input, nodes download the pinned release from GitHub's release layout."
  }
  assert {
    condition     = strcontains(local.user_data["00"], "arch=amd64 sha256='${local.release.sha256["linux-amd64"]}'") && strcontains(local.user_data["00"], "arch=arm64 sha256='${local.release.sha256["linux-arm64"]}'")
    error_message = "Each architecture's binary is checked against its own pinned sha256."
  }
  assert {
    condition     = strcontains(local.roll_script, "version='${local.release.version}'") && strcontains(local.roll_script, "url='https://github.com/stateful-aws/stateful/releases/download'\"/v$version/stateful-$os-$arch\"")
    error_message = "The roll trigger runs the pinned release, downloaded from the same place."
  }
  assert {
    condition     = alltrue([for t in ["linux-amd64", "linux-arm64", "darwin-amd64", "darwin-arm64"] : strcontains(local.roll_script, "${t}) want='${local.release.sha256[t]}' ;;")])
    error_message = "The roll trigger knows the pinned sha256 of every runner platform."
  }
}

run "mirror" {
  command = plan

  variables {
    agent = { base_url = "https://artifacts.example.com/stateful/" }
  }

  assert {
    condition     = strcontains(local.user_data["00"], "url='https://artifacts.example.com/stateful/v${local.release.version}/stateful-linux-{arch}'") && strcontains(local.roll_script, "url='https://artifacts.example.com/stateful'\"/v$version")
    error_message = "agent.base_url (a trailing slash dropped) is where nodes and the roll trigger download the release."
  }
}

run "path_in_the_image_and_a_version_label" {
  command = plan

  variables {
    agent = { path = "/opt/stateful/bin/stateful", version = "2024.06-1" }
  }

  assert {
    condition     = strcontains(local.user_data["00"], "agent='/opt/stateful/bin/stateful'") && !strcontains(local.user_data["00"], "curl -fsSL")
    error_message = "An agent path in the image is used as it is."
  }
  assert {
    condition     = strcontains(local.user_data["00"], "# agent.version 2024.06-1:")
    error_message = "The version label is in the user data, so changing it changes the launch templates and rolls the nodes."
  }
}

run "own_roll_command" {
  command = plan

  variables {
    roll = { command = "my-roller --cluster \"$STATEFUL_CLUSTER\"" }
  }

  assert {
    condition     = !contains(keys(local.roll_environment), "STATEFUL_ROLL_SCRIPT") && local.roll_environment.STATEFUL_CLUSTER == "kafka"
    error_message = "roll.command replaces the trigger's command (and the default script leaves the environment)."
  }
}

run "base_url_with_another_source" {
  command = plan

  variables {
    agent = { base_url = "https://artifacts.example.com/stateful", path = "/usr/local/bin/stateful" }
  }

  expect_failures = [var.agent]
}

run "base_url_with_a_quote" {
  command = plan

  variables {
    agent = { base_url = "https://example.com/x'; rm -rf / #" }
  }

  expect_failures = [var.agent]
}

run "base_url_not_http" {
  command = plan

  variables {
    agent = { base_url = "s3://bucket/stateful" }
  }

  expect_failures = [var.agent]
}

run "url_with_a_quote" {
  command = plan

  variables {
    agent = { url = "https://example.com/stateful'$(id)'", sha256 = "abababababababababababababababababababababababababababababababab" }
  }

  expect_failures = [var.agent]
}

run "url_with_a_space" {
  command = plan

  variables {
    agent = { url = "https://example.com/state ful", sha256 = "abababababababababababababababababababababababababababababababab" }
  }

  expect_failures = [var.agent]
}

run "sha256_without_url" {
  command = plan

  variables {
    agent = { sha256 = "abababababababababababababababababababababababababababababababab" }
  }

  expect_failures = [var.agent]
}

run "uppercase_sha256" {
  command = plan

  variables {
    agent = { url = "https://example.com/stateful", sha256 = "ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB" }
  }

  expect_failures = [var.agent]
}

run "path_with_a_quote" {
  command = plan

  variables {
    agent = { path = "/usr/local/bin/it's" }
  }

  expect_failures = [var.agent]
}

run "relative_path" {
  command = plan

  variables {
    agent = { path = "bin/stateful" }
  }

  expect_failures = [var.agent]
}

run "s3_key_with_a_quote" {
  command = plan

  variables {
    agent = { s3_uri = "s3://my-bucket/bin/state'ful" }
  }

  expect_failures = [var.agent]
}

run "version_label_with_a_newline" {
  command = plan

  variables {
    agent = { path = "/usr/local/bin/stateful", version = "1.0\nrm -rf /" }
  }

  expect_failures = [var.agent]
}
