output "endpoints" {
  description = "etcd client URLs of the nodes."
  value       = [for n in local.nodes : "http://${n.node_ip}:2379"]
}

output "asg_names" {
  description = "The nodes' Auto Scaling groups."
  value       = module.etcd.asg_names
}
