# Terraform renders node 00 of examples/etcd exactly as internal/userdata
# (the lab's renderer) does: the same golden files, from the same inputs.

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
  app_name      = "etcd"
  node_image    = "ami-0123456789abcdef0"
  instance_type = "t3.small"
  nodes = [
    { node_id = "00", node_ip = "10.0.0.10", node_subnet_id = "subnet-0aaaaaaaaaaaaaaaa" },
    { node_id = "01", node_ip = "10.0.1.10", node_subnet_id = "subnet-0bbbbbbbbbbbbbbbb" },
    { node_id = "02", node_ip = "10.0.2.10", node_subnet_id = "subnet-0cccccccccccccccc" },
  ]
  node_files = [for id in ["00", "01", "02"] : {
    node_id = id
    node_files_toupload = [{
      contents    = base64encode("ETCD_INITIAL_CLUSTER=n00=http://10.0.0.10:2380,n01=http://10.0.1.10:2380,n02=http://10.0.2.10:2380\nETCD_INITIAL_CLUSTER_TOKEN=etcd\nETCD_DATA_ROOT=/data\n")
      destination = "/etc/stateful/etcd-cluster.env"
    }]
  }]
  node_config_script   = filebase64("examples/etcd/node.sh")
  security_groups      = ["sg-0123456789abcdef0"]
  drain_on_termination = true
  data_volume = {
    file_system_type       = "ext4"
    mount_path             = "/data"
    mount_path_owner_user  = "root"
    mount_path_owner_group = "root"
    size_in_gibs           = 8
    type                   = "gp3"
    mount_params           = ["noatime"]
  }
}

run "agent_from_a_url" {
  command = plan

  variables {
    agent = { url = "https://releases.example.com/stateful/v1.0.0/stateful-linux-{arch}", sha256 = "abababababababababababababababababababababababababababababababab", version = "1.0.0" }
  }

  assert {
    condition     = local.user_data["00"] == file("internal/userdata/testdata/etcd-url.sh")
    error_message = "Terraform's rendering differs from internal/userdata/testdata/etcd-url.sh."
  }
}

run "agent_in_the_image" {
  command = plan

  variables {
    agent = { path = "/usr/local/bin/stateful" }
  }

  assert {
    condition     = local.user_data["00"] == file("internal/userdata/testdata/etcd-path.sh")
    error_message = "Terraform's rendering differs from internal/userdata/testdata/etcd-path.sh."
  }
}

run "agent_from_s3" {
  command = plan

  variables {
    agent = { s3_uri = "s3://artifacts-bucket/stateful/v1.0.0/stateful", sha256 = "abababababababababababababababababababababababababababababababab", expected_bucket_owner = "111122223333" }
  }

  assert {
    condition     = local.user_data["00"] == file("internal/userdata/testdata/etcd-s3.sh")
    error_message = "Terraform's rendering differs from internal/userdata/testdata/etcd-s3.sh."
  }
}
