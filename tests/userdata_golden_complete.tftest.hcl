# Terraform renders node 00 of examples/complete exactly as internal/userdata
# does (the golden file internal/userdata/testdata/complete-release.sh).

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

run "complete_example_node_00" {
  command = plan

  variables {
    app_name      = "stateful-complete"
    node_image    = "ami-0123456789abcdef0"
    instance_type = "t3.medium"
    nodes = [for i in range(3) : {
      node_id        = format("%02d", i)
      node_ip        = "10.42.${i}.10"
      node_subnet_id = "subnet-0aaaaaaaaaaaaaaa${i}"
    }]
    node_files = [for i in range(3) : {
      node_id             = format("%02d", i)
      node_files_toupload = [{ contents = base64encode("node=${format("%02d", i)}\n"), destination = "/etc/app/node.conf" }]
    }]
    node_config_script = filebase64("examples/complete/node_config_script.sh")
    security_groups    = ["sg-0123456789abcdef0"]
    data_volume = {
      file_system_type       = "xfs"
      mount_path             = "/mydata"
      mount_path_owner_user  = "ec2-user"
      mount_path_owner_group = "ec2-user"
      size_in_gibs           = 16
      type                   = "gp3"
      mount_params           = ["noatime"]
    }
    kms_key_id = "arn:aws:kms:eu-west-1:123456789012:key/0b5f0a5c-1111-2222-3333-444455556666"
    tags       = { Environment = "example" }
  }

  assert {
    condition     = local.user_data["00"] == file("internal/userdata/testdata/complete-release.sh")
    error_message = "Terraform's rendering differs from internal/userdata/testdata/complete-release.sh."
  }
}
