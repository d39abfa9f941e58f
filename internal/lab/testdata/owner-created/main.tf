# One node whose data volume belongs to a user its node script creates (a
# stock image has no "kafka" user until the script installs Kafka): the
# agent applies the owner after configure_cluster_node, and the health wait
# checks it did.
module "one" {
  source = "../../../.."

  app_name           = "owned"
  node_image         = "ami-0123456789abcdef0"
  instance_type      = "t3.micro"
  nodes              = [{ node_id = "00", node_ip = "10.0.1.10", node_subnet_id = "subnet-one" }]
  node_files         = []
  node_config_script = base64encode("configure_cluster_node() { id stlabapp >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin stlabapp; }\nwait_for_healthy_cluster() { [ \"$(stat -c %U:%G /data)\" = stlabapp:stlabapp ]; }\n")
  security_groups    = ["sg-0123456789abcdef0"]
  default_data_volume = {
    file_system_type       = "ext4"
    mount_path             = "/data"
    mount_path_owner_user  = "stlabapp"
    mount_path_owner_group = "stlabapp"
    size_in_gibs           = 1
    type                   = "gp3"
    mount_params           = []
  }
}
