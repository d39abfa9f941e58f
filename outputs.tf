output "asg_names" {
  description = "Names of the nodes' Auto Scaling groups, in node-id order."
  value       = [for id in sort(keys(local.nodes)) : module.cluster_nodes[id].asg_name]
}

output "node_iam_role_name" {
  description = "Name of the original module's shared role (`<app_name>-role`), kept for an upgrade (`keep_original_role`), or null. Nodes no longer run with it: attach more policies to each node's role (`node_iam_role_names`)."
  value       = one(aws_iam_role.original[*].name)
}

output "node_iam_role_names" {
  description = "Per node id, the name of the node's own IAM role (its instance profile has the same name): attach more policies to these."
  value       = { for id, m in module.cluster_nodes : id => m.iam_role_name }
}

output "node_id_to_node_userdata_script_map" {
  description = "Each node's rendered user data. Sensitive: it carries the node files, which may hold secrets."
  value       = local.user_data
  sensitive   = true

  precondition {
    condition     = length(setsubtract(keys(local.node_files), keys(local.nodes))) == 0
    error_message = "The node_files name a node_id that is not in nodes: every node_files entry must belong to one of the cluster's nodes."
  }
}

output "nodes" {
  description = "Per node id: `ip`, `eni_id`, `volume_id`, `asg_name`, `launch_template_id` and `launch_template_version`."
  value = { for id, m in module.cluster_nodes : id => {
    ip                      = local.nodes[id].node_ip
    eni_id                  = m.eni_id
    volume_id               = m.volume_id
    asg_name                = m.asg_name
    launch_template_id      = m.launch_template_id
    launch_template_version = m.launch_template_version
  } }
}

output "cluster_tag" {
  description = "The tag every resource of the cluster carries, as `key` and `value`: `stateful status --cluster VALUE` finds the cluster by it."
  value       = { key = local.cluster_tag_key, value = var.app_name }
}
