output "asg_names" {
  description = "Names of the nodes' Auto Scaling groups, in node-id order."
  value       = [for id in sort(keys(local.nodes)) : module.cluster_nodes[id].asg_name]
}

output "node_iam_role_name" {
  description = "Name of the nodes' IAM role, to attach more policies to."
  value       = aws_iam_role.node.name
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
