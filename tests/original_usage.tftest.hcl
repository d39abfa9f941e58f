# The original module's README usage example, with its placeholders filled
# in, plans unchanged.

mock_provider "aws" {
  mock_data "aws_subnet" {
    defaults = {
      arn               = "arn:aws:ec2:us-east-1:123456789012:subnet/subnet-0123456789abcdef0"
      availability_zone = "us-east-1a"
    }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
}

run "original_usage_example" {
  command = plan

  variables {
    app_name      = "cluster-test-setup"
    node_image    = "ami-0123456789abcdef0"
    node_key_name = "my-keypair"
    nodes = [
      { node_ip = "10.0.1.10", node_id = "00", node_subnet_id = "subnet-0123456789abcdef0" },
      { node_ip = "10.0.1.11", node_id = "01", node_subnet_id = "subnet-0123456789abcdef0" },
      { node_ip = "10.0.1.12", node_id = "02", node_subnet_id = "subnet-0123456789abcdef0" },
    ]
    # As the original README wrote it: bare base64 strings.
    node_files = [
      { node_id = "00", node_files_toupload = [filebase64("tests/config_file.cfg")] },
      { node_id = "01", node_files_toupload = [filebase64("tests/config_file.cfg")] },
      { node_id = "02", node_files_toupload = [filebase64("tests/config_file.cfg")] },
    ]
    node_config_script = "IyEvYmluL2Jhc2gK"
    security_groups    = ["sg-0123456789abcdef0"]
    instance_type      = "t3.medium"
    data_volume = {
      file_system_type       = "xfs"
      mount_path             = "/mydata"
      mount_path_owner_user  = "ec2-user"
      mount_path_owner_group = "ec2-user"
      size_in_gibs           = 16
      type                   = "gp3"
      mount_params           = ["noatime"]
    }
  }

  assert {
    condition     = output.asg_names == ["cluster-test-setup-node-00", "cluster-test-setup-node-01", "cluster-test-setup-node-02"]
    error_message = "The original usage example plans three groups."
  }
  assert {
    condition     = length(output.node_id_to_node_userdata_script_map) == 3
    error_message = "The original's user-data map output is kept."
  }
  assert {
    condition     = jsonencode(local.agent_config["01"].files) == jsonencode([{ path = "/etc/stateful/node-files/0", content_base64 = filebase64("tests/config_file.cfg"), ssm_parameter = "", mode = "0600", owner = "root", group = "root" }])
    error_message = "A bare base64 node file lands in /etc/stateful/node-files/<index>."
  }
}
