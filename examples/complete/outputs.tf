output "asg_names" {
  description = "The nodes' Auto Scaling groups."
  value       = module.cluster.asg_names
}

output "nodes" {
  description = "Per node: IP, ENI, volume, group and launch template."
  value       = module.cluster.nodes
}

output "cluster_tag" {
  description = "The tag stateful commands find the cluster by."
  value       = module.cluster.cluster_tag
}
