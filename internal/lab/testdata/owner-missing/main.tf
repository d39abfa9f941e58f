# One node whose data volume belongs to a user nothing creates: a
# configuration error the agent holds (no relaunch loop) and the lab says
# as it happens.
module "one" {
  source = "../../../.."

  app_name           = "unowned"
  node_image         = "ami-0123456789abcdef0"
  instance_type      = "t3.micro"
  nodes              = [{ node_id = "00", node_ip = "10.0.1.10", node_subnet_id = "subnet-one" }]
  node_files         = []
  node_config_script = base64encode("configure_cluster_node() { echo configured; }\nwait_for_healthy_cluster() { [ \"$(stat -c %U:%G /data)\" = stlabnone:stlabnone ]; }\n")
  security_groups    = ["sg-0123456789abcdef0"]
  default_data_volume = {
    file_system_type       = "ext4"
    mount_path             = "/data"
    mount_path_owner_user  = "stlabnone"
    mount_path_owner_group = "stlabnone"
    size_in_gibs           = 1
    type                   = "gp3"
    mount_params           = []
  }
}
