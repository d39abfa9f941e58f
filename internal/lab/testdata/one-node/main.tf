# One node running a script that only says it ran: for the lab's tests of
# the agent's path (tampered release), not of an application.
module "one" {
  source = "../../../.."

  app_name           = "one"
  node_image         = "ami-0123456789abcdef0"
  instance_type      = "t3.micro"
  nodes              = [{ node_id = "00", node_ip = "10.0.1.10", node_subnet_id = "subnet-one" }]
  node_files         = []
  node_config_script = base64encode("configure_cluster_node() { echo configured; }\nwait_for_healthy_cluster() { :; }\n")
  security_groups    = ["sg-0123456789abcdef0"]
  default_data_volume = {
    file_system_type       = "ext4"
    mount_path             = "/data"
    mount_path_owner_user  = "root"
    mount_path_owner_group = "root"
    size_in_gibs           = 1
    type                   = "gp3"
    mount_params           = []
  }
}
